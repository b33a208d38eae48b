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
