package sketch

import (
	"net/netip"
	"testing"
)

func addr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(11 + i>>24), byte(i >> 16), byte(i >> 8), byte(i)})
}

func TestCountsRepeatedKeys(t *testing.T) {
	s := New(1 << 20)
	a := netip.MustParseAddr("198.51.100.7")
	for i := 1; i <= 20; i++ {
		if got := s.Add(a); got < uint8(i) {
			t.Fatalf("after %d adds the estimate is %d; a count-min sketch never underestimates", i, got)
		}
	}
	if s.Estimate(netip.MustParseAddr("198.51.100.8")) > 1 {
		t.Error("an unseen key has a large estimate in an almost empty sketch")
	}
}

// In a flood of one-off keys, a key seen every 20,000 of them still stands
// out, and few one-off keys look like repeaters. (The sketch must be wide
// enough that it does not age between two of the repeater's adds: it
// halves every width/2 adds, 131,072 here.)
func TestRepeaterStandsOutOfAFlood(t *testing.T) {
	s := New(1 << 20)
	scanner := netip.MustParseAddr("203.0.113.66")
	repeaters := 0
	for i := 0; i < 2_000_000; i++ {
		if s.Add(addr(i)) >= 2 {
			repeaters++
		}
		if i%20_000 == 0 {
			s.Add(scanner)
		}
	}
	if est := s.Estimate(scanner); est < 2 {
		t.Errorf("scanner estimate %d after 100 spaced adds", est)
	}
	if frac := float64(repeaters) / 2e6; frac > 0.05 {
		t.Errorf("%.1f%% of one-off keys looked like repeaters", 100*frac)
	}
	if s.Halvings() == 0 {
		t.Error("the sketch never aged")
	}
}

func BenchmarkAdd(b *testing.B) {
	s := New(1 << 22)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s.Add(addr(i))
		i++
	}
}
