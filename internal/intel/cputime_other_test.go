//go:build !linux

package intel

import "time"

func threadCPU() time.Duration { return 0 }
