package cluster

import (
	"bytes"
	"encoding/gob"
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

func (b *batch) encode() ([]byte, error) {
	var buf bytes.Buffer
	if err := gob.NewEncoder(&buf).Encode(b); err != nil {
		return nil, fmt.Errorf("encoding a batch of %d records: %w", b.len(), err)
	}
	return buf.Bytes(), nil
}

func decodeBatch(data []byte) (*batch, error) {
	b := &batch{}
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(b); err != nil {
		return nil, fmt.Errorf("decoding a batch: %w", err)
	}
	return b, nil
}
