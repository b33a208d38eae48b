package ingest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"picket/internal/event"
	"picket/internal/source"
)

// aheadCorpus writes inputs whose records interleave in time: flow log
// text with CloudTrail event lines and bad lines among its records, and a
// CloudTrail file, enough records for several batches.
func aheadCorpus(t *testing.T) []source.Input {
	t.Helper()
	const header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n"
	call := func(i int, ts int64) string {
		return fmt.Sprintf(`{"eventVersion":"1.09","eventTime":"%s","eventSource":"ec2.amazonaws.com","eventName":"E%d","eventID":"id-%d",`+
			`"requestParameters":{"instanceId":"i-%d","note":"a\"quoted\\u0041 value"},"awsRegion":"us-east-1","recipientAccountId":"111122223333",`+
			`"userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/a%d"}}`,
			time.Unix(ts, 0).UTC().Format(time.RFC3339), i, i, i, i%7)
	}
	dir := t.TempDir()
	var inputs []source.Input
	for f := range 3 {
		var b strings.Builder
		b.WriteString(header)
		for i := range 1500 {
			ts := int64(1772618400 + i*2 + f) // the files interleave
			fmt.Fprintf(&b, "2 123456789012 eni-%d%03d 10.0.%d.5 198.51.100.%d %d 443 6 10 4000 %d %d ACCEPT OK\n", f, i%17, f, i%250, 1024+i, ts-60, ts)
			switch {
			case i%97 == f:
				b.WriteString(call(f*10000+i, ts) + "\n")
			case i%211 == 3:
				b.WriteString("2 123456789012 eni-truncated\n")
			case i%300 == 7:
				fmt.Fprintf(&b, "2 123456789012 eni-%d 10.0.0.1 10.0.0.2 1 2 6 1 1 %d %d ACCEPT NODATA\n", f, ts, ts)
			}
		}
		path := filepath.Join(dir, fmt.Sprintf("flows-%d.log", f))
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, source.Input{Name: path, Path: path, Size: int64(b.Len())})
	}
	var recs []string
	for i := range 800 {
		recs = append(recs, call(50000+i, int64(1772618400+i*3)))
	}
	path := filepath.Join(dir, "trail.json")
	data := `{"Records":[` + strings.Join(recs, ",") + `]}`
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return append(inputs, source.Input{Name: path, Path: path, Size: int64(len(data))})
}

// snapshot is a record and its borrowed bytes, owned.
func snapshot(rec event.Record) event.Record {
	switch r := rec.(type) {
	case *event.Flow:
		f := *r
		return &f
	case *event.APICall:
		return r.Clone()
	}
	panic(fmt.Sprintf("record of kind %v", rec.Kind()))
}

var recordsEqual = cmp.Options{
	cmp.Comparer(func(a, b event.ID) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
}

// mergeCounts is what a Merge and its Feed counted, and what their
// callbacks were told.
type mergeCounts struct {
	Inputs, Records, NoData int
	Bytes                   int64
	Skipped                 map[string]uint64
	Bad, InputErrors        []string
}

func newTestMerge(maxOpen int, stopAtBad int) (*Merge, *mergeCounts) {
	c := &mergeCounts{}
	feed := &Feed{Account: event.Intern("000000000000"), Region: event.Intern("us-east-1")}
	feed.Bad = func(reason string, err error) error {
		c.Bad = append(c.Bad, reason+": "+err.Error())
		if stopAtBad > 0 && len(c.Bad) == stopAtBad {
			return errors.New("strict")
		}
		return nil
	}
	m := &Merge{Feed: feed, MaxOpen: maxOpen, InputError: func(name string, err error) {
		c.InputErrors = append(c.InputErrors, name+": "+err.Error())
	}}
	return m, c
}

func (c *mergeCounts) fill(m *Merge) {
	c.Inputs, c.Bytes, c.Records, c.Skipped = m.Inputs, m.Bytes, int(m.Feed.RecordsTotal()), m.Feed.Skipped
	c.NoData = int(m.Feed.Enrich.NoData)
}

// TestRunBatchesSameAsRun reads the same inputs with Run and RunBatches:
// the same records in the same order, the same counts and callbacks, and
// each batch intact while the reading has run ahead of it.
func TestRunBatchesSameAsRun(t *testing.T) {
	inputs := aheadCorpus(t)
	for _, tt := range []struct {
		name               string
		maxOpen, stopAtBad int
	}{
		{"merged", 0, 0},
		{"groups of two", 2, 0},
		{"one at a time", 1, 0},
		{"stopped at the third bad record", 0, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m, want := newTestMerge(tt.maxOpen, tt.stopAtBad)
			var wantRecs []event.Record
			wantErr := m.Run(t.Context(), inputs, func(rec event.Record) error {
				wantRecs = append(wantRecs, snapshot(rec))
				return nil
			})
			want.fill(m)

			m, got := newTestMerge(tt.maxOpen, tt.stopAtBad)
			var gotRecs []event.Record
			batches := 0
			gotErr := m.RunBatches(t.Context(), inputs, func(b *Batch) error {
				if batches++; batches == 1 {
					// Let the reading run ahead and fill every batch
					// there is: were a record still the decoder's,
					// it would have changed by now.
					time.Sleep(50 * time.Millisecond)
				}
				for i := range b.Len() {
					gotRecs = append(gotRecs, snapshot(b.At(i)))
				}
				return nil
			})
			got.fill(m)

			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
				t.Errorf("RunBatches returned %v, Run %v", gotErr, wantErr)
			}
			if tt.stopAtBad == 0 && (len(wantRecs) < 3*batchRecords || batches < 3) {
				t.Fatalf("%d records in %d batches: too few to cross batches", len(wantRecs), batches)
			}
			if len(gotRecs) != len(wantRecs) {
				t.Errorf("%d records, want %d", len(gotRecs), len(wantRecs))
			}
			for i := range min(len(gotRecs), len(wantRecs)) {
				if reflect.DeepEqual(wantRecs[i], gotRecs[i]) {
					continue
				}
				if diff := cmp.Diff(wantRecs[i], gotRecs[i], recordsEqual); diff != "" {
					t.Fatalf("record %d (%v) differs (-Run +RunBatches):\n%s", i, wantRecs[i].Source(), diff)
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("counts differ (-Run +RunBatches):\n%s", diff)
			}
		})
	}
}

// TestRunBatchesStops checks that an error of emit stops the reading and
// is the one returned, as is the context's.
func TestRunBatchesStops(t *testing.T) {
	inputs := aheadCorpus(t)
	t.Run("emit fails", func(t *testing.T) {
		m, _ := newTestMerge(0, 0)
		stop := errors.New("enough")
		n := 0
		err := m.RunBatches(t.Context(), inputs, func(b *Batch) error {
			if n++; n == 2 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || n != 2 {
			t.Errorf("RunBatches returned %v after %d batches, want %v after 2", err, n, stop)
		}
	})
	t.Run("context canceled", func(t *testing.T) {
		m, _ := newTestMerge(0, 0)
		ctx, cancel := context.WithCancel(t.Context())
		n := 0
		err := m.RunBatches(ctx, inputs, func(b *Batch) error {
			if n++; n == 1 {
				cancel()
			}
			return nil
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("RunBatches returned %v, want %v", err, context.Canceled)
		}
	})
}

// TestBatchCopiesEveryBorrowedField checks that a batch owns what it
// holds: every []byte field of an APICall is copied (a field added to
// APICall must be added to borrowed), and Flow holds values only.
func TestBatchCopiesEveryBorrowedField(t *testing.T) {
	var c event.APICall
	v := reflect.ValueOf(&c).Elem()
	listed := map[uintptr]bool{}
	for _, p := range borrowed(&c) {
		listed[reflect.ValueOf(p).Pointer()] = true
	}
	bytesType := reflect.TypeFor[[]byte]()
	for i := range v.NumField() {
		f := v.Field(i)
		if f.Type() != bytesType {
			continue
		}
		if !listed[f.Addr().Pointer()] {
			t.Errorf("APICall.%s is not in borrowed", v.Type().Field(i).Name)
		}
		f.SetBytes([]byte("value of " + v.Type().Field(i).Name))
	}
	c.RequestID = []byte{} // empty, not absent
	c.SharedEventID = nil
	want := c.Clone()
	var b Batch
	if !b.add(&c) {
		t.Fatal("add refused an API call")
	}
	for _, p := range borrowed(&c) {
		for i := range *p {
			(*p)[i] = 'x'
		}
	}
	got := b.At(0).(*event.APICall)
	if diff := cmp.Diff(want, got, recordsEqual); diff != "" {
		t.Errorf("the batch's copy changed with the decoder's bytes (-want +got):\n%s", diff)
	}
	if got.RequestID == nil || got.SharedEventID != nil {
		t.Errorf("RequestID %v, SharedEventID %v: want empty and nil kept apart", got.RequestID, got.SharedEventID)
	}

	// Flow is copied by assignment: nothing in it may point at a
	// decoder's memory.
	idType, addrType := reflect.TypeFor[event.ID](), reflect.TypeFor[netip.Addr]()
	var walk func(path string, ty reflect.Type)
	walk = func(path string, ty reflect.Type) {
		switch {
		case ty == idType, ty == addrType:
			return // interned, immutable
		case ty.Kind() == reflect.Struct:
			for i := range ty.NumField() {
				walk(path+"."+ty.Field(i).Name, ty.Field(i).Type)
			}
		case ty.Kind() >= reflect.Bool && ty.Kind() <= reflect.Complex128, ty.Kind() == reflect.Array && ty.Elem().Kind() <= reflect.Complex128:
		default:
			t.Errorf("%s is a %v: copying a Flow by value would share it", path, ty)
		}
	}
	walk("Flow", reflect.TypeFor[event.Flow]())
}

// TestBatchCopiesDNSQuery checks that a batch owns the name and answer
// data of the DNS queries it holds, and that these are DNSQuery's only
// borrowed fields.
func TestBatchCopiesDNSQuery(t *testing.T) {
	name, data := []byte("a.example.com"), []byte("cdn.example.net.")
	q := &event.DNSQuery{Name: name, NumAnswers: 2}
	q.Answers[0].Addr = netip.MustParseAddr("192.0.2.1")
	q.Answers[1].Data = data
	var b Batch
	if !b.add(q) {
		t.Fatal("add refused a DNS query")
	}
	copy(name, "xxxxxxxxxxxxx")
	copy(data, "xxxxxxxxxxxxxxxx")
	got := b.At(0).(*event.DNSQuery)
	if string(got.Name) != "a.example.com" || string(got.Answers[1].Data) != "cdn.example.net." || got.Answers[0].Data != nil {
		t.Errorf("the batch's copy changed with the decoder's bytes: %q %q", got.Name, got.Answers[1].Data)
	}
	var fields []string
	var walk func(path string, ty reflect.Type)
	walk = func(path string, ty reflect.Type) {
		switch ty.Kind() {
		case reflect.Slice:
			fields = append(fields, path)
		case reflect.Struct:
			for i := range ty.NumField() {
				walk(path+"."+ty.Field(i).Name, ty.Field(i).Type)
			}
		case reflect.Array:
			walk(path+"[]", ty.Elem())
		}
	}
	walk("DNSQuery", reflect.TypeFor[event.DNSQuery]())
	if want := []string{"DNSQuery.Name", "DNSQuery.Answers[].Data"}; fmt.Sprint(fields) != fmt.Sprint(want) {
		t.Errorf("borrowed fields %q, want %q: a new one must be copied in Batch.add", fields, want)
	}
}

// TestBatchNoAllocations holds a recycled batch to no allocation per
// record, flows and API calls alike.
func TestBatchNoAllocations(t *testing.T) {
	f := &event.Flow{Src: netip.MustParseAddr("10.0.0.1"), Account: event.Intern("123456789012")}
	c := &event.APICall{Raw: []byte(`{"eventName":"E"}`), EventID: []byte("id")}
	var b Batch
	fill := func() {
		b.reset()
		for i := range batchRecords {
			if i%10 == 0 {
				b.add(c)
			} else {
				b.add(f)
			}
		}
	}
	fill()
	if n := testing.AllocsPerRun(20, fill); n != 0 {
		t.Errorf("%v allocations per batch of %d records, want 0", n, batchRecords)
	}
}

// BenchmarkRunBatches measures the hand-off alone: a batch filled with
// flows and handed to a consumer on another goroutine, per record.
func BenchmarkRunBatches(b *testing.B) {
	f := &event.Flow{Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.2"), Account: event.Intern("123456789012")}
	full := make(chan *Batch, aheadBatches)
	free := make(chan *Batch, aheadBatches+2)
	for range cap(free) {
		free <- &Batch{}
	}
	go func() {
		for bt := range full {
			for i := range bt.Len() {
				_ = bt.At(i).Time()
			}
			bt.reset()
			free <- bt
		}
	}()
	bt := <-free
	b.ReportAllocs()
	for b.Loop() {
		bt.add(f)
		if bt.full() {
			full <- bt
			bt = <-free
		}
	}
	close(full)
}
