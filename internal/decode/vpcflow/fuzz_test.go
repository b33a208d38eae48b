package vpcflow_test

import (
	"bufio"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"picket/internal/decode/vpcflow"
	"picket/internal/event"
)

// FuzzDecode feeds arbitrary lines to the decoder, with the default format
// and with every field. Whatever it accepts must render back to text that
// decodes to the same record (a round trip through AppendFlow), and
// nothing may panic.
func FuzzDecode(f *testing.F) {
	// Seeds: every line of the hand-written testdata, and some damage.
	files, _ := filepath.Glob("testdata/*.log")
	for _, path := range files {
		fh, err := os.Open(path)
		if err != nil {
			f.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			f.Add(sc.Text())
		}
		fh.Close()
	}
	f.Add("2 1 eni-1 ::ffff:10.0.0.1 fe80::1%eth0 0 0 1 1 1 1 1 - -")
	f.Add("2 1 eni-1 10.0.0.1 10.0.0.2 65535 0 255 18446744073709551615 0 0 1099511627775 REJECT SKIPDATA")
	f.Add("\xef\xbb\xbfversion srcaddr\t\tdstaddr")
	f.Fuzz(func(t *testing.T, line string) {
		for _, format := range []*vpcflow.Format{nil, &allFields} {
			d := vpcflow.NewDecoder("fuzz.log", format)
			var first event.Flow
			kind, err := d.Decode([]byte(line), &first)
			if err != nil || kind != vpcflow.LineRecord {
				continue
			}
			fm := d.Format()
			text := vpcflow.AppendFlow(nil, fm, &first)
			d2 := vpcflow.NewDecoder("fuzz.log", &fm)
			var second event.Flow
			if _, err := d2.Decode(text, &second); err != nil {
				t.Fatalf("line %q decoded, but its rendering %q does not: %v", line, text, err)
			}
			if diff := cmp.Diff(view(&first), view(&second)); diff != "" {
				t.Fatalf("round trip of %q through %q changed the record (-first +second):\n%s", line, text, diff)
			}
		}
	})
}
