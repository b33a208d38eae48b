package finding_test

import (
	"encoding/json"
	"net/netip"
	"testing"

	"picket/internal/event"
	"picket/internal/finding"
)

func TestRemoteIPWith(t *testing.T) {
	info := &event.IPInfo{
		CountryCode: event.Intern("DE"), CountryName: event.Intern("Germany"), City: event.Intern("Frankfurt am Main"),
		Lat: 50.1188, Lon: 8.6843, HasLocation: true, ASN: 64500, ASOrg: event.Intern("Example Hosting GmbH"),
	}
	tests := []struct {
		addr string
		info *event.IPInfo
		want string
	}{
		{"203.0.113.10", info, `{"city":{"cityName":"Frankfurt am Main"},"country":{"countryCode":"DE","countryName":"Germany"},` +
			`"geoLocation":{"lat":50.1188,"lon":8.6843},"ipAddressV4":"203.0.113.10","organization":{"asn":"64500","asnOrg":"Example Hosting GmbH"}}`},
		{"2001:db8::1", &event.IPInfo{}, `{"ipAddressV6":"2001:db8::1"}`},
		{"203.0.113.10", nil, `{"ipAddressV4":"203.0.113.10"}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(finding.RemoteIPWith(netip.MustParseAddr(tt.addr), tt.info))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != tt.want {
			t.Errorf("got  %s\nwant %s", b, tt.want)
		}
	}
}
