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
	p0            float64 // a benign host's chance that a first contact fails: 1 - Theta0
	pf            float64
}

// New returns a test for p. Parameters must satisfy 0 < Theta1 < Theta0 < 1
// and 0 < PF < PD < 1.
func New(p Params) Test {
	return Test{
		fail:    math.Log((1 - p.Theta1) / (1 - p.Theta0)),
		success: math.Log(p.Theta1 / p.Theta0),
		upper:   math.Log(p.PD / p.PF),
		lower:   math.Log((1 - p.PD) / (1 - p.PF)),
		p0:      1 - p.Theta0,
		pf:      p.PF,
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

// Significant reports whether failures out of failures+successes first
// contacts are more than a benign host would plausibly have: under the
// walk's own null hypothesis each first contact of a benign host fails
// with probability 1 - Theta0, independently, so the count of failures is
// binomial, and the test asks that the chance of at least this many be at
// most PF. The walk decides as contacts arrive and never revisits a
// verdict; this test judges the whole record of one target or one port,
// so that a host whose contacts mostly succeed is not reported for a run
// of early failures, while a sweep of a range where half the hosts serve
// the port still is.
//
// The tail is summed exactly up to 512 contacts and bounded above that by
// the Chernoff bound exp(-n·KL(k/n ‖ p0)), which is within a few contacts
// of the exact threshold at that size.
func (t Test) Significant(failures, successes uint32) bool {
	n, k := int(failures)+int(successes), int(failures)
	if n == 0 || t.p0 <= 0 || t.p0 >= 1 {
		return false
	}
	if float64(k) <= t.p0*float64(n) {
		return false
	}
	if n > 512 {
		q := float64(k) / float64(n)
		kl := q * math.Log(q/t.p0)
		if q < 1 {
			kl += (1 - q) * math.Log((1-q)/(1-t.p0))
		}
		return float64(n)*kl >= math.Log(1/t.pf)
	}
	return binomialTail(n, k, t.p0) <= t.pf
}

// binomialTail returns P[X >= k] for X ~ Binomial(n, p), summed in log
// space.
func binomialTail(n, k int, p float64) float64 {
	lp, lq := math.Log(p), math.Log1p(-p)
	ln, _ := math.Lgamma(float64(n + 1))
	var sum float64
	for i := k; i <= n; i++ {
		li, _ := math.Lgamma(float64(i + 1))
		lr, _ := math.Lgamma(float64(n - i + 1))
		sum += math.Exp(ln - li - lr + float64(i)*lp + float64(n-i)*lq)
	}
	return sum
}
