//go:build !race

package trail_test

const raceEnabled = false
