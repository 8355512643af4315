package browser

import "github.com/telehub/telehub/signaling"

type signalingOptions = signaling.Options
