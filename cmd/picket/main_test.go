package main

import (
	"os"
	"testing"
)

// TestMain turns AWS's ip ranges off for every test of the command, and
// for the picket serve processes they start, which inherit the
// environment: no test reaches AWS, and the user's cache directory is
// neither read nor written. Tests of the ranges name a file, or a test
// server and a temporary directory, on the command line.
func TestMain(m *testing.M) {
	os.Setenv(envAWSIPRanges, "off")
	os.Exit(m.Run())
}
