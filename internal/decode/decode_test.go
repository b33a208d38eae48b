package decode

import "testing"

func TestDetectCapturesAndZeek(t *testing.T) {
	cases := map[string]struct {
		head string
		want Format
	}{
		"pcap-le":         {"\xd4\xc3\xb2\xa1\x02\x00", Pcap},
		"pcap-be":         {"\xa1\xb2\xc3\xd4\x00\x02", Pcap},
		"pcap-ns-le":      {"\x4d\x3c\xb2\xa1", Pcap},
		"pcap-ns-be":      {"\xa1\xb2\x3c\x4d", Pcap},
		"pcapng":          {"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00", Pcapng},
		"zeek-tsv":        {"#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n#fields\tts\tuid\tid.orig_h\n", ZeekConn},
		"zeek-tsv-dns":    {"#separator \\x09\n#path\tdns\n#fields\tts\tuid\tid.orig_h\n", Unknown},
		"zeek-tsv-nopath": {"#separator \\x09\n#fields\tts\tuid\tid.orig_h\tid.orig_p\n", ZeekConn},
		"zeek-json":       {`{"ts":1664462456.755299,"uid":"C5","id.orig_h":"172.16.1.11","id.orig_p":40042}` + "\n", ZeekConn},
		"flow-header":     {"version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n", VPCFlow},
		"cloudtrail":      {`{"Records":[{"eventVersion":"1.08","eventName":"X"}]}`, CloudTrail},
	}
	for name, c := range cases {
		if got := Detect([]byte(c.head)); got != c.want {
			t.Errorf("%s: Detect = %s, want %s", name, got, c.want)
		}
	}
	for _, f := range []Format{Pcap, Pcapng, ZeekConn} {
		if g, ok := ParseFormat(f.String()); !ok || g != f {
			t.Errorf("ParseFormat(%q) = %v, %v", f, g, ok)
		}
	}
}
