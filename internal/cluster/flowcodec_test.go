package cluster

import (
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strconv"
	"testing"

	"picket/internal/event"
)

// fill sets every field of the struct v points to a random value, none
// of them zero, so that a codec that drops or mixes up a field fails.
func fill(t *testing.T, r *rand.Rand, v reflect.Value) {
	t.Helper()
	switch {
	case v.Type() == idType:
		v.Set(reflect.ValueOf(event.Intern("s" + strconv.Itoa(r.IntN(50)))))
	case v.Type() == addrType:
		var a netip.Addr
		switch r.IntN(3) {
		case 0:
			a = netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), 1, byte(r.IntN(255) + 1)})
		case 1:
			a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(r.IntN(255) + 1)})
		default:
			a = netip.AddrFrom16([16]byte{0xfe, 0x80, 15: byte(r.IntN(255) + 1)}).WithZone("eth" + strconv.Itoa(r.IntN(3)))
		}
		v.Set(reflect.ValueOf(a))
	default:
		switch v.Kind() {
		case reflect.Uint8, reflect.Uint16, reflect.Uint64:
			v.SetUint(uint64(r.IntN(250)+1) << (r.IntN(2) * 7))
		case reflect.Int64:
			v.SetInt(r.Int64N(1<<40) - 1<<39 + 1)
		case reflect.Struct:
			for i := range v.NumField() {
				fill(t, r, v.Field(i))
			}
		default:
			t.Fatalf("cannot fill %s", v.Type())
		}
	}
}

// TestFlowCodecEveryField round-trips flow records whose every field is
// set, with API calls and DNS queries between them, and checks the
// batch's errors on cut and trailing bytes.
func TestFlowCodecEveryField(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var b batch
	var want []event.Record
	for i := range 300 {
		var rec event.Record
		switch i % 7 {
		case 3:
			rec = &event.APICall{EventTime: event.Time(i), Account: event.Intern("123456789012"), EventName: event.Intern("ListBuckets")}
		case 5:
			rec = &event.DNSQuery{T: event.Time(i), Account: event.Intern("123456789012"), Name: []byte("example.com"), QType: event.DNSTypeA}
		default:
			f := &event.Flow{}
			fill(t, r, reflect.ValueOf(f).Elem())
			rec = f
		}
		if !b.add(rec) {
			t.Fatalf("%T not carried", rec)
		}
		want = append(want, rec)
	}
	data, err := b.encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeBatch(data)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	if err := got.each(func(rec event.Record) {
		if !reflect.DeepEqual(rec, want[i]) {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, rec, want[i])
		}
		i++
	}); err != nil {
		t.Fatal(err)
	}
	if i != len(want) {
		t.Fatalf("%d records back, want %d", i, len(want))
	}
	for _, cut := range []int{1, 2, 3, len(data) / 2, len(data) - 1} {
		if _, err := decodeBatch(data[:cut]); err == nil {
			t.Errorf("a batch cut to %d of %d bytes decoded", cut, len(data))
		}
	}
	if _, err := decodeBatch(append(data, 0)); err == nil {
		t.Error("a batch with a trailing byte decoded")
	}
}

// FuzzDecodeBatch feeds the batch decoder arbitrary bytes: it returns
// an error or records, and never panics.
func FuzzDecodeBatch(f *testing.F) {
	var b batch
	fl := &event.Flow{Account: event.Intern("123456789012"), Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("fe80::1%eth0"), Start: 5, End: 9}
	b.add(fl)
	b.add(&event.DNSQuery{T: 7, Name: []byte("a.example")})
	data, err := b.encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte{wireMagic, wireVersion, 1, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := decodeBatch(data)
		if err != nil {
			return
		}
		_ = b.each(func(event.Record) {})
	})
}

// BenchmarkBatchCodec encodes and decodes a message of 1,024 flow
// records of a few interfaces, as a producer and a partition do.
func BenchmarkBatchCodec(b *testing.B) {
	var bt batch
	for i := range 1024 {
		bt.add(&event.Flow{Version: 2, Account: event.Intern("123456789012"), Interface: event.Intern("eni-" + strconv.Itoa(i%8)),
			Src: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), Dst: netip.MustParseAddr("203.0.113.7"),
			SrcPort: uint16(40000 + i), DstPort: 443, Protocol: 6, Packets: 10, Bytes: 1500, Start: event.Time(1000 + i), End: event.Time(1060 + i),
			Action: event.Accept, Region: event.Intern("us-east-1"), Origin: event.Origin{File: event.Intern("x.log.gz"), Line: int64(i + 2)}})
	}
	data, _ := bt.encode()
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for range b.N {
		data, err := bt.encode()
		if err != nil {
			b.Fatal(err)
		}
		if _, err := decodeBatch(data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*1024)/b.Elapsed().Seconds(), "records/s")
}
