package sqlite_test

import (
	"testing"

	"github.com/telehub/telehub/store"
	"github.com/telehub/telehub/store/storetest"
)

func TestRecords(t *testing.T) {
	storetest.RunRecords(t, func(t *testing.T) store.Store { return open(t) })
}
