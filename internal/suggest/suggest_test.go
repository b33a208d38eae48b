package suggest

import "testing"

func TestDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"", "", 0}, {"", "abc", 3}, {"abc", "", 3}, {"srcadr", "srcaddr", 1},
		{"kitten", "sitting", 3}, {"dstport", "srcport", 3}, {"same", "same", 0},
	} {
		if got := Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestNearest(t *testing.T) {
	known := []string{"srcaddr", "dstaddr", "srcport"}
	if got, d := Nearest("srcadr", known); got != "srcaddr" || d != 1 {
		t.Errorf("Nearest = %q, %d", got, d)
	}
	// A tie goes to the first candidate.
	if got, _ := Nearest("xxxaddr", known); got != "srcaddr" {
		t.Errorf("tie: %q", got)
	}
	if got, d := Nearest("x", nil); got != "" || d != -1 {
		t.Errorf("no candidates: %q, %d", got, d)
	}
}
