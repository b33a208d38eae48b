package vpcflow

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/deprecated"

	"picket/internal/event"
)

// flowCmp compares event.Flow values; IDs and addresses are comparable
// values with unexported fields.
var flowCmp = cmp.Options{
	cmp.Comparer(func(a, b event.ID) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
}

// parquetCases are flow logs in text form: a header line and records. The
// differential test writes each as Parquet in several layouts and expects
// the Parquet reader to produce what the text reader produces.
var parquetCases = []struct {
	name   string
	format string
	lines  []string
}{
	{
		// The AWS examples of the default format: accepted and rejected
		// traffic, NODATA and SKIPDATA, ICMP, IPv6, and an IPv4-mapped
		// address, which both readers unmap.
		name:   "v2-default",
		format: "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status",
		lines: []string{
			"2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK",
			"2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 1418530010 1418530070 REJECT OK",
			"2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA",
			"2 123456789010 eni-11111111aaaaaaaaa - - - - - - - 1431280876 1431280934 - SKIPDATA",
			"2 123456789010 eni-1235b8ca123456789 203.0.113.12 172.31.16.139 0 0 1 4 336 1432917027 1432917142 ACCEPT OK",
			"2 123456789010 eni-1235b8ca123456789 172.31.16.139 203.0.113.12 0 0 1 4 336 1432917094 1432917142 REJECT OK",
			"2 123456789010 eni-f41c42bf 2001:db8:1234:a100:8d6e:3477:df66:f105 2001:db8:1234:a102:3304:8879:34cf:4071 34892 22 6 54 8855 1477913708 1477913820 ACCEPT OK",
			"2 unknown eni-0a1b2c3d4e5f60718 ::ffff:10.0.0.9 198.51.100.7 443 51000 6 1 40 1700000000 1700000001 ACCEPT OK",
		},
	},
	{
		// Every field of versions 2 to 5, in the order of the AWS example
		// for traffic paths, with sublocations and an IPv6 flow.
		name:   "v5-all",
		format: "version srcaddr dstaddr srcport dstport protocol start end type packets bytes account-id vpc-id subnet-id instance-id interface-id region az-id sublocation-type sublocation-id action tcp-flags pkt-srcaddr pkt-dstaddr pkt-src-aws-service pkt-dst-aws-service traffic-path flow-direction log-status",
		lines: []string{
			"5 52.95.128.179 10.0.0.71 80 34210 6 1616729292 1616729349 IPv4 14 15044 123456789012 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-0c50d5961bcb2d47b eni-1235b8ca123456789 ap-southeast-2 apse2-az3 - - ACCEPT 19 52.95.128.179 10.0.0.71 S3 - - ingress OK",
			"5 10.0.0.71 52.95.128.179 34210 80 6 1616729292 1616729349 IPv4 7 471 123456789012 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-0c50d5961bcb2d47b eni-1235b8ca123456789 ap-southeast-2 apse2-az3 - - ACCEPT 3 10.0.0.71 52.95.128.179 - S3 8 egress OK",
			"5 10.0.1.5 10.0.2.6 40000 5432 6 1616729292 1616729349 IPv4 3 180 123456789012 vpc-abcdefab012345678 subnet-bbbbbbbb012345678 - eni-2235b8ca123456789 us-west-2 - outpost op-0123456789abcdef0 REJECT 2 10.0.1.5 10.0.2.6 - - 1 egress OK",
			"5 2600:1f14::1 2600:1f14::2 443 50000 6 1616729292 1616729349 IPv6 10 5000 123456789012 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-0c50d5961bcb2d47b eni-1235b8ca123456789 ap-southeast-2 apse2-az3 wavelength wl-syd-wlz-1 ACCEPT 18 2600:1f14::1 2600:1f14::2 AMAZON EC2 - ingress OK",
			"5 - - - - - 1616729292 1616729349 - - - 123456789012 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-0c50d5961bcb2d47b eni-1235b8ca123456789 ap-southeast-2 apse2-az3 - - - - - - - - - - NODATA",
			"5 10.0.0.71 10.0.0.80 0 0 1 1616729292 1616729349 EFA 1 84 123456789012 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 i-0c50d5961bcb2d47b eni-1235b8ca123456789 ap-southeast-2 apse2-az3 - - ACCEPT 0 10.0.0.71 10.0.0.80 - - 1 egress SKIPDATA",
		},
	},
	{
		// ECS fields and versions 8 to 10, plus a column no version has
		// yet: both readers skip it.
		name:   "ecs-v10-unknown",
		format: "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status ecs-cluster-arn ecs-cluster-name ecs-container-instance-arn ecs-container-instance-id ecs-container-id ecs-second-container-id ecs-service-name ecs-task-definition-arn ecs-task-arn ecs-task-id reject-reason resource-id encryption-status future-field",
		lines: []string{
			"10 123456789012 eni-0a1b2c3d4e5f60718 10.0.0.12 54.239.28.85 49152 443 6 12 3400 1700000000 1700000060 ACCEPT OK arn:aws:ecs:us-east-1:123456789012:cluster/prod prod - - 2ab3c4d5e6f7 - web arn:aws:ecs:us-east-1:123456789012:task-definition/web:7 arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef 0123456789abcdef - - 1 x",
			"10 123456789012 eni-0a1b2c3d4e5f60718 198.51.100.1 10.0.0.12 40000 22 6 1 44 1700000000 1700000060 REJECT OK arn:aws:ecs:us-east-1:123456789012:cluster/prod prod arn:aws:ecs:us-east-1:123456789012:container-instance/prod/abc abc 2ab3c4d5e6f7 9f8e7d6c5b4a - arn:aws:ecs:us-east-1:123456789012:task-definition/web:7 arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef 0123456789abcdef BPA - 0 -",
			"10 123456789012 - 10.0.3.3 203.0.113.5 1024 53 17 2 120 1700000000 1700000060 ACCEPT OK - - - - - - - - - - - nat-0123456789abcdef0 3 y",
			"10 123456789012 eni-0a1b2c3d4e5f60718 - - - - - - - 1700000000 1700000060 - NODATA - - - - - - - - - - - - - -",
		},
	},
	{
		// The transit gateway default format (all 36 fields).
		name:   "tgw",
		format: "version resource-type account-id tgw-id tgw-attachment-id tgw-src-vpc-account-id tgw-dst-vpc-account-id tgw-src-vpc-id tgw-dst-vpc-id tgw-src-subnet-id tgw-dst-subnet-id tgw-src-eni tgw-dst-eni tgw-src-az-id tgw-dst-az-id tgw-pair-attachment-id srcaddr dstaddr srcport dstport protocol packets bytes start end log-status type packets-lost-no-route packets-lost-blackhole packets-lost-mtu-exceeded packets-lost-ttl-expired tcp-flags region flow-direction pkt-src-aws-service pkt-dst-aws-service",
		lines: []string{
			"6 TransitGateway 123456789012 tgw-0123456789abcdef0 tgw-attach-0123456789abcdef0 123456789012 210987654321 vpc-0123456789abcdef0 vpc-0fedcba9876543210 subnet-0123456789abcdef0 subnet-0fedcba9876543210 eni-0123456789abcdef0 eni-0fedcba9876543210 use1-az1 use1-az2 tgw-attach-0fedcba9876543210 10.0.0.1 10.1.0.1 49152 443 6 10 1000 1700000000 1700000060 OK IPv4 0 0 0 0 19 us-east-1 egress - -",
			"6 TransitGateway 123456789012 tgw-0123456789abcdef0 tgw-attach-0123456789abcdef0 123456789012 - vpc-0123456789abcdef0 - subnet-0123456789abcdef0 - eni-0123456789abcdef0 - use1-az1 - - 10.0.0.1 2001:db8::1 49152 443 6 3 180 1700000000 1700000060 OK IPv6 3 1 0 2 2 us-east-1 ingress - S3",
		},
	},
	{
		// Version 11: tag values and next hops.
		name:   "v11",
		format: "version interface-id srcaddr dstaddr dstport action log-status instance-tag instance-tag-2 interface-tag interface-tag-2 asg-tag asg-tag-2 interface-type next-hop-interface-id next-hop-subnet-id next-hop-az-id next-hop-vpc-id next-hop-interface-type",
		lines: []string{
			"11 eni-0123456789abcdef0 10.0.0.1 10.0.0.2 443 ACCEPT OK web prod%20a - - web-asg - nat_gateway eni-0fedcba9876543210 subnet-0123456789abcdef0 use1-az1 vpc-0123456789abcdef0 vpc_endpoint",
			"11 eni-0123456789abcdef0 10.0.0.1 10.0.0.3 22 REJECT OK - - - - - - - - - - - -",
		},
	},
}

func caseRows(lines []string) [][]string {
	rows := make([][]string, len(lines))
	for i, l := range lines {
		rows[i] = strings.Fields(l)
	}
	return rows
}

// readText decodes a text flow log with the text Reader.
func readText(t *testing.T, format string, lines []string) []event.Flow {
	t.Helper()
	in := format + "\n" + strings.Join(lines, "\n") + "\n"
	r := NewReader(strings.NewReader(in), "flows.log", nil)
	var out []event.Flow
	for {
		var f event.Flow
		err := r.Next(&f)
		if err == io.EOF {
			return out
		}
		if errors.Is(err, ErrUnknownField) && r.Decoder().Line() == 1 {
			continue // the text header is told of a future field; Parquet columns are not
		}
		if err != nil {
			t.Fatalf("text: %v", err)
		}
		out = append(out, f)
	}
}

// readParquet decodes a whole Parquet flow log, collecting the records and
// the parse errors; it fails the test on any other error.
func readParquet(t testing.TB, data []byte, name string) ([]event.Flow, []*ParseError) {
	t.Helper()
	r, err := NewParquetReader(bytes.NewReader(data), int64(len(data)), name)
	if err != nil {
		t.Fatalf("NewParquetReader: %v", err)
	}
	var flows []event.Flow
	var perrs []*ParseError
	for {
		var f event.Flow
		err := r.Next(&f)
		if err == io.EOF {
			return flows, perrs
		}
		var pe *ParseError
		switch {
		case errors.As(err, &pe):
			perrs = append(perrs, pe)
		case err != nil:
			t.Fatalf("Next: %v", err)
		default:
			flows = append(flows, f)
		}
	}
}

func writeTestParquet(t testing.TB, format Format, rows [][]string, layout parquetLayout) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := writeParquet(&buf, format, rows, layout); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func allStrings(Field) parquet.Kind { return parquet.ByteArray }

// intColumns returns a kind function that stores as INT64 every column
// whose values are all integers (or "-"), whatever the field: account IDs
// included.
func intColumns(format Format, rows [][]string) func(Field) parquet.Kind {
	ints := make(map[Field]bool)
	for i, fd := range format.Columns {
		ints[fd] = true
		for _, r := range rows {
			if _, err := strconv.ParseInt(r[i], 10, 64); err != nil && r[i] != "-" {
				ints[fd] = false
			}
		}
	}
	return func(fd Field) parquet.Kind {
		if ints[fd] {
			return parquet.Int64
		}
		return parquet.ByteArray
	}
}

// TestParquetDifferential writes each case as Parquet in several layouts
// and checks that the Parquet reader yields exactly the records the text
// reader yields, apart from their origin.
func TestParquetDifferential(t *testing.T) {
	for _, c := range parquetCases {
		format, err := ParseFormat(c.format)
		if err != nil {
			t.Fatal(err)
		}
		rows := caseRows(c.lines)
		want := readText(t, c.format, c.lines)
		if len(want) != len(c.lines) {
			t.Fatalf("%s: text reader gave %d records for %d lines", c.name, len(want), len(c.lines))
		}
		for i := range want {
			want[i].Origin = event.Origin{}
		}
		layouts := []struct {
			name   string
			layout parquetLayout
		}{
			{"aws", parquetLayout{}},
			{"strings", parquetLayout{kind: allStrings}},
			{"strings-dash", parquetLayout{kind: allStrings, dash: true}},
			{"int64", parquetLayout{kind: intColumns(format, rows)}},
			{"small-row-groups", parquetLayout{opts: []parquet.WriterOption{
				parquet.MaxRowsPerRowGroup(3), parquet.PageBufferSize(256),
			}}},
			{"uncompressed", parquetLayout{opts: []parquet.WriterOption{parquet.Compression(&parquet.Uncompressed)}}},
			{"snappy", parquetLayout{opts: []parquet.WriterOption{parquet.Compression(&parquet.Snappy)}}},
			{"zstd", parquetLayout{opts: []parquet.WriterOption{parquet.Compression(&parquet.Zstd)}}},
			{"lz4", parquetLayout{opts: []parquet.WriterOption{parquet.Compression(&parquet.Lz4Raw)}}},
			{"data-page-v1", parquetLayout{opts: []parquet.WriterOption{parquet.DataPageVersion(1)}}},
		}
		for _, l := range layouts {
			t.Run(c.name+"/"+l.name, func(t *testing.T) {
				data := writeTestParquet(t, format, rows, l.layout)
				got, perrs := readParquet(t, data, "flows.log.parquet")
				if len(perrs) > 0 {
					t.Fatalf("parse errors: %v", perrs)
				}
				file := event.Intern("flows.log.parquet")
				for i := range got {
					if o := got[i].Origin; o.File != file || o.Line != int64(i+1) {
						t.Errorf("record %d: origin %v, want flows.log.parquet:%d", i, o, i+1)
					}
					got[i].Origin = event.Origin{}
				}
				if diff := cmp.Diff(want, got, flowCmp); diff != "" {
					t.Errorf("Parquet records differ from text records (-text +parquet):\n%s", diff)
				}
			})
		}
	}
}

// TestParquetValues spot-checks decoded values, so that the differential
// test cannot pass with both readers wrong in the same way.
func TestParquetValues(t *testing.T) {
	c := parquetCases[0]
	format, _ := ParseFormat(c.format)
	data := writeTestParquet(t, format, caseRows(c.lines), parquetLayout{})
	got, _ := readParquet(t, data, "x.parquet")
	if len(got) != 8 {
		t.Fatalf("got %d records, want 8", len(got))
	}
	f := got[0]
	if f.Version != 2 || f.Account.String() != "123456789010" || f.Src != netip.MustParseAddr("172.31.16.139") ||
		f.DstPort != 22 || f.Protocol != 6 || f.Packets != 20 || f.Bytes != 4249 || f.Start != 1418530010 ||
		f.Action != event.Accept || f.Status != event.StatusOK {
		t.Errorf("record 1 = %+v", f)
	}
	nodata := got[2]
	if nodata.Status != event.StatusNoData || nodata.Src.IsValid() || nodata.Has&(event.HasSrcPort|event.HasPackets) != 0 || nodata.Has&event.HasStart == 0 {
		t.Errorf("NODATA record = %+v", nodata)
	}
	if got[6].Src != netip.MustParseAddr("2001:db8:1234:a100:8d6e:3477:df66:f105") {
		t.Errorf("IPv6 source = %v", got[6].Src)
	}
	if got[7].Src != netip.MustParseAddr("10.0.0.9") || got[7].Account.String() != "unknown" {
		t.Errorf("record 8 = %v %v", got[7].Src, got[7].Account)
	}
}

// TestParquetBadRows checks that a bad value makes a *ParseError naming
// the row, field and value, and that the rows around it decode.
func TestParquetBadRows(t *testing.T) {
	good := "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK"
	long := strings.Repeat("x", MaxLine+1)
	tests := []struct {
		name   string
		layout parquetLayout
		bad    string // a record with one bad value
		field  string
		value  string
		reason error
	}{
		{"port-range", parquetLayout{}, "2 123456789010 eni-1 172.31.16.139 172.31.16.21 20641 70000 6 20 4249 1418530010 1418530070 ACCEPT OK", "dstport", "70000", ErrRange},
		{"negative-port", parquetLayout{}, "2 123456789010 eni-1 172.31.16.139 172.31.16.21 -1 22 6 20 4249 1418530010 1418530070 ACCEPT OK", "srcport", "-1", ErrSyntax},
		{"protocol-range", parquetLayout{}, "2 123456789010 eni-1 172.31.16.139 172.31.16.21 20641 22 300 20 4249 1418530010 1418530070 ACCEPT OK", "protocol", "300", ErrRange},
		{"negative-bytes", parquetLayout{}, "2 123456789010 eni-1 172.31.16.139 172.31.16.21 20641 22 6 20 -4249 1418530010 1418530070 ACCEPT OK", "bytes", "-4249", ErrSyntax},
		{"bad-addr", parquetLayout{}, "2 123456789010 eni-1 not-an-ip 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK", "srcaddr", "not-an-ip", ErrSyntax},
		{"bad-action", parquetLayout{}, "2 123456789010 eni-1 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 MAYBE OK", "action", "MAYBE", ErrSyntax},
		{"string-number", parquetLayout{kind: allStrings}, "2 123456789010 eni-1 172.31.16.139 172.31.16.21 20641 22 6 lots 4249 1418530010 1418530070 ACCEPT OK", "packets", "lots", ErrSyntax},
		{"string-version", parquetLayout{kind: allStrings}, "v2 123456789010 eni-1 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK", "version", "v2", ErrSyntax},
		{"long-value", parquetLayout{}, "2 123456789010 " + long + " 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK", "interface-id", long[:maxValueInError], ErrLineTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows := caseRows([]string{good, tt.bad, good})
			// A value with a space cannot go through caseRows.
			rows = append(rows, caseRows([]string{good})[0])
			rows[3][2] = "eni 1"
			data := writeTestParquet(t, DefaultFormat, rows, tt.layout)
			r, err := NewParquetReader(bytes.NewReader(data), int64(len(data)), "bad.parquet")
			if err != nil {
				t.Fatal(err)
			}
			var f event.Flow
			if err := r.Next(&f); err != nil || f.DstPort != 22 || f.Origin.Line != 1 {
				t.Fatalf("row 1: %v, %+v", err, f)
			}
			err = r.Next(&f)
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("row 2: got %v, want a *ParseError", err)
			}
			want := ParseError{File: "bad.parquet", Line: 2, Field: tt.field, Value: tt.value, Err: tt.reason}
			if pe.File != want.File || pe.Line != want.Line || pe.Field != want.Field || pe.Value != want.Value || !errors.Is(pe, tt.reason) {
				t.Errorf("row 2: got %#v, want %#v", *pe, want)
			}
			if !strings.HasPrefix(pe.Error(), "bad.parquet:2: field ") {
				t.Errorf("error text %q", pe.Error())
			}
			if err := r.Next(&f); err != nil || f.Src != netip.MustParseAddr("172.31.16.139") || f.Origin.Line != 3 {
				t.Fatalf("row 3: %v, %+v", err, f)
			}
			err = r.Next(&f)
			if !errors.As(err, &pe) || pe.Field != "interface-id" || pe.Value != "eni 1" || pe.Line != 4 {
				t.Errorf("row 4: got %v, want a bad interface-id", err)
			}
			if err := r.Next(&f); err != io.EOF {
				t.Errorf("after the last row: %v, want io.EOF", err)
			}
			if err := r.Next(&f); err != io.EOF {
				t.Errorf("after io.EOF: %v, want io.EOF", err)
			}
		})
	}
}

// TestWriteParquetErrors checks the writer's refusals.
func TestWriteParquetErrors(t *testing.T) {
	two := Format{Columns: []Field{FieldSrcPort, FieldOther}, Names: []string{"srcport", "later-field"}}
	tests := []struct {
		name   string
		format Format
		rows   [][]string
		want   string
	}{
		{"short-row", two, [][]string{{"1", "x"}, {"1"}}, "row 2 has 1 values, the format has 2 columns"},
		{"not-an-int", two, [][]string{{"http", "x"}}, `row 1, column "srcport": "http" is not a 32-bit integer`},
		{"too-big", two, [][]string{{"4294967296", "x"}}, "not a 32-bit integer"},
		{"no-name", Format{Columns: []Field{FieldOther}}, nil, "column 1 has no name"},
		{"twice", Format{Columns: []Field{FieldSrcPort, FieldOther}, Names: []string{"srcport", "srcport"}}, nil, `column "srcport" appears twice`},
		{"empty", Format{}, nil, "empty format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := WriteParquet(io.Discard, tt.format, tt.rows)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	// The unknown column is written under its own name, with '-' made '_'.
	var buf bytes.Buffer
	if err := WriteParquet(&buf, two, [][]string{{"443", "x"}}); err != nil {
		t.Fatal(err)
	}
	r, err := NewParquetReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "two.parquet")
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Format().String(); got != "srcport later_field" {
		t.Errorf("format %q", got)
	}
}

// liberalRow is a flow log written by some other tool: physical types
// other than AWS's, required columns, odd names, a nested group.
type liberalRow struct {
	Version   int64             `parquet:"version"`
	Account   int64             `parquet:"account_id"`   // an integer account ID loses its leading zero
	Interface string            `parquet:"Interface_ID"` // case does not matter
	SrcAddr   *string           `parquet:"srcaddr,optional"`
	DstAddr   []byte            `parquet:"dstaddr"` // binary without the string annotation
	SrcPort   *string           `parquet:"srcport,optional"`
	DstPort   uint32            `parquet:"dstport"`
	Protocol  *float64          `parquet:"protocol,optional"` // pandas' nullable integers
	Packets   *int32            `parquet:"packets,optional"`
	Bytes     uint64            `parquet:"bytes"`
	Start     time.Time         `parquet:"start,timestamp(millisecond)"`
	End       int64             `parquet:"end,timestamp(microsecond)"`
	Action    *string           `parquet:"action,optional"`
	Status    string            `parquet:"log_status"`
	Flags     *int64            `parquet:"tcp_flags,optional"`
	Extra     struct{ A int32 } `parquet:"extra"`
	Unknown   *string           `parquet:"some_new_field,optional"`
}

func ptr[T any](v T) *T { return &v }

func TestParquetLiberalTypes(t *testing.T) {
	rows := []liberalRow{
		{
			Version: 2, Account: 12345678901, Interface: "eni-1", SrcAddr: ptr("10.0.0.1"), DstAddr: []byte("10.0.0.2"),
			SrcPort: ptr("443"), DstPort: 40000, Protocol: ptr(6.0), Packets: ptr(int32(3)), Bytes: 1 << 40,
			Start: time.Unix(1700000000, 999e6), End: 1700000060_500000, Action: ptr("ACCEPT"), Status: "OK", Flags: ptr(int64(18)),
			Unknown: ptr("anything"),
		},
		{
			Version: 2, Account: 210987654321, Interface: "-", Start: time.Unix(1700000000, 0), End: 1700000060_000000, Status: "NODATA",
		},
		{
			Version: 2, Account: 210987654321, Interface: "eni-2", SrcAddr: ptr("10.0.0.1"), DstAddr: []byte("10.0.0.2"),
			Protocol: ptr(6.5), Start: time.Unix(1700000000, 0), Status: "OK",
		},
	}
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[liberalRow](&buf)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, perrs := readParquet(t, buf.Bytes(), "liberal.parquet")

	format := "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status tcp-flags"
	want := readText(t, format, []string{
		"2 012345678901 eni-1 10.0.0.1 10.0.0.2 443 40000 6 3 1099511627776 1700000000 1700000060 ACCEPT OK 18",
		"2 210987654321 - - - - 0 - - 0 1700000000 1700000060 - NODATA -",
	})
	for i := range want {
		want[i].Origin = event.Origin{}
	}
	for i := range got {
		got[i].Origin = event.Origin{}
	}
	if diff := cmp.Diff(want, got, flowCmp); diff != "" {
		t.Errorf("records differ (-want +got):\n%s", diff)
	}
	if len(perrs) != 1 || perrs[0].Field != "protocol" || perrs[0].Value != "6.5" || perrs[0].Line != 3 {
		t.Errorf("parse errors %v, want protocol 6.5 on row 3", perrs)
	}

	r, err := NewParquetReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "liberal.parquet")
	if err != nil {
		t.Fatal(err)
	}
	wantNames := []string{"version", "account-id", "interface-id", "srcaddr", "dstaddr", "srcport", "dstport", "protocol",
		"packets", "bytes", "start", "end", "action", "log-status", "tcp-flags", "extra", "some_new_field"}
	if diff := cmp.Diff(wantNames, r.Format().Names); diff != "" {
		t.Errorf("format names (-want +got):\n%s", diff)
	}
	if fd := r.Format().Columns; fd[1] != FieldAccountID || fd[15] != FieldOther || fd[16] != FieldOther {
		t.Errorf("format columns %v", fd)
	}
	if r.NumRows() != 3 {
		t.Errorf("NumRows = %d", r.NumRows())
	}
}

// TestParquetOpenErrors checks files that are Parquet but cannot be flow
// logs: the error names the file and the problem.
func TestParquetOpenErrors(t *testing.T) {
	type noField struct {
		A int32  `parquet:"a"`
		B string `parquet:"b"`
	}
	type twice struct {
		A string `parquet:"account_id"`
		B string `parquet:"ACCOUNT_ID"`
	}
	type repeated struct {
		Src []string `parquet:"srcaddr"`
		Dst string   `parquet:"dstaddr"`
	}
	type int96 struct {
		Start deprecated.Int96 `parquet:"start"`
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"no-field", writeRows(t, []noField{{1, "x"}}), "no column names a flow log field"},
		{"twice", writeRows(t, []twice{{"1", "2"}}), `both hold field "account-id"`},
		{"repeated", writeRows(t, []repeated{{[]string{"10.0.0.1"}, "10.0.0.2"}}), `column "srcaddr" is repeated`},
		{"int96", writeRows(t, []int96{{}}), "unsupported physical type INT96"},
		{"empty", nil, "too short"},
		{"text", []byte("version account-id\n2 123456789012\n"), "not a Parquet file"},
		{"encrypted", []byte("PARE0000000000000000PARE"), "encrypted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewParquetReader(bytes.NewReader(tt.data), int64(len(tt.data)), "odd.parquet")
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), `"odd.parquet"`) {
				t.Errorf("got %v, want an error naming odd.parquet and containing %q", err, tt.want)
			}
		})
	}
}

func writeRows[T any](t testing.TB, rows []T) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := parquet.NewGenericWriter[T](&buf)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sampleParquet returns a small valid flow log with several row groups and
// pages, compressed with codec, and its number of rows.
func sampleParquet(t testing.TB, codec compress.Codec) ([]byte, int) {
	c := parquetCases[0]
	format, err := ParseFormat(c.format)
	if err != nil {
		t.Fatal(err)
	}
	rows := caseRows(c.lines)
	return writeTestParquet(t, format, rows, parquetLayout{opts: []parquet.WriterOption{
		parquet.MaxRowsPerRowGroup(5), parquet.PageBufferSize(128), parquet.Compression(codec),
	}}), len(rows)
}

// drain reads a Parquet flow log to its end or first fatal error, with a
// cap on the rows read, and reports how it ended. It fails the test on a
// panic (by not recovering) and on broken error contracts.
func drain(t testing.TB, data []byte, name string) (rows int, err error) {
	r, err := NewParquetReader(bytes.NewReader(data), int64(len(data)), name)
	if err != nil {
		if r != nil {
			t.Fatalf("NewParquetReader returned a reader and an error: %v", err)
		}
		return 0, err
	}
	var f event.Flow
	var pe *ParseError
	for n := int64(1); n <= 1<<16; n++ {
		err := r.Next(&f)
		switch {
		case err == nil:
			if f.Origin.Line != n || r.Row() != n {
				t.Fatalf("row %d has origin line %d", n, f.Origin.Line)
			}
			rows++
		case errors.As(err, &pe):
			if pe.Line != n || pe.File != name || pe.Err == nil {
				t.Fatalf("row %d: parse error %#v", n, pe)
			}
		case err == io.EOF:
			return rows, nil
		default:
			if !strings.Contains(err.Error(), strconv.Quote(name)) {
				t.Fatalf("error %q does not name the file", err)
			}
			if err2 := r.Next(&f); err2 == nil {
				t.Fatalf("Next after the fatal error %v returned a record", err)
			}
			return rows, err
		}
	}
	return rows, nil
}

// TestParquetDamaged feeds truncated, corrupted and random files to the
// reader: each must give an error (or bad rows), never a panic or a hang.
// Every codec is tried, since the library's LZ4, Snappy and Zstandard
// decoders trust sizes in the data.
func TestParquetDamaged(t *testing.T) {
	codecs := []compress.Codec{&parquet.Gzip, &parquet.Uncompressed, &parquet.Snappy, &parquet.Zstd, &parquet.Lz4Raw}
	for _, codec := range codecs {
		data, n := sampleParquet(t, codec)
		if rows, err := drain(t, data, "ok.parquet"); err != nil || rows != n {
			t.Fatalf("%s sample: %d rows, %v; want %d rows", codec, rows, err, n)
		}
		t.Run(codec.String()+"/truncated", func(t *testing.T) {
			for i := range len(data) {
				if _, err := drain(t, data[:i], "cut.parquet"); err == nil {
					t.Fatalf("file cut to %d of %d bytes: no error", i, len(data))
				}
			}
		})
		t.Run(codec.String()+"/data-cut-out", func(t *testing.T) {
			// Drop a slice of the data and keep the footer: the offsets
			// in the footer now point at the wrong bytes.
			for i := 4; i+64 < len(data)/2; i += 37 {
				d := append(bytes.Clone(data[:i]), data[i+64:]...)
				drain(t, d, "gap.parquet")
			}
		})
		t.Run(codec.String()+"/flipped-bytes", func(t *testing.T) {
			// A stride keeps the test quick and still hits data pages,
			// page headers and the footer (FuzzParquet goes further).
			stride := 5
			if testing.Short() {
				stride = 41
			}
			masks := []byte{0xff, 0x01, 0x80, 0x10}
			failed, tried := 0, 0
			for i := 0; i < len(data); i += stride {
				d := bytes.Clone(data)
				d[i] ^= masks[i%len(masks)]
				tried++
				if _, err := drain(t, d, "flip.parquet"); err != nil {
					failed++
				}
			}
			t.Logf("%d of %d corrupted files failed", failed, tried)
		})
	}
	t.Run("random", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range 2000 {
			d := make([]byte, rng.IntN(512))
			for j := range d {
				d[j] = byte(rng.Uint32())
			}
			if i%2 == 0 && len(d) >= 12 {
				// Valid magic numbers and a plausible footer length get
				// the bytes past the first checks.
				copy(d, "PAR1")
				copy(d[len(d)-4:], "PAR1")
				d[len(d)-8] = byte(rng.IntN(len(d) - 11))
				d[len(d)-7], d[len(d)-6], d[len(d)-5] = 0, 0, 0
			}
			if _, err := drain(t, d, "random.parquet"); err == nil {
				t.Fatalf("random file %x decoded without error", d)
			}
		}
	})
}

// TestParquetAllocs holds the reader to a small allocation budget per row:
// values are rendered into reused buffers and decoded by the allocation-free
// text field code; what remains is per page and per row group.
func TestParquetAllocs(t *testing.T) {
	data, rows := benchParquet(t, 20000)
	allocs := testing.AllocsPerRun(3, func() {
		if got, _ := drain(t, data, "allocs.parquet"); got != rows {
			t.Fatalf("got %d rows, want %d", got, rows)
		}
	})
	perRow := allocs / float64(rows)
	t.Logf("%.0f allocations for %d rows: %.3f per row", allocs, rows, perRow)
	if perRow > 0.15 {
		t.Errorf("%.3f allocations per row, want at most 0.15", perRow)
	}
}

// benchParquet returns a Parquet flow log of n realistic rows in the v5
// field order, as AWS would write it, and the same rows as text.
func benchParquet(t testing.TB, n int) ([]byte, int) {
	data, _ := benchData(t, n)
	return data, n
}

func benchData(t testing.TB, n int) (parquetData, text []byte) {
	c := parquetCases[1]
	format, err := ParseFormat(c.format)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	rows := make([][]string, n)
	var tb strings.Builder
	tb.WriteString(c.format + "\n")
	for i := range rows {
		r := strings.Fields(c.lines[i%2])
		r[1] = "10.0." + strconv.Itoa(rng.IntN(4)) + "." + strconv.Itoa(rng.IntN(250))
		r[2] = "52.95." + strconv.Itoa(rng.IntN(256)) + "." + strconv.Itoa(rng.IntN(256))
		r[3] = strconv.Itoa(1024 + rng.IntN(60000))
		r[6] = strconv.Itoa(1616729292 + i/100)
		r[7] = strconv.Itoa(1616729352 + i/100)
		r[9] = strconv.Itoa(1 + rng.IntN(1000))
		r[10] = strconv.Itoa(40 + rng.IntN(1500000))
		r[15] = "eni-" + strconv.Itoa(10000000+rng.IntN(8)) + "abcdef012"
		rows[i] = r
		tb.WriteString(strings.Join(r, " "))
		tb.WriteByte('\n')
	}
	var buf bytes.Buffer
	if err := WriteParquet(&buf, format, rows); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), []byte(tb.String())
}

// BenchmarkParquetReader measures the Parquet reader against the text
// reader on the same records:
//
//	go test -run XXX -bench Reader -count 6 ./internal/decode/vpcflow
func BenchmarkParquetReader(b *testing.B) {
	const n = 100000
	pq, text := benchData(b, n)
	b.Run("parquet", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(pq)))
		for b.Loop() {
			r, err := NewParquetReader(bytes.NewReader(pq), int64(len(pq)), "bench.parquet")
			if err != nil {
				b.Fatal(err)
			}
			var f event.Flow
			for {
				if err := r.Next(&f); err != nil {
					if err != io.EOF {
						b.Fatal(err)
					}
					break
				}
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("text", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(text)))
		r := NewReader(bytes.NewReader(text), "bench.log", nil)
		for b.Loop() {
			r.Reset(bytes.NewReader(text), "bench.log", nil)
			var f event.Flow
			for {
				if err := r.Next(&f); err != nil {
					if err != io.EOF {
						b.Fatal(err)
					}
					break
				}
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
}

// FuzzParquet feeds arbitrary bytes to the Parquet reader. The property is
// that it never panics, never loops, and keeps its error contract: records
// are numbered from 1, parse errors name the file and row, other errors
// name the file and end the input.
func FuzzParquet(f *testing.F) {
	// Seeds are tiny on purpose: the fuzzer minimizes every input that
	// finds new code, trying every pair of bytes to cut, so a seed of a
	// few KiB (any realistic flow log) stalls it for the whole run.
	// TestParquetDamaged covers realistic files. Each seed is two rows
	// of one or two columns, one row null, in one of the codecs a file
	// may use: GZIP as AWS writes, none, Snappy, Zstandard and LZ4, whose
	// decoders trust sizes in the data (see parquetcheck.go).
	small := Format{Columns: []Field{FieldDstPort, FieldSrcAddr}, Names: []string{"dstport", "srcaddr"}}
	rows := [][]string{{"22", "10.0.0.1"}, {"-", "-"}}
	for _, codec := range []parquet.WriterOption{
		parquet.Compression(&parquet.Gzip),
		parquet.Compression(&parquet.Uncompressed),
		parquet.Compression(&parquet.Snappy),
		parquet.Compression(&parquet.Zstd),
		parquet.Compression(&parquet.Lz4Raw),
	} {
		f.Add(writeTestParquet(f, small, rows, parquetLayout{opts: []parquet.WriterOption{codec}}))
	}
	one := Format{Columns: []Field{FieldAction}, Names: []string{"action"}}
	f.Add(writeTestParquet(f, one, [][]string{{"ACCEPT"}, {"-"}}, parquetLayout{opts: []parquet.WriterOption{
		parquet.Compression(&parquet.Uncompressed), parquet.MaxRowsPerRowGroup(1),
	}}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		drain(t, data, "fuzz.parquet")
	})
}
