package topology_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"picket/internal/topology"
)

// TestBadFiles decodes each testdata/*.bad.json and expects every line of
// its .err file in the error.
func TestBadFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.bad.json")
	if len(files) == 0 {
		t.Fatal("no bad cases")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			_, err := topology.Load(path)
			if err == nil {
				t.Fatal("no error")
			}
			want, rerr := os.ReadFile(strings.TrimSuffix(path, ".json") + ".err")
			if rerr != nil {
				t.Fatal(rerr)
			}
			for _, w := range strings.Split(strings.TrimSpace(string(want)), "\n") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}

func TestGood(t *testing.T) {
	top, err := topology.Load("testdata/lab.good.json")
	if err != nil {
		t.Fatal(err)
	}
	web := &top.Interfaces[0]
	if top.Account != "123456789012" || web.ID != "eni-0a00000000000010" || web.Type != "interface" || len(web.Ingress) != 3 || web.Egress == nil {
		t.Errorf("decoded %+v", top)
	}
	if top.Interfaces[1].Ingress != nil || top.Interfaces[1].Egress == nil || len(top.Interfaces[1].Egress) != 0 {
		t.Errorf("absent rules allow all (nil), empty ones deny all: %+v", top.Interfaces[1])
	}
	a := netip.MustParseAddr
	cases := []struct {
		proto  uint8
		port   uint16
		remote string
		want   bool
	}{
		{6, 22, "203.0.113.5", true},
		{6, 23, "203.0.113.5", false},
		{6, 23, "10.0.9.9", true}, // all from the VPC
		{1, 8, "10.0.9.9", true},
		{1, 8, "203.0.113.5", false},
		{17, 53, "2001:db8::1", false}, // 0.0.0.0/0 is IPv4 only
	}
	for _, c := range cases {
		if got := topology.Allows(web.Ingress, c.proto, c.port, a(c.remote)); got != c.want {
			t.Errorf("Allows(%d, %d, %s) = %v", c.proto, c.port, c.remote, got)
		}
	}
	if !topology.Allows(nil, 6, 1, a("1.2.3.4")) || topology.Allows([]topology.Rule{}, 6, 1, a("1.2.3.4")) {
		t.Error("nil rules allow everything, empty rules nothing")
	}
	for name, want := range map[string]string{
		"web1.pcap": "eni-0a00000000000010", "lab-web1_eth0.pcapng": "eni-0a00000000000010", "web10.pcap": "",
		"eni-0a00000000000020.pcap": "eni-0a00000000000020", "capture.pcap": "",
	} {
		if got := top.Match(name); got != want {
			t.Errorf("Match(%q) = %q, want %q", name, got, want)
		}
	}
}
