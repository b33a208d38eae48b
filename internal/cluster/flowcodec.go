package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"unsafe"

	"picket/internal/event"
)

// Flow records are most of what the bus carries, so they have a codec of
// their own rather than gob's: each field in the order of the struct, as
// a varint or bytes, and each interned string once per message, then by
// its number in the message's table. The field list is read from the
// type by reflection once, so a field added to event.Flow is carried
// without a change here (TestFlowCodecEveryField fills every field); a
// field of a type the codec does not know panics at start.

type fieldKind uint8

const (
	fieldU8 fieldKind = iota
	fieldU16
	fieldU64
	fieldI64
	fieldID
	fieldAddr
)

type fieldOp struct {
	off  uintptr
	kind fieldKind
}

var (
	idType   = reflect.TypeFor[event.ID]()
	addrType = reflect.TypeFor[netip.Addr]()
	flowPlan = planOf(reflect.TypeFor[event.Flow](), 0, nil)
)

// planOf lists the fields of struct type t, at offset base, in order.
func planOf(t reflect.Type, base uintptr, ops []fieldOp) []fieldOp {
	for i := range t.NumField() {
		f := t.Field(i)
		off := base + f.Offset
		switch {
		case f.Type == idType:
			ops = append(ops, fieldOp{off, fieldID})
		case f.Type == addrType:
			ops = append(ops, fieldOp{off, fieldAddr})
		case f.Type.Kind() == reflect.Uint8:
			ops = append(ops, fieldOp{off, fieldU8})
		case f.Type.Kind() == reflect.Uint16:
			ops = append(ops, fieldOp{off, fieldU16})
		case f.Type.Kind() == reflect.Uint64:
			ops = append(ops, fieldOp{off, fieldU64})
		case f.Type.Kind() == reflect.Int64:
			ops = append(ops, fieldOp{off, fieldI64})
		case f.Type.Kind() == reflect.Struct:
			ops = planOf(f.Type, off, ops)
		default:
			panic(fmt.Sprintf("cluster: the flow codec cannot carry %s.%s of type %s", t.Name(), f.Name, f.Type))
		}
	}
	return ops
}

// flowEncoder appends flow records to a message.
type flowEncoder struct {
	ids map[event.ID]uint64
}

func (e *flowEncoder) reset() {
	if e.ids == nil {
		e.ids = map[event.ID]uint64{}
	}
	clear(e.ids)
}

func (e *flowEncoder) appendFlow(b []byte, f *event.Flow) []byte {
	base := unsafe.Pointer(f) //nolint:gosec // each offset and type comes from the Flow type itself (planOf)
	for _, op := range flowPlan {
		p := unsafe.Add(base, op.off)
		switch op.kind {
		case fieldU8:
			b = append(b, *(*uint8)(p))
		case fieldU16:
			b = binary.AppendUvarint(b, uint64(*(*uint16)(p)))
		case fieldU64:
			b = binary.AppendUvarint(b, *(*uint64)(p))
		case fieldI64:
			b = binary.AppendVarint(b, *(*int64)(p))
		case fieldID:
			b = e.appendID(b, *(*event.ID)(p))
		case fieldAddr:
			b = appendAddr(b, *(*netip.Addr)(p))
		}
	}
	return b
}

// appendID writes 0 for the empty ID, n for the message's nth string,
// or the next number followed by the string the first time.
func (e *flowEncoder) appendID(b []byte, id event.ID) []byte {
	if id == (event.ID{}) {
		return append(b, 0)
	}
	if n, ok := e.ids[id]; ok {
		return binary.AppendUvarint(b, n)
	}
	n := uint64(len(e.ids) + 1)
	e.ids[id] = n
	s := id.String()
	b = binary.AppendUvarint(b, n)
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendAddr(b []byte, a netip.Addr) []byte {
	switch {
	case !a.IsValid():
		return append(b, 0)
	case a.Is4():
		v := a.As4()
		return append(append(b, 4), v[:]...)
	default:
		v := a.As16()
		b = append(append(b, 16), v[:]...)
		z := a.Zone()
		b = binary.AppendUvarint(b, uint64(len(z)))
		return append(b, z...)
	}
}

var errShort = errors.New("flow record cut short")

// flowDecoder reads flow records from a message.
type flowDecoder struct {
	b   []byte
	ids []event.ID
}

func (d *flowDecoder) uvarint() (uint64, error) {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		return 0, errShort
	}
	d.b = d.b[n:]
	return v, nil
}

func (d *flowDecoder) bytes(n uint64) ([]byte, error) {
	if uint64(len(d.b)) < n {
		return nil, errShort
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v, nil
}

func (d *flowDecoder) flow(f *event.Flow) error {
	base := unsafe.Pointer(f) //nolint:gosec // each offset and type comes from the Flow type itself (planOf)
	for _, op := range flowPlan {
		p := unsafe.Add(base, op.off)
		switch op.kind {
		case fieldU8:
			if len(d.b) == 0 {
				return errShort
			}
			*(*uint8)(p), d.b = d.b[0], d.b[1:]
		case fieldU16:
			v, err := d.uvarint()
			if err != nil || v > 0xffff {
				return errors.Join(errShort, err)
			}
			*(*uint16)(p) = uint16(v)
		case fieldU64:
			v, err := d.uvarint()
			if err != nil {
				return err
			}
			*(*uint64)(p) = v
		case fieldI64:
			v, n := binary.Varint(d.b)
			if n <= 0 {
				return errShort
			}
			d.b = d.b[n:]
			*(*int64)(p) = v
		case fieldID:
			id, err := d.id()
			if err != nil {
				return err
			}
			*(*event.ID)(p) = id
		case fieldAddr:
			a, err := d.addr()
			if err != nil {
				return err
			}
			*(*netip.Addr)(p) = a
		}
	}
	return nil
}

func (d *flowDecoder) id() (event.ID, error) {
	n, err := d.uvarint()
	switch {
	case err != nil:
		return event.ID{}, err
	case n == 0:
		return event.ID{}, nil
	case n <= uint64(len(d.ids)):
		return d.ids[n-1], nil
	case n != uint64(len(d.ids))+1:
		return event.ID{}, fmt.Errorf("string %d before string %d", n, len(d.ids)+1)
	}
	l, err := d.uvarint()
	if err != nil {
		return event.ID{}, err
	}
	s, err := d.bytes(l)
	if err != nil {
		return event.ID{}, err
	}
	id := event.Intern(string(s))
	d.ids = append(d.ids, id)
	return id, nil
}

func (d *flowDecoder) addr() (netip.Addr, error) {
	if len(d.b) == 0 {
		return netip.Addr{}, errShort
	}
	tag := d.b[0]
	d.b = d.b[1:]
	switch tag {
	case 0:
		return netip.Addr{}, nil
	case 4:
		v, err := d.bytes(4)
		if err != nil {
			return netip.Addr{}, err
		}
		return netip.AddrFrom4([4]byte(v)), nil
	case 16:
		v, err := d.bytes(16)
		if err != nil {
			return netip.Addr{}, err
		}
		a := netip.AddrFrom16([16]byte(v))
		l, err := d.uvarint()
		if err != nil {
			return netip.Addr{}, err
		}
		z, err := d.bytes(l)
		if err != nil {
			return netip.Addr{}, err
		}
		if len(z) > 0 {
			a = a.WithZone(string(z))
		}
		return a, nil
	}
	return netip.Addr{}, fmt.Errorf("address tag %d", tag)
}
