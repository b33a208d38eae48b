package detect

import "testing"

// TestDomainSuffixes checks that a suffix matches its name and the
// names below it, and nothing that merely ends with its letters.
func TestDomainSuffixes(t *testing.T) {
	s := NewDomainSuffixes([]string{"In-Addr.Arpa.", "", ".example.com"})
	for name, want := range map[string]bool{
		"in-addr.arpa": true, "4.3.2.1.in-addr.arpa": true, "example.com": true, "a.b.example.com": true,
		"notexample.com": false, "arpa": false, "example.org": false,
	} {
		if got := s.Match([]byte(name)); got != want {
			t.Errorf("Match(%q) = %v, want %v", name, got, want)
		}
	}
	if len(s) != 2 {
		t.Errorf("%d suffixes, want 2 (the empty name left out)", len(s))
	}
	if FNV1a("a") != FNV1a([]byte("a")) || FNV1a("a") == FNV1a("b") || FNV1a("") != 14695981039346656037 {
		t.Error("FNV1a differs between a string and its bytes, or is not FNV-1a")
	}
}
