// Package trw owns the Threshold Random Walk: the sequential hypothesis
// test of Jung, Paxson, Berger and Balakrishnan ("Fast Portscan Detection
// Using Sequential Hypothesis Testing", IEEE S&P 2004) that decides whether
// a remote host is a scanner from the outcomes of its first contacts.
//
// Each first contact with a new (host, port) either succeeds or fails. A
// benign host's contacts succeed with probability Theta0, a scanner's with
// the much lower Theta1. The test multiplies the likelihood ratio of the
// two hypotheses by Theta1/Theta0 on a success and (1-Theta1)/(1-Theta0)
// on a failure, and decides "scanner" when the ratio reaches PD/PF and
// "benign" when it falls to (1-PD)/(1-PF). With the paper's values
// (0.8, 0.2, 0.99, 0.01) four failures in a row decide, however slowly
// they arrive: the test counts outcomes, not rates, so slow scans are
// caught as surely as fast ones.
package trw

import "math"

// Params are the test's parameters.
type Params struct {
	Theta0 float64 // P(success) for a benign host
	Theta1 float64 // P(success) for a scanner
	PD     float64 // desired detection probability
	PF     float64 // tolerated false-positive probability
}

// DefaultParams are the values of the paper.
var DefaultParams = Params{Theta0: 0.8, Theta1: 0.2, PD: 0.99, PF: 0.01}

// Verdict is the state of the test for one host.
type Verdict int8

// The verdicts.
const (
	Pending Verdict = iota
	Scanner
	Benign
)

func (v Verdict) String() string {
	switch v {
	case Scanner:
		return "scanner"
	case Benign:
		return "benign"
	}
	return "pending"
}

// Test holds the precomputed steps and bounds, in natural logarithms.
type Test struct {
	fail, success float64
	upper, lower  float64
}

// New returns a test for p. Parameters must satisfy 0 < Theta1 < Theta0 < 1
// and 0 < PF < PD < 1.
func New(p Params) Test {
	return Test{
		fail:    math.Log((1 - p.Theta1) / (1 - p.Theta0)),
		success: math.Log(p.Theta1 / p.Theta0),
		upper:   math.Log(p.PD / p.PF),
		lower:   math.Log((1 - p.PD) / (1 - p.PF)),
	}
}

// State is one host's walk: its log likelihood ratio and counts.
type State struct {
	LLR       float64
	Failures  uint32
	Successes uint32
}

// Observe adds the outcome of a first contact and returns the verdict. On
// a Benign verdict the walk restarts from zero, so that a host that later
// turns to scanning is still caught.
func (t Test) Observe(s *State, success bool) Verdict {
	if success {
		s.Successes++
		s.LLR += t.success
	} else {
		s.Failures++
		s.LLR += t.fail
	}
	switch {
	case s.LLR >= t.upper:
		return Scanner
	case s.LLR <= t.lower:
		s.LLR = 0
		return Benign
	}
	return Pending
}

// FailuresToDecide returns how many failures in a row reach the scanner
// verdict from a fresh start.
func (t Test) FailuresToDecide() int {
	return int(math.Ceil(t.upper / t.fail))
}

// Upper returns the decision bound for Scanner, as a log likelihood ratio.
func (t Test) Upper() float64 { return t.upper }
