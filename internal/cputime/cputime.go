// Package cputime tells the CPU time the process has used. On a machine
// shared with other work an operation's CPU time moves much less than the
// time it takes, so the benchmarks report CPU per operation with it.
package cputime
