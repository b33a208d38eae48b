package dnsintel_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"

	"picket/internal/app"
	"picket/internal/finding"
	"picket/internal/intel"
)

// TestAnalyze runs picket analyze over a Resolver query log with a threat
// list that names a domain.
func TestAnalyze(t *testing.T) {
	fs, _, err := app.Analyze(context.Background(), app.AnalyzeOptions{
		Paths: []string{"testdata/resolver.log"},
		Lists: []intel.Spec{{Name: "campaign", Location: "testdata/domains.txt", Kind: intel.KindThreat}},
	})
	if err != nil {
		t.Fatal(err)
	}
	byType := map[string]*finding.Finding{}
	for _, f := range fs {
		if byType[f.Type] != nil {
			t.Errorf("two %s findings", f.Type)
		}
		byType[f.Type] = f
	}
	f := byType[finding.TypeMaliciousDomainCustom]
	if f == nil {
		t.Fatalf("no %s among %d findings", finding.TypeMaliciousDomainCustom, len(fs))
	}
	if f.Resource.InstanceDetails.InstanceID != "i-0abc1234def567890" || f.AccountID != "111122223333" || f.Service.Count != 2 {
		t.Errorf("finding on %s in %s, count %d", f.Resource.InstanceDetails.InstanceID, f.AccountID, f.Service.Count)
	}
	if d := f.Service.Evidence.ThreatIntelligenceDetails; len(d) != 1 || d[0].ThreatListName != "campaign" {
		t.Errorf("evidence %+v", d)
	}
	if name := f.Service.AdditionalInfo.Explanation.ThreatListName; name != "campaign" {
		t.Errorf("explanation names list %q", name)
	}
	// Both queries fall in one minute, one report: one over UDP, one
	// over TCP that DNS Firewall blocked. The report is blocked only when
	// every query of it was, and UDP when any query used it.
	want := &finding.DNSRequestAction{Domain: "c2.evil-domain.example", DomainWithSuffix: "evil-domain.example", Protocol: "UDP"}
	if diff := cmp.Diff(want, f.Service.Action.DNSRequestAction); diff != "" {
		t.Errorf("dnsRequestAction (-want +got):\n%s", diff)
	}
	r := byType[finding.TypeMetadataDNSRebind]
	if r == nil {
		t.Fatalf("no %s", finding.TypeMetadataDNSRebind)
	}
	if ni := r.Resource.InstanceDetails.NetworkInterfaces; len(ni) != 1 || ni[0].PrivateIPAddress != "10.0.1.8" {
		t.Errorf("rebinding resource %+v", r.Resource.InstanceDetails)
	}
	if len(fs) != 2 {
		t.Errorf("%d findings, want 2", len(fs))
	}
}
