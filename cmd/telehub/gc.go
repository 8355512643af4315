package main

import (
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// gcPercent is the garbage collector's target (GOGC) unless the environment
// sets one. A write allocates a great deal that dies with it (the parsed
// resource, its index entries, the SQL arguments): collecting when the
// heap has grown by twice the live data rather than once saved about 6% of
// the CPU per resource of transaction Bundles (`telehub bench --phases
// transaction`), for about 100 MB more peak memory.
const gcPercent = 200

// memoryLimitShare is the part of the container's memory limit the heap is
// held to unless GOMEMLIMIT is set: near it the collector runs more often
// instead of letting gcPercent grow the heap past what the container has.
const memoryLimitShare = 0.75

// cgroupMemoryMax is where a cgroup v2 container's memory limit is read.
const cgroupMemoryMax = "/sys/fs/cgroup/memory.max"

// tuneGC applies gcPercent and the memory limit, each unless the
// environment sets its own (GOGC, GOMEMLIMIT).
func tuneGC(env func(string) string) {
	if env("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if env("GOMEMLIMIT") != "" {
		return
	}
	raw, err := os.ReadFile(cgroupMemoryMax)
	if err != nil {
		return // not in a cgroup v2 container: no limit to stay under
	}
	if limit, ok := parseMemoryMax(string(raw)); ok {
		debug.SetMemoryLimit(int64(float64(limit) * memoryLimitShare))
	}
}

// parseMemoryMax reads the content of memory.max: a number of bytes, or
// "max" (no limit), which reports false.
func parseMemoryMax(s string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	return n, err == nil && n > 0
}
