package awsip_test

import (
	"net/netip"
	"strings"
	"testing"

	"picket/internal/awsip"
)

func TestLookup(t *testing.T) {
	tab, err := awsip.Load("testdata/ip-ranges.json")
	if err != nil {
		t.Fatal(err)
	}
	if tab.Len() != 8 || tab.SyncToken() != "1709294400" || tab.CreateDate().Format("2006-01-02") != "2024-03-01" {
		t.Errorf("Len %d, SyncToken %q, CreateDate %v", tab.Len(), tab.SyncToken(), tab.CreateDate())
	}
	tests := []struct {
		addr                    string
		in                      bool
		prefix, region, service string
		services                string
	}{
		{"3.85.1.2", true, "3.80.0.0/12", "us-east-1", "EC2", "AMAZON EC2"},   // longest match wins
		{"3.1.2.3", true, "3.0.0.0/9", "GLOBAL", "AMAZON", "AMAZON"},          // only the broad range
		{"52.217.4.4", true, "52.216.0.0/15", "us-east-1", "S3", "AMAZON S3"}, // S3 over AMAZON
		{"13.33.0.1", true, "13.32.0.0/15", "GLOBAL", "CLOUDFRONT", "AMAZON CLOUDFRONT"},
		{"::ffff:18.253.1.1", true, "18.252.0.0/15", "us-gov-east-1", "EC2", "AMAZON EC2"}, // mapped, unmapped
		{"2600:1f18:1234::1", true, "2600:1f18::/33", "us-east-1", "EC2", "AMAZON EC2"},
		{"2a05:d07a:a0ff::1", true, "2a05:d07a:a000::/40", "eu-south-1", "S3", "S3"},
		{"198.51.100.7", false, "", "", "", ""},
		{"2001:db8::1", false, "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			a := netip.MustParseAddr(tt.addr)
			r, ok := tab.Lookup(a)
			if ok != tt.in || tab.Contains(a) != tt.in {
				t.Fatalf("inside AWS: %v, want %v", ok, tt.in)
			}
			if !ok {
				return
			}
			got := []string{r.Prefix.String(), r.Region, r.Service, strings.Join(r.Services, " ")}
			want := []string{tt.prefix, tt.region, tt.service, tt.services}
			if strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("got %v, want %v", got, want)
			}
			if tt.service == "EC2" && !r.HasService("EC2") {
				t.Error("HasService(EC2) false")
			}
		})
	}
	var nilTable *awsip.Table
	if nilTable.Contains(netip.MustParseAddr("3.85.1.2")) {
		t.Error("a nil table holds nothing")
	}
	if allocs := testing.AllocsPerRun(100, func() { tab.Lookup(netip.MustParseAddr("3.85.1.2")) }); allocs != 0 {
		t.Errorf("%v allocations per lookup", allocs)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"not json", "<html>", "not AWS ip-ranges.json"},
		{"no prefixes", `{"syncToken":"1","prefixes":[]}`, "no prefixes"},
		{"bad prefix", `{"prefixes":[{"ip_prefix":"3.0.0.0/33","region":"x","service":"AMAZON"}]}`, `prefix "3.0.0.0/33"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := awsip.Parse(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one mentioning %q", err, tt.want)
			}
		})
	}
	if _, err := awsip.Load("testdata/missing.json"); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file: %v", err)
	}
}
