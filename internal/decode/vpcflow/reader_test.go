package vpcflow

import (
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"picket/internal/event"
)

// TestReaderLines checks how the reader splits lines, skips overlong
// ones whole, leaves a cut last line of a growing input, and counts the
// bytes it consumed.
func TestReaderLines(t *testing.T) {
	rec := func(port int) string {
		return "2 123456789012 eni-1 10.0.0.1 10.0.0.2 " + strconv.Itoa(port) + " 22 6 1 40 1700000000 1700000060 ACCEPT OK"
	}
	long := strings.Repeat("x", 300) // longer than the buffer
	tests := []struct {
		name    string
		in      string
		partial bool
		want    []string // source ports, "!long" for a skipped overlong line
		offset  int64    // bytes the lines took
	}{
		{"lines", rec(1) + "\n" + rec(2) + "\n\n" + rec(3) + "\n", true, []string{"1", "2", "3"}, int64(3*len(rec(1)) + 4)},
		{"cut last line waits", rec(1) + "\n" + rec(2), true, []string{"1"}, int64(len(rec(1)) + 1)},
		{"last line of a complete input", rec(1) + "\n" + rec(2), false, []string{"1", "2"}, int64(2*len(rec(1)) + 1)},
		{"overlong line skipped whole", rec(1) + "\n" + long + "\n" + rec(2) + "\n", true, []string{"1", "!long", "2"}, int64(2*len(rec(1)) + len(long) + 3)},
		{"overlong cut line waits", rec(1) + "\n" + long, true, []string{"1"}, int64(len(rec(1)) + 1)},
		{"overlong last line of a complete input", rec(1) + "\n" + long, false, []string{"1", "!long"}, int64(len(rec(1)) + 1 + len(long))},
		{"empty", "", false, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A small buffer and a reader in two parts exercise the
			// refills.
			in := io.MultiReader(strings.NewReader(tt.in[:len(tt.in)/2]), strings.NewReader(tt.in[len(tt.in)/2:]))
			r := NewReader(in, "test", nil)
			r.buf, r.maxLine = make([]byte, 160), 90
			r.SetPartial(tt.partial)
			var got []string
			var f event.Flow
			for {
				err := r.Next(&f)
				if errors.Is(err, io.EOF) {
					break
				}
				if errors.Is(err, ErrLineTooLong) {
					got = append(got, "!long")
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, strconv.Itoa(int(f.SrcPort)))
			}
			if !cmp.Equal(got, tt.want) || r.Offset() != tt.offset {
				t.Errorf("records %q taking %d bytes, want %q taking %d", got, r.Offset(), tt.want, tt.offset)
			}
		})
	}
}
