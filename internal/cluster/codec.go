package cluster

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"picket/internal/event"
)

// batch is the records of one published message, in the order read.
// Flow records and DNS queries are held by value; API calls, which hold
// slices and maps, as copies.
type batch struct {
	Kinds []event.Kind
	Flows []event.Flow
	Calls []*event.APICall
	DNS   []event.DNSQuery
}

func (b *batch) len() int { return len(b.Kinds) }

func (b *batch) reset() {
	b.Kinds, b.Flows, b.Calls, b.DNS = b.Kinds[:0], b.Flows[:0], b.Calls[:0], b.DNS[:0]
}

// add copies rec, which the caller may reuse, into the batch. It reports
// false for a record of a kind the bus does not carry.
func (b *batch) add(rec event.Record) bool {
	switch r := rec.(type) {
	case *event.Flow:
		b.Flows = append(b.Flows, *r)
	case *event.APICall:
		b.Calls = append(b.Calls, r.Clone())
	case *event.DNSQuery:
		b.DNS = append(b.DNS, *r.Clone())
	default:
		return false
	}
	b.Kinds = append(b.Kinds, rec.Kind())
	return true
}

// each calls fn with each record of the batch in order.
func (b *batch) each(fn func(event.Record)) error {
	var f, c, d int
	for _, k := range b.Kinds {
		switch k {
		case event.KindFlow:
			if f >= len(b.Flows) {
				return fmt.Errorf("batch: %d flow records listed, %d carried", f+1, len(b.Flows))
			}
			fn(&b.Flows[f])
			f++
		case event.KindAPICall:
			if c >= len(b.Calls) || b.Calls[c] == nil {
				return fmt.Errorf("batch: API call %d missing", c+1)
			}
			fn(b.Calls[c])
			c++
		case event.KindDNSQuery:
			if d >= len(b.DNS) {
				return fmt.Errorf("batch: DNS query %d missing", d+1)
			}
			fn(&b.DNS[d])
			d++
		default:
			return fmt.Errorf("batch: record kind %d", k)
		}
	}
	return nil
}

// The wire format of a batch: "P", version 2, the kinds of its records
// in order (a byte each), the flow records (flowcodec.go), then the API
// calls and DNS queries, which are few beside them, as JSON (gob is not
// made to read bytes it cannot trust).
const (
	wireMagic   = 'P'
	wireVersion = 2
)

// rest is the JSON part of a batch.
type rest struct {
	Calls []*event.APICall
	DNS   []event.DNSQuery
}

func (b *batch) encode() ([]byte, error) {
	out := make([]byte, 0, 64+len(b.Kinds)+len(b.Flows)*96)
	out = append(out, wireMagic, wireVersion)
	out = binary.AppendUvarint(out, uint64(len(b.Kinds)))
	for _, k := range b.Kinds {
		out = append(out, byte(k))
	}
	out = binary.AppendUvarint(out, uint64(len(b.Flows)))
	var e flowEncoder
	e.reset()
	for i := range b.Flows {
		out = e.appendFlow(out, &b.Flows[i])
	}
	if len(b.Calls) == 0 && len(b.DNS) == 0 {
		return append(out, 0), nil
	}
	js, err := json.Marshal(rest{Calls: b.Calls, DNS: b.DNS})
	if err != nil {
		return nil, fmt.Errorf("encoding a batch of %d records: %w", b.len(), err)
	}
	out = binary.AppendUvarint(out, uint64(len(js)))
	return append(out, js...), nil
}

func decodeBatch(data []byte) (*batch, error) {
	if len(data) < 2 || data[0] != wireMagic {
		return nil, errors.New("decoding a batch: not a batch of records")
	}
	if data[1] != wireVersion {
		return nil, fmt.Errorf("decoding a batch: version %d, this picket reads %d", data[1], wireVersion)
	}
	d := flowDecoder{b: data[2:]}
	n, err := d.uvarint()
	if err != nil {
		return nil, fmt.Errorf("decoding a batch: %w", err)
	}
	kinds, err := d.bytes(n)
	if err != nil {
		return nil, fmt.Errorf("decoding a batch's kinds: %w", err)
	}
	b := &batch{Kinds: make([]event.Kind, len(kinds))}
	for i, k := range kinds {
		b.Kinds[i] = event.Kind(k)
	}
	n, err = d.uvarint()
	if err != nil {
		return nil, fmt.Errorf("decoding a batch: %w", err)
	}
	if n > uint64(len(d.b)) {
		return nil, fmt.Errorf("decoding a batch: %d flow records in %d bytes", n, len(d.b))
	}
	b.Flows = make([]event.Flow, n)
	for i := range b.Flows {
		if err := d.flow(&b.Flows[i]); err != nil {
			return nil, fmt.Errorf("decoding flow record %d of a batch: %w", i+1, err)
		}
	}
	n, err = d.uvarint()
	if err != nil {
		return nil, fmt.Errorf("decoding a batch: %w", err)
	}
	if n > 0 {
		g, err := d.bytes(n)
		if err != nil {
			return nil, fmt.Errorf("decoding a batch's API calls and DNS queries: %w", err)
		}
		var r rest
		if err := json.Unmarshal(g, &r); err != nil {
			return nil, fmt.Errorf("decoding a batch's API calls and DNS queries: %w", err)
		}
		b.Calls, b.DNS = r.Calls, r.DNS
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("decoding a batch: %d bytes after its records", len(d.b))
	}
	return b, nil
}

// GobEncode writes the batch in its wire format, for the checkpoints
// that hold a partition's held records.
func (b *batch) GobEncode() ([]byte, error) { return b.encode() }

// GobDecode reads what GobEncode wrote.
func (b *batch) GobDecode(data []byte) error {
	nb, err := decodeBatch(data)
	if err != nil {
		return err
	}
	*b = *nb
	return nil
}
