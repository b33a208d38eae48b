package geo_test

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"picket/internal/geo"
)

// writeDB builds a small MaxMind DB of the given type with mmdbwriter.
func writeDB(t *testing.T, dbType string, records map[string]mmdbtype.Map) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, IncludeReservedNetworks: true, RecordSize: 24})
	if err != nil {
		t.Fatal(err)
	}
	for cidr, rec := range records {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(n, rec); err != nil {
			t.Fatalf("inserting %s: %v", cidr, err)
		}
	}
	path := filepath.Join(t.TempDir(), dbType+".mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

func names(en string) mmdbtype.Map {
	return mmdbtype.Map{"en": mmdbtype.String(en), "de": mmdbtype.String(en + " (de)")}
}

// cityDB is a GeoLite2-City database: Frankfurt for 203.0.113.0/24, a
// country-only record, a registered-country-only record, and an IPv6
// range.
func cityDB(t *testing.T) string {
	return writeDB(t, "GeoLite2-City", map[string]mmdbtype.Map{
		"203.0.113.0/24": {
			"city":     mmdbtype.Map{"geoname_id": mmdbtype.Uint32(2925533), "names": names("Frankfurt am Main")},
			"country":  mmdbtype.Map{"iso_code": mmdbtype.String("DE"), "names": names("Germany")},
			"location": mmdbtype.Map{"latitude": mmdbtype.Float64(50.1188), "longitude": mmdbtype.Float64(8.6843), "accuracy_radius": mmdbtype.Uint16(20)},
		},
		"198.51.100.0/24": {
			"country": mmdbtype.Map{"iso_code": mmdbtype.String("BR"), "names": names("Brazil")},
		},
		"192.0.2.0/24": {
			"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String("US"), "names": names("United States")},
			"location":           mmdbtype.Map{"latitude": mmdbtype.Float64(0), "longitude": mmdbtype.Float64(0)},
		},
		"2001:db8::/32": {
			"city":     mmdbtype.Map{"names": names("Tokyo")},
			"country":  mmdbtype.Map{"iso_code": mmdbtype.String("JP"), "names": names("Japan")},
			"location": mmdbtype.Map{"latitude": mmdbtype.Float64(35.6895), "longitude": mmdbtype.Float64(139.6917)},
		},
	})
}

func asnDB(t *testing.T, dbType string) string {
	rec := func(asn uint32, org string) mmdbtype.Map {
		m := mmdbtype.Map{"autonomous_system_number": mmdbtype.Uint32(asn), "autonomous_system_organization": mmdbtype.String(org)}
		if dbType == "GeoIP2-ISP" {
			m["isp"] = mmdbtype.String(org + " ISP")
			m["organization"] = mmdbtype.String(org + " Org")
		}
		return m
	}
	return writeDB(t, dbType, map[string]mmdbtype.Map{
		"203.0.113.0/25": rec(64500, "Example Hosting GmbH"),
		"2001:db8::/48":  rec(64501, "Example Tokyo KK"),
	})
}

func TestLookup(t *testing.T) {
	db, err := geo.Open(geo.Options{City: cityDB(t), ASN: asnDB(t, "GeoLite2-ASN")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tests := []struct {
		addr string
		want geo.Info
	}{
		{"203.0.113.10", geo.Info{CountryCode: "DE", CountryName: "Germany", City: "Frankfurt am Main",
			Lat: 50.1188, Lon: 8.6843, HasLocation: true, ASN: 64500, ASOrg: "Example Hosting GmbH"}},
		{"203.0.113.200", geo.Info{CountryCode: "DE", CountryName: "Germany", City: "Frankfurt am Main",
			Lat: 50.1188, Lon: 8.6843, HasLocation: true}}, // outside the AS's /25
		{"::ffff:203.0.113.10", geo.Info{CountryCode: "DE", CountryName: "Germany", City: "Frankfurt am Main",
			Lat: 50.1188, Lon: 8.6843, HasLocation: true, ASN: 64500, ASOrg: "Example Hosting GmbH"}},
		{"198.51.100.1", geo.Info{CountryCode: "BR", CountryName: "Brazil"}},
		{"192.0.2.1", geo.Info{CountryCode: "US", CountryName: "United States", HasLocation: true}},
		{"2001:db8::1", geo.Info{CountryCode: "JP", CountryName: "Japan", City: "Tokyo", Lat: 35.6895, Lon: 139.6917,
			HasLocation: true, ASN: 64501, ASOrg: "Example Tokyo KK"}},
		{"100.64.0.1", geo.Info{}},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			got := db.Lookup(netip.MustParseAddr(tt.addr))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if got := db.Lookup(netip.Addr{}); !got.IsZero() {
		t.Errorf("zero address: %+v", got)
	}
	info := db.Lookup(netip.MustParseAddr("203.0.113.10"))
	if info.ASNString() != "64500" {
		t.Errorf("ASNString %q", info.ASNString())
	}
}

func TestISP(t *testing.T) {
	db, err := geo.Open(geo.Options{ASN: asnDB(t, "GeoIP2-ISP")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	got := db.Lookup(netip.MustParseAddr("203.0.113.1"))
	want := geo.Info{ASN: 64500, ASOrg: "Example Hosting GmbH", ISP: "Example Hosting GmbH ISP", Org: "Example Hosting GmbH Org"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestOpenErrors checks that bad files fail at start with an error naming
// the file and the problem.
func TestOpenErrors(t *testing.T) {
	junk := filepath.Join(t.TempDir(), "junk.mmdb")
	os.WriteFile(junk, []byte("this is not a MaxMind database"), 0o644)
	city, asn := cityDB(t), asnDB(t, "GeoLite2-ASN")
	tests := []struct {
		name string
		opt  geo.Options
		want []string
	}{
		{"missing", geo.Options{City: "/nonexistent/GeoLite2-City.mmdb"}, []string{"city database", "/nonexistent/GeoLite2-City.mmdb", "no such file"}},
		{"junk", geo.Options{ASN: junk}, []string{"ASN database", "junk.mmdb"}},
		{"asn as city", geo.Options{City: asn}, []string{"city database", `"GeoLite2-ASN" database, not a city database`}},
		{"city as asn", geo.Options{ASN: city}, []string{"ASN database", `"GeoLite2-City" database, not a ASN database`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := geo.Open(tt.opt)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestNoDatabases(t *testing.T) {
	db, err := geo.Open(geo.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := db.Lookup(netip.MustParseAddr("203.0.113.1")); !got.IsZero() {
		t.Errorf("%+v", got)
	}
}
