package trw

import "testing"

func TestFourFailuresDecide(t *testing.T) {
	test := New(DefaultParams)
	if n := test.FailuresToDecide(); n != 4 {
		t.Fatalf("FailuresToDecide = %d, want 4 (Jung et al.)", n)
	}
	var s State
	for i := 1; i <= 3; i++ {
		if v := test.Observe(&s, false); v != Pending {
			t.Fatalf("after %d failures: %v, want pending", i, v)
		}
	}
	if v := test.Observe(&s, false); v != Scanner {
		t.Fatalf("after 4 failures: %v, want scanner", v)
	}
}

func TestSuccessesKeepAHostBenign(t *testing.T) {
	test := New(DefaultParams)
	var s State
	// A client whose first contacts mostly succeed, with the odd failure.
	outcomes := []bool{true, true, false, true, true, true, false, true, true, true, true, true}
	sawBenign := false
	for _, ok := range outcomes {
		switch test.Observe(&s, ok) {
		case Scanner:
			t.Fatal("a mostly successful host was called a scanner")
		case Benign:
			sawBenign = true
		}
	}
	if !sawBenign {
		t.Error("the walk never reached the benign bound")
	}
}

func TestBenignRestartsTheWalk(t *testing.T) {
	test := New(DefaultParams)
	var s State
	for i := 0; i < 4; i++ {
		test.Observe(&s, true)
	}
	if s.LLR != 0 {
		// 4 successes: ln(0.25^4) < ln(0.0101): benign, walk restarted.
		t.Fatalf("LLR = %v after a benign verdict, want 0", s.LLR)
	}
	// The same host then scans: four failures still decide.
	var v Verdict
	for i := 0; i < 4; i++ {
		v = test.Observe(&s, false)
	}
	if v != Scanner {
		t.Errorf("a host that turned to scanning: %v, want scanner", v)
	}
}

func TestSignificant(t *testing.T) {
	tr := New(DefaultParams)
	tests := []struct {
		failures, successes uint32
		want                bool
	}{
		{0, 0, false},
		{4, 0, true},    // 0.2^4 = 0.0016
		{2, 0, false},   // 0.04
		{10, 10, true},  // half of 20 failing: P = 0.0026
		{10, 20, false}, // a third of 30: P = 0.061, a monitor with some targets down
		{8, 12, false},  // P = 0.032
		{300, 700, true},
		{210, 790, false}, // 21% of 1000: what a benign host does
		{260, 740, true},
	}
	for _, tt := range tests {
		if got := tr.Significant(tt.failures, tt.successes); got != tt.want {
			t.Errorf("Significant(%d, %d) = %t, want %t", tt.failures, tt.successes, got, tt.want)
		}
	}
	// The exact tail and the bound agree on either side of the switch.
	if binomialTail(20, 10, 0.2) > 0.003 || binomialTail(20, 10, 0.2) < 0.002 {
		t.Errorf("tail(20, 10) = %g", binomialTail(20, 10, 0.2))
	}
}
