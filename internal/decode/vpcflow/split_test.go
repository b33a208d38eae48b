package vpcflow

import (
	"testing"
)

// splitReference is split as first written, byte by byte with a test for
// each kind of byte: the obvious reference for the table-driven split.
func splitReference(line []byte, cols *[maxColumns][]byte) int {
	n := 0
	i := 0
	for i < len(line) {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i == len(line) {
			break
		}
		j := i
		for j < len(line) && line[j] != ' ' && line[j] != '\t' {
			if line[j] < 0x20 || line[j] == 0x7f {
				return -2
			}
			j++
		}
		if n == maxColumns {
			return -1
		}
		cols[n] = line[i:j]
		n++
		i = j
	}
	return n
}

// FuzzSplit checks split against splitReference: the same count, and the
// same columns, on any line.
func FuzzSplit(f *testing.F) {
	// Seeds: a record, separators of both kinds and in runs, control
	// bytes in and between columns, DEL, UTF-8, too many columns.
	f.Add("2 123456789012 eni-002b93c6d825c7844 10.0.17.205 10.0.0.2 38972 53 17 1 68 1772618400 1772618400 ACCEPT OK")
	f.Add("  a\t\tb \t c  ")
	f.Add("a b\x00c")
	f.Add("a \x01 b")
	f.Add("a\x7fb")
	f.Add("caf\xc3\xa9 \xff\xfe")
	f.Add("\r")
	f.Add(string(make([]byte, 300)))
	long := ""
	for range maxColumns + 1 {
		long += "x "
	}
	f.Add(long)
	f.Fuzz(func(t *testing.T, line string) {
		var got, want [maxColumns][]byte
		n, m := split([]byte(line), &got), splitReference([]byte(line), &want)
		if n != m {
			t.Fatalf("split(%q) = %d, reference %d", line, n, m)
		}
		for i := range max(n, 0) {
			if string(got[i]) != string(want[i]) {
				t.Fatalf("split(%q): column %d is %q, reference %q", line, i, got[i], want[i])
			}
		}
	})
}

// BenchmarkSplit measures split alone on a version 2 record.
func BenchmarkSplit(b *testing.B) {
	line := []byte("2 123456789012 eni-002b93c6d825c7844 10.0.17.205 10.0.0.2 38972 53 17 1 68 1772618400 1772618400 ACCEPT OK")
	var cols [maxColumns][]byte
	b.SetBytes(int64(len(line)))
	for _, impl := range []struct {
		name string
		f    func([]byte, *[maxColumns][]byte) int
	}{{"table", split}, {"reference", splitReference}} {
		b.Run(impl.name, func(b *testing.B) {
			b.SetBytes(int64(len(line)))
			for b.Loop() {
				impl.f(line, &cols)
			}
		})
	}
}
