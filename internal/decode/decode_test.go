package decode

import (
	"strings"
	"testing"
)

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
		"zeek-tsv-dns":    {"#separator \\x09\n#path\tdns\n#fields\tts\tuid\tid.orig_h\n", ZeekDNS},
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
	for _, f := range []Format{Pcap, Pcapng, ZeekConn, ZeekDNS} {
		if g, ok := ParseFormat(f.String()); !ok || g != f {
			t.Errorf("ParseFormat(%q) = %v, %v", f, g, ok)
		}
	}
}

// TestDetectByMajority checks that text is known by most of its first
// lines, not by the first alone.
func TestDetectByMajority(t *testing.T) {
	flows := strings.Repeat(flowLine+"\n", 5)
	cases := map[string]struct {
		head string
		want Format
	}{
		"junk, then flows":         {"junk\n" + flows, VPCFlow},
		"JSON junk, then flows":    {`{"hello":` + "\n" + flows, VPCFlow},
		"an event, then flows":     {trailLine("A") + "\n" + flows, VPCFlow},
		"events, then a flow":      {strings.Repeat(trailLine("A")+"\n", 3) + flowLine + "\n", CloudTrail},
		"junk, then a header":      {"junk\nmore junk\nand more\n" + flowHeader, VPCFlow},
		"a pretty-printed trail":   {"{\n  \"Records\": [\n    {\n      \"eventVersion\": \"1.09\",\n      \"code\": 200\n", CloudTrail},
		"a trail cut in its line":  {`{"Records":[` + trailLine("A") + `,{"eventVersion":"1.0`, CloudTrail},
		"prose with a number":      {"Notes\nwe saw 3 things\nnothing else\nthe end\n", Unknown},
		"one prose line":           {"this is not a flow log, nor any log picket reads\n", Unknown},
		"a control message first":  {`{"messageType":"CONTROL_MESSAGE","logEvents":[{"message":"CWL CONTROL MESSAGE"}]}` + "\n" + `{"messageType":"DATA_MESSAGE","logEvents":[{"message":"{\"eventVersion\":\"1.09\"}"}]}`, CloudTrail},
		"zeek lines and a flow":    {`{"ts":1,"id.orig_h":"10.0.0.1"}` + "\n" + `{"ts":2,"id.orig_h":"10.0.0.1"}` + "\n" + flowLine, ZeekConn},
		"payloads back to back":    {`{"messageType":"DATA_MESSAGE","logEvents":[]}{"messageType":"DATA_MESSAGE","logEvents":[]}`, VPCFlowCloudWatch},
		"one line, maybe a record": {"take action 5 now\n", VPCFlow},
	}
	for name, c := range cases {
		if got := Detect([]byte(c.head)); got != c.want {
			t.Errorf("%s: Detect = %s, want %s", name, got, c.want)
		}
	}
}

// TestDetectZeekDNS checks that a Zeek dns.log is known in both forms,
// and that neither a conn.log, another Zeek log nor a Route 53 Resolver
// log (which also have a query, a response code or id.orig_h) is taken
// for one.
func TestDetectZeekDNS(t *testing.T) {
	cases := map[string]struct {
		head string
		want Format
	}{
		"tsv without #path": {"#separator \\x09\n#fields\tts\tuid\tid.orig_h\tid.orig_p\tquery\tqclass\tqtype\tqtype_name\trcode\n", ZeekDNS},
		"tsv of http.log":   {"#separator \\x09\n#path\thttp\n#fields\tts\tuid\tid.orig_h\tquery\trcode\n", Unknown},
		"tsv of dns_x.log":  {"#separator \\x09\n#path\tdns_x\n#fields\tts\tuid\tid.orig_h\n", Unknown},
		"tsv, query_name":   {"#separator \\x09\n#fields\tts\tuid\tid.orig_h\tquery_name\trcode_name\n", ZeekConn},
		"json":              {`{"ts":1521911720.865716,"uid":"Cq","id.orig_h":"10.47.1.100","id.orig_p":41772,"id.resp_h":"10.0.0.100","id.resp_p":53,"proto":"udp","query":"ise.wrccdc.org","qtype":1,"qtype_name":"A","rcode":0}` + "\n", ZeekDNS},
		"json, nested id":   {`{"ts":1.5,"uid":"C1","id":{"orig_h":"10.0.0.1","orig_p":1,"resp_h":"10.0.0.2","resp_p":53},"query":"a.example","rcode":3}` + "\n", ZeekDNS},
		"json lines, junk":  {strings.Repeat(`{"ts":1.5,"uid":"C1","id.orig_h":"10.0.0.1","query":"a.example","qtype_name":"A"}`+"\n", 3) + "junk\n", ZeekDNS},
		"json of conn.log":  {`{"ts":1.5,"uid":"C1","id.orig_h":"10.0.0.1","id.orig_p":1,"id.resp_h":"10.0.0.2","id.resp_p":53,"proto":"udp","service":"dns"}` + "\n", ZeekConn},
		"route 53 resolver": {`{"version":"1.100000","account_id":"123456789012","region":"us-east-1","vpc_id":"vpc-1","query_timestamp":"2024-01-01T00:00:00Z","query_name":"example.com.","query_type":"A","query_class":"IN","rcode":"NOERROR","answers":[],"srcaddr":"10.0.0.1","srcport":"5353","transport":"UDP","srcids":{"instance":"i-1"}}` + "\n", Resolver},
	}
	for name, c := range cases {
		if got := Detect([]byte(c.head)); got != c.want {
			t.Errorf("%s: Detect = %s, want %s", name, got, c.want)
		}
	}
}
