package app

import (
	"context"
	"os"
	"testing"
)

func TestProfileAnalyze(t *testing.T) {
	p := os.Getenv("PICKET_PROFILE_INPUT")
	if p == "" {
		t.Skip()
	}
	_, sum, err := Analyze(context.Background(), AnalyzeOptions{Paths: []string{p}})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d records in %s", sum.Records, sum.Elapsed)
}
