package dnsintel_test

import (
	"context"
	"slices"
	"strings"
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

// TestAnalyzeCategories runs picket analyze with threat lists given as on
// its command line, some declaring a category (category=...): each
// category's domains raise its own type, the uncategorised list keeps
// .Custom, and a name answered with an address on the blackhole list
// raises BlackholeTraffic!DNS. 0.0.0.0, which ad-blocking resolvers
// answer, raises nothing.
func TestAnalyzeCategories(t *testing.T) {
	var lists []intel.Spec
	for _, arg := range []string{
		"c2s=TXT,category=c2:testdata/c2.txt",
		"phishes=auto,category=phishing:testdata/phishing.txt",
		"pools=TXT,category=bitcoin-tool:testdata/mining.txt",
		"sinkholes=TXT,category=blackhole:testdata/sinkholes.txt",
		"testdata/plain.txt",
	} {
		sp, err := intel.ParseSpec(intel.KindThreat, arg)
		if err != nil {
			t.Fatalf("%s: %v", arg, err)
		}
		lists = append(lists, sp)
	}
	fs, _, err := app.Analyze(context.Background(), app.AnalyzeOptions{Paths: []string{"testdata/categories.log"}, Lists: lists})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Type, Domain, List string
		Count              int64
	}
	var got []row
	for _, f := range fs {
		r := row{Type: f.Type, Count: f.Service.Count}
		if a := f.Service.Action.DNSRequestAction; a != nil {
			r.Domain = a.Domain
		}
		if e := f.Service.Evidence; e != nil && len(e.ThreatIntelligenceDetails) == 1 {
			r.List = e.ThreatIntelligenceDetails[0].ThreatListName
		}
		got = append(got, r)
	}
	slices.SortFunc(got, func(a, b row) int { return strings.Compare(a.Type, b.Type) })
	want := []row{
		{finding.TypeC2ActivityDNS, "beacon.c2-server.example", "c2s", 2},
		{finding.TypeBitcoinToolDNS, "pool.coin-miner.example", "pools", 1},
		{finding.TypeMaliciousDomainCustom, "plain-listed.example", "plain", 1},
		{finding.TypeBlackholeTrafficDNS, "update.dismantled-botnet.example", "sinkholes", 1},
		{finding.TypePhishingDomainDNS, "login.bank-phish.example", "phishes", 1},
	}
	slices.SortFunc(want, func(a, b row) int { return strings.Compare(a.Type, b.Type) })
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("findings (-want +got):\n%s", diff)
	}
}
