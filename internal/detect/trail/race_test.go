//go:build race

package trail_test

// raceEnabled is true when the race detector is on: it makes allocation
// counts and benchmarks meaningless.
const raceEnabled = true
