package live

import (
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"picket/internal/detect"
	"picket/internal/intel"
)

// TestLookupsDoNotAllocate holds the lookups detectors make,
// through the adapter and the loader's atomic pointer, to zero
// allocations.
func TestLookupsDoNotAllocate(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "l.txt")
	os.WriteFile(p, []byte("198.51.100.0/24\nevil.example\n"), 0o644)
	tp := filepath.Join(dir, "t.txt")
	os.WriteFile(tp, []byte("198.51.100.128/25\n"), 0o644)
	l, _, err := LoadLists(context.Background(), []intel.Spec{{Name: "l", Location: p}, {Name: "t", Location: tp, Kind: intel.KindTrusted}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := Adapt(l)
	dom := in.(detect.DomainIntel)
	a := netip.MustParseAddr("198.51.100.1")
	allocs := testing.AllocsPerRun(1000, func() {
		in.Threat(a)
		in.Trusted(a)
		dom.ThreatDomain("www.evil.example")
	})
	if allocs != 0 {
		t.Errorf("%v allocations per lookup, want 0", allocs)
	}
	if m, ok := in.Threat(a); !ok || m.ListName != "l" || m.Kind != detect.ThreatCustom {
		t.Errorf("Threat: %+v %v", m, ok)
	}
	if _, ok := in.Threat(netip.MustParseAddr("198.51.100.200")); ok {
		t.Error("trusted wins over threat")
	}
}
