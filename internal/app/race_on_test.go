//go:build race

package app

// raceEnabled says the race detector is on: tests of the whole service
// then read less data, since everything runs several times slower.
const raceEnabled = true
