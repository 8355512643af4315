package signaling_test

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/telehub/telehub/authz"
	"github.com/telehub/telehub/signaling"
)

type (
	signalingOptions = signaling.Options
	turnOptions      = signaling.TURNOptions
)

var turnCredential = signaling.TURNCredential

// fmtSscanf splits a TURN REST username "<expiry>:<user>".
func fmtSscanf(username string, expiry *int64, user *string) (int, error) {
	exp, who, ok := strings.Cut(username, ":")
	if !ok {
		return 0, fmt.Errorf("no ':' in %q", username)
	}
	n, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return 0, err
	}
	*expiry, *user = n, who
	return 2, nil
}

type authenticator = authz.Authenticator

var newRelay = signaling.New
