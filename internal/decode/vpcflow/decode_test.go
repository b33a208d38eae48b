package vpcflow_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"picket/internal/decode/vpcflow"
	"picket/internal/event"
)

var update = flag.Bool("update", false, "rewrite golden files")

// allFields is a format with every field, for rendering decoded flows.
var allFields = func() vpcflow.Format {
	var f vpcflow.Format
	for _, fd := range vpcflow.Fields() {
		f.Columns = append(f.Columns, fd)
		f.Names = append(f.Names, fd.String())
	}
	return f
}()

// view renders a flow as field name -> value for every field it holds.
func view(f *event.Flow) map[string]string {
	line := string(vpcflow.AppendFlow(nil, allFields, f))
	vals := strings.Split(line, " ")
	m := map[string]string{"origin": f.Origin.String()}
	for i, v := range vals {
		if v != "-" {
			m[allFields.Names[i]] = v
		}
	}
	if f.Direction != event.DirectionUnknown {
		m["(direction)"] = f.Direction.String() + " by " + f.Basis.String()
	}
	return m
}

func decodeFile(t *testing.T, path string, format *vpcflow.Format) ([]map[string]string, []string) {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	r := vpcflow.NewReader(fh, filepath.Base(path), format)
	var flows []map[string]string
	var errs []string
	var f event.Flow
	for {
		err := r.Next(&f)
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *vpcflow.ParseError
		if errors.As(err, &pe) {
			errs = append(errs, pe.Error())
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		flows = append(flows, view(&f))
	}
	return flows, errs
}

// TestGolden decodes hand-written flow logs of every version and compares
// every field of every record with testdata/*.golden.json.
func TestGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.log")
	if len(files) == 0 {
		t.Fatal("no testdata")
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			flows, errs := decodeFile(t, path, nil)
			if len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			got, _ := json.MarshalIndent(flows, "", "  ")
			golden := strings.TrimSuffix(path, ".log") + ".golden.json"
			if *update {
				os.WriteFile(golden, append(got, '\n'), 0o644)
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			if diff := cmp.Diff(string(want), string(got)+"\n"); diff != "" {
				t.Errorf("decoded records differ from %s (-want +got):\n%s", golden, diff)
			}
		})
	}
}

func decodeLine(t *testing.T, header, line string) (*event.Flow, error) {
	t.Helper()
	var format *vpcflow.Format
	if header != "" {
		f, err := vpcflow.ParseFormat(header)
		if err != nil {
			t.Fatal(err)
		}
		format = &f
	}
	d := vpcflow.NewDecoder("test.log", format)
	var f event.Flow
	kind, err := d.Decode([]byte(line), &f)
	if err == nil && kind != vpcflow.LineRecord {
		t.Fatalf("line %q decoded as %v, not a record", line, kind)
	}
	return &f, err
}

// TestBadRecords checks that each kind of bad record gets an error naming
// the line, the field and the value, and the reason it is counted under.
func TestBadRecords(t *testing.T) {
	const v2 = ""
	const v5 = "version srcaddr dstaddr srcport dstport protocol tcp-flags type flow-direction traffic-path action log-status"
	tests := []struct {
		name, header, line, field, reason string
	}{
		{"port out of range", v2, "2 1 eni-1 10.0.0.1 10.0.0.2 1 70000 6 1 40 1 2 ACCEPT OK", "dstport", "range"},
		{"negative port", v2, "2 1 eni-1 10.0.0.1 10.0.0.2 -1 22 6 1 40 1 2 ACCEPT OK", "srcport", "syntax"},
		{"protocol out of range", v2, "2 1 eni-1 10.0.0.1 10.0.0.2 1 22 300 1 40 1 2 ACCEPT OK", "protocol", "range"},
		{"bad address", v2, "2 1 eni-1 10.0.0.256 10.0.0.2 1 22 6 1 40 1 2 ACCEPT OK", "srcaddr", "syntax"},
		{"address with leading zero", v2, "2 1 eni-1 10.0.0.01 10.0.0.2 1 22 6 1 40 1 2 ACCEPT OK", "srcaddr", "syntax"},
		{"bad IPv6", v2, "2 1 eni-1 2001:db8::1::2 10.0.0.2 1 22 6 1 40 1 2 ACCEPT OK", "srcaddr", "syntax"},
		{"packets overflow", v2, "2 1 eni-1 10.0.0.1 10.0.0.2 1 22 6 99999999999999999999999 40 1 2 ACCEPT OK", "packets", "range"},
		{"time not a number", v2, "2 1 eni-1 10.0.0.1 10.0.0.2 1 22 6 1 40 yesterday 2 ACCEPT OK", "start", "syntax"},
		{"unknown action", v2, "2 1 eni-1 10.0.0.1 10.0.0.2 1 22 6 1 40 1 2 ALLOW OK", "action", "syntax"},
		{"unknown log status", v2, "2 1 eni-1 10.0.0.1 10.0.0.2 1 22 6 1 40 1 2 ACCEPT FINE", "log-status", "syntax"},
		{"too few fields", v2, "2 1 eni-1 10.0.0.1 10.0.0.2 1 22 6 1 40 1 2 ACCEPT", "", "no-format"},
		{"binary", v2, "2 1 eni-1 10.0.0.1\x00\x01 10.0.0.2 1 22 6 1 40 1 2 ACCEPT OK", "", "binary"},
		{"tcp flags out of range", v5, "5 10.0.0.1 10.0.0.2 1 22 6 256 IPv4 egress 1 ACCEPT OK", "tcp-flags", "range"},
		{"unknown type", v5, "5 10.0.0.1 10.0.0.2 1 22 6 2 IPv5 egress 1 ACCEPT OK", "type", "syntax"},
		{"unknown direction", v5, "5 10.0.0.1 10.0.0.2 1 22 6 2 IPv4 sideways 1 ACCEPT OK", "flow-direction", "syntax"},
		{"traffic path out of range", v5, "5 10.0.0.1 10.0.0.2 1 22 6 2 IPv4 egress 9 ACCEPT OK", "traffic-path", "range"},
		{"wrong field count with a format", v5, "5 10.0.0.1 10.0.0.2 1 22 6 2 IPv4 egress 1 ACCEPT", "", "field-count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeLine(t, tt.header, tt.line)
			var pe *vpcflow.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *ParseError", err)
			}
			if pe.Field != tt.field || vpcflow.Reason(err) != tt.reason || pe.Line != 1 || pe.File != "test.log" {
				t.Errorf("got field %q reason %q at %s:%d, want field %q reason %q at test.log:1 (%v)", pe.Field, vpcflow.Reason(err), pe.File, pe.Line, tt.field, tt.reason, err)
			}
			if tt.field != "" && (pe.Value == "" || !strings.Contains(err.Error(), pe.Value)) {
				t.Errorf("message %q does not quote the bad value", err)
			}
		})
	}
}

// TestBadInputKeepsGoodRecords feeds a stream with every kind of damage
// between good records and checks each good record survives and each bad
// one is reported once, with its line number.
func TestBadInputKeepsGoodRecords(t *testing.T) {
	good := "2 111122223333 eni-1 10.0.0.1 10.0.0.2 40000 22 6 1 40 1767225600 1767225660 ACCEPT OK"
	var in bytes.Buffer
	in.WriteString(good + "\n")                                                                 // 1
	in.WriteString(strings.Repeat("x", 1<<20) + "\n")                                           // 2: a 1 MB line
	in.WriteString(good + "\n")                                                                 // 3
	in.WriteString("\x00\x01\x02\xff garbage \x7f\n")                                           // 4
	in.WriteString(good + "\r\n")                                                               // 5: CRLF
	in.WriteString("2 111122223333 eni-1 10.0.0.1 10.0.0.2 40000 99999 6 1 40 1 2 ACCEPT OK\n") // 6
	in.WriteString("\n")                                                                        // 7: blank
	in.WriteString(good)                                                                        // 8: no final newline
	r := vpcflow.NewReader(&in, "mixed.log", nil)
	var f event.Flow
	var lines []int64
	var bad []string
	for {
		err := r.Next(&f)
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *vpcflow.ParseError
		if errors.As(err, &pe) {
			bad = append(bad, fmt.Sprintf("%d:%s", pe.Line, vpcflow.Reason(err)))
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, f.Origin.Line)
	}
	if diff := cmp.Diff([]int64{1, 3, 5, 8}, lines); diff != "" {
		t.Errorf("good records (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"2:line-too-long", "4:binary", "6:range"}, bad); diff != "" {
		t.Errorf("bad records (-want +got):\n%s", diff)
	}
}

func TestEmptyInput(t *testing.T) {
	for _, in := range []string{"", "\n\n", "version account-id\n"} {
		r := vpcflow.NewReader(strings.NewReader(in), "empty.log", nil)
		var f event.Flow
		if err := r.Next(&f); !errors.Is(err, io.EOF) {
			t.Errorf("%q: %v, want io.EOF", in, err)
		}
	}
}

// A header may reappear (concatenated files) and change the format; a line
// of names none of which are fields is not a header.
func TestHeaders(t *testing.T) {
	in := "version srcaddr dstaddr\n" +
		"3 10.0.0.1 10.0.0.2\n" +
		"dstaddr srcaddr version\n" +
		"10.0.0.4 10.0.0.3 3\n" +
		"account_id interface_id srcaddr\n" + // Parquet-style names
		"111122223333 eni-9 10.0.0.5\n"
	r := vpcflow.NewReader(strings.NewReader(in), "h.log", nil)
	var got []string
	var f event.Flow
	for {
		err := r.Next(&f)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, f.Src.String()+">"+f.Dst.String()+" "+f.Interface.String())
	}
	want := []string{"10.0.0.1>10.0.0.2 ", "10.0.0.3>10.0.0.4 ", "10.0.0.5>invalid IP eni-9"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := vpcflow.ParseFormat("colour shape"); err == nil {
		t.Error("a format without any known field was accepted")
	}
	if _, err := vpcflow.ParseFormat("srcaddr srcaddr"); err == nil {
		t.Error("a format with a repeated field was accepted")
	}
	if f, err := vpcflow.ParseFormat("${srcaddr} ${dstaddr} ${some-future-field}"); err != nil || len(f.Columns) != 3 || f.Columns[2] != vpcflow.FieldOther {
		t.Errorf("LogFormat syntax with an unknown field: %v %v", f, err)
	}
}

// TestAllocs holds the hot path to zero allocations per record.
func TestAllocs(t *testing.T) {
	cases := map[string]struct{ header, line string }{
		"v2": {"", "2 111122223333 eni-0a1b2c3d4e5f60718 198.51.100.23 10.20.1.15 50123 22 6 3 180 1767225600 1767225660 ACCEPT OK"},
		"v5": {"version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status region az-id flow-direction traffic-path",
			"5 vpc-0f subnet-0a i-0a1b eni-0a1b 111122223333 IPv4 10.20.1.15 52.216.1.1 41000 443 10.20.1.15 52.216.1.1 6 5000 12 1767225600 1767225660 ACCEPT 3 OK eu-west-1 euw1-az2 egress 8"},
		"v2 IPv6": {"", "2 111122223333 eni-0a1b2c3d4e5f60718 2001:db8:1234::7 2600:1f18:aaaa:bbbb::15 40001 443 6 10 1500 1767225620 1767225680 ACCEPT OK"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			var format *vpcflow.Format
			if c.header != "" {
				f, _ := vpcflow.ParseFormat(c.header)
				format = &f
			}
			d := vpcflow.NewDecoder("allocs.log", format)
			line := []byte(c.line)
			var f event.Flow
			if _, err := d.Decode(line, &f); err != nil {
				t.Fatal(err)
			}
			n := testing.AllocsPerRun(1000, func() {
				if _, err := d.Decode(line, &f); err != nil {
					t.Fatal(err)
				}
			})
			if n != 0 {
				t.Errorf("%v allocations per record, want 0", n)
			}
		})
	}
	// Through the Reader, over many records.
	var buf bytes.Buffer
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&buf, "2 111122223333 eni-%d 10.0.%d.%d 198.51.100.%d %d 443 6 3 180 1767225600 1767225660 ACCEPT OK\n", i%20, i%256, i%200, i%250, 32768+i)
	}
	data := buf.Bytes()
	r := vpcflow.NewReader(bytes.NewReader(data), "many.log", nil)
	var f event.Flow
	allocs := testing.AllocsPerRun(5, func() {
		r.Reset(bytes.NewReader(data), "many.log", nil)
		for r.Next(&f) == nil {
		}
	})
	if perRecord := allocs / 10000; perRecord > 0.01 {
		t.Errorf("%.3f allocations per record through the Reader (%v per 10,000), want 0", perRecord, allocs)
	}
}

// TestSharedDatasets decodes the public flow log samples, when present.
func TestSharedDatasets(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "..", "shared", "datasets", "vpcflow")
	if _, err := os.Stat(dir); err != nil {
		t.Skip("shared datasets not present")
	}
	formatOf := func(version int) *vpcflow.Format {
		var f vpcflow.Format
		for _, fd := range vpcflow.Fields() {
			if v := fd.Version(); v <= version && v != 6 {
				f.Columns = append(f.Columns, fd)
				f.Names = append(f.Names, fd.String())
			}
		}
		return &f
	}
	tgw, _ := vpcflow.ParseFormat("version resource-type account-id tgw-id tgw-attachment-id tgw-src-vpc-account-id tgw-dst-vpc-account-id tgw-src-vpc-id tgw-dst-vpc-id tgw-src-subnet-id tgw-dst-subnet-id tgw-src-eni tgw-dst-eni tgw-src-az-id tgw-dst-az-id tgw-pair-attachment-id srcaddr dstaddr srcport dstport protocol packets bytes start end log-status type packets-lost-no-route packets-lost-blackhole packets-lost-mtu-exceeded packets-lost-ttl-expired tcp-flags region flow-direction pkt-src-aws-service pkt-dst-aws-service")
	// Files without a header line need their format.
	formats := map[string]*vpcflow.Format{
		"test-v5-all-fields.log": formatOf(5),
		"test-ecs-samples.log":   formatOf(7),
		"test-v8-samples.log":    formatOf(8),
		"test-tgw-samples.log":   &tgw,
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.log"))
	total := 0
	for _, path := range files {
		flows, errs := decodeFile(t, path, formats[filepath.Base(path)])
		if len(errs) > 0 {
			t.Errorf("%s: %v", path, errs)
		}
		if len(flows) == 0 {
			t.Errorf("%s: no records", path)
		}
		total += len(flows)
	}
	t.Logf("%d records from %d files", total, len(files))
}

// TestHeaderUnknownField checks a header naming a field picket does not
// know is reported at its line, with the nearest known name, and that
// the known columns are still decoded.
func TestHeaderUnknownField(t *testing.T) {
	tests := []struct {
		name, header, record string
		err                  string
		src, dst             string
	}{
		{
			name:   "misspelled",
			header: "version account-id interface-id srcadr dstaddr srcport dstport protocol packets bytes start end action log-status",
			record: "2 111122223333 eni-1 10.0.0.1 10.0.0.2 40000 22 6 1 40 1767225600 1767225660 ACCEPT OK",
			err:    `h.log:1: the header names unknown field "srcadr" (nearest known field: "srcaddr"); its column is skipped`,
			src:    "invalid IP", dst: "10.0.0.2",
		},
		{
			name:   "misspelled and newer",
			header: "srcaddr dst_adr version some-future-field",
			record: "10.0.0.1 10.0.0.2 2 x",
			err:    `h.log:1: the header names unknown fields "dst-adr" (nearest known field: "dstaddr"), "some-future-field" (nearest known field: "interface-id"); their columns are skipped`,
			src:    "10.0.0.1", dst: "invalid IP",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.header + "\n" + tt.record + "\n"
			r := vpcflow.NewReader(strings.NewReader(in), "h.log", nil)
			var f event.Flow
			err := r.Next(&f)
			var pe *vpcflow.ParseError
			var ue *vpcflow.UnknownFieldError
			if !errors.As(err, &pe) || !errors.As(err, &ue) || vpcflow.Reason(err) != "unknown-field" || pe.Line != 1 {
				t.Fatalf("header: %v, want an unknown-field error at line 1", err)
			}
			if err.Error() != tt.err {
				t.Errorf("error\n%s\nwant\n%s", err, tt.err)
			}
			if r.Header() != tt.header || r.Offset() != int64(len(tt.header)+1) {
				t.Errorf("header %q at offset %d: the reported header must still be taken", r.Header(), r.Offset())
			}
			if err := r.Next(&f); err != nil {
				t.Fatalf("record: %v", err)
			}
			if f.Src.String() != tt.src || f.Dst.String() != tt.dst || f.Version != 2 {
				t.Errorf("record %s>%s version %d, want %s>%s version 2", f.Src, f.Dst, f.Version, tt.src, tt.dst)
			}
			// A reader resuming after the header does not report it again.
			r2 := vpcflow.NewReader(strings.NewReader(tt.record+"\n"), "h.log", nil)
			if err := r2.Resume(int64(len(tt.header)+1), 1, tt.header); err != nil {
				t.Fatal(err)
			}
			if err := r2.Next(&f); err != nil || f.Origin.Line != 2 {
				t.Errorf("resumed: %v at line %d", err, f.Origin.Line)
			}
		})
	}
}
