package main

import "testing"

func TestParseMemoryMax(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"2147483648\n", 2147483648, true},
		{"max\n", 0, false},
		{"", 0, false},
		{"0\n", 0, false},
	} {
		got, ok := parseMemoryMax(tc.in)
		if got != tc.want && ok || ok != tc.ok {
			t.Errorf("parseMemoryMax(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
