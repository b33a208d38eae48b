package event

import (
	"net/netip"
	"testing"
)

func TestHost(t *testing.T) {
	for _, tt := range []struct {
		addr string
		want bool
	}{
		{"10.0.1.5", true},
		{"203.0.113.66", true},
		{"0.0.0.4", false}, // "this network": nmap will send to it, no host answers
		{"0.0.0.0", false},
		{"224.0.0.251", false},
		{"255.255.255.255", false},
		{"240.1.2.3", true}, // reserved, but used for hosts by some networks
		{"246.237.103.23", true},
		{"::ffff:0.0.0.4", false},
		{"2001:db8::1", true},
		{"::", false},
		{"ff02::1", false},
	} {
		if got := Host(netip.MustParseAddr(tt.addr)); got != tt.want {
			t.Errorf("Host(%s) = %t, want %t", tt.addr, got, tt.want)
		}
	}
	if Host(netip.Addr{}) {
		t.Error("the zero Addr is a host")
	}
}
