// Package clock is NoWallClock's test input: every way a use of the wall
// clock is written, justified or not.
package clock

import (
	stdtime "time"
)

// Plain uses: reported.
func plain() {
	_ = stdtime.Now()
	stdtime.Sleep(stdtime.Second)
	_ = stdtime.Since(stdtime.Time{})
}

// A method value: reported.
var now = stdtime.Now

// Justified uses: not reported.
func justified() {
	//picket:wallclock the refresh of a list is paced by the wall clock
	_ = stdtime.NewTicker(stdtime.Minute)
	_ = stdtime.After(stdtime.Second) //picket:wallclock a timeout, not an event time
}

// A directive without a reason justifies nothing: reported.
func unjustified() {
	//picket:wallclock
	_ = stdtime.Until(stdtime.Time{})
}

// Event time arithmetic: not reported.
func arithmetic(t stdtime.Time) stdtime.Time { return t.Add(stdtime.Hour).UTC() }
