package enrich_test

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"picket/internal/awsip"
	"picket/internal/enrich"
	"picket/internal/event"
	"picket/internal/geo"
)

func mmdb(t *testing.T, dbType, cidr string, rec mmdbtype.Map) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, IncludeReservedNetworks: true})
	if err != nil {
		t.Fatal(err)
	}
	_, n, _ := net.ParseCIDR(cidr)
	if err := tree.Insert(n, rec); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), dbType+".mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestIPInfos(t *testing.T) {
	db, err := geo.Open(geo.Options{
		City: mmdb(t, "GeoLite2-City", "3.80.0.0/12", mmdbtype.Map{
			"country":  mmdbtype.Map{"iso_code": mmdbtype.String("US"), "names": mmdbtype.Map{"en": mmdbtype.String("United States")}},
			"city":     mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String("Ashburn")}},
			"location": mmdbtype.Map{"latitude": mmdbtype.Float64(39.0437), "longitude": mmdbtype.Float64(-77.4875)},
		}),
		ASN: mmdb(t, "GeoLite2-ASN", "3.80.0.0/12", mmdbtype.Map{
			"autonomous_system_number": mmdbtype.Uint32(14618), "autonomous_system_organization": mmdbtype.String("AMAZON-AES"),
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ranges, err := awsip.Parse(strings.NewReader(`{"prefixes":[{"ip_prefix":"3.80.0.0/12","region":"us-east-1","service":"EC2"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	x := enrich.NewIPInfos(db, ranges, 2)
	c := &event.APICall{SourceIP: netip.MustParseAddr("3.85.0.1")}
	x.Annotate(c)
	in := c.SourceInfo
	if in.CountryCode.String() != "US" || in.City.String() != "Ashburn" || in.ASN != 14618 || in.ASOrg.String() != "AMAZON-AES" ||
		!in.HasLocation || in.Lat != 39.0437 || !in.AWS.True() || in.AWSService.String() != "EC2" || in.AWSRegion.String() != "us-east-1" {
		t.Errorf("%+v", in)
	}
	out := x.Lookup(netip.MustParseAddr("198.51.100.1"))
	if !out.AWS.False() || !out.CountryCode.IsZero() {
		t.Errorf("outside: %+v", out)
	}
	// Cached: a repeated lookup costs no allocation.
	a := netip.MustParseAddr("3.85.0.1")
	if n := testing.AllocsPerRun(100, func() { x.Lookup(a) }); n != 0 {
		t.Errorf("%v allocations per cached lookup", n)
	}
	x.Lookup(netip.MustParseAddr("3.85.0.2"))
	x.Lookup(netip.MustParseAddr("3.85.0.3"))
	if s := x.Stats(); s.Misses != 4 || s.Evicted != 2 || s.Lookups != 105 { // AllocsPerRun runs once more to warm up
		t.Errorf("stats %+v", s)
	}
	// Without AWS ranges, "inside AWS" stays unknown.
	y := enrich.NewIPInfos(db, nil, 0)
	if got := y.Lookup(netip.MustParseAddr("3.85.0.1")); got.AWS.IsSet() {
		t.Errorf("AWS %v without ranges", got.AWS)
	}
	var none *enrich.IPInfos
	c2 := &event.APICall{SourceIP: netip.MustParseAddr("3.85.0.1")}
	none.Annotate(c2)
	if !c2.SourceInfo.IsZero() || none.Enabled() {
		t.Error("a nil IPInfos attaches nothing")
	}
}
