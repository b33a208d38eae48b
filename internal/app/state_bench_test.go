package app

import (
	"testing"

	"picket/internal/finding"
)

// BenchmarkMarshalState measures saving the detection state of half an
// hour of generated traffic, which picket serve does at every commit.
func BenchmarkMarshalState(b *testing.B) {
	t := &testing.T{}
	flows := generatedFlows(t)
	r := newRunner(t, finding.NewSet())
	r.feed(flows[:len(flows)/2])
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.eng.MarshalState(); err != nil {
			b.Fatal(err)
		}
	}
}
