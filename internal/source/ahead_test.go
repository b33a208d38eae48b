package source

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

// A gzip file is decompressed ahead of the reader: the bytes are the
// same, in order, whatever the sizes of the reads, and a truncated file
// still ends in io.ErrUnexpectedEOF rather than a clean end.
func TestAheadGzip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	want := make([]byte, 3*aheadChunk+12345)
	for i := range want {
		want[i] = byte('a' + rng.IntN(4))
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(want)
	zw.Close()
	dir := t.TempDir()
	whole, cut := filepath.Join(dir, "whole.gz"), filepath.Join(dir, "cut.gz")
	os.WriteFile(whole, z.Bytes(), 0o644)
	os.WriteFile(cut, z.Bytes()[:z.Len()/2], 0o644)

	s, err := Input{Name: "whole.gz", Path: whole, Ahead: true}.Open(nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.ahead == nil {
		t.Fatal("a gzip file opened with Ahead is not read ahead")
	}
	var got []byte
	buf := make([]byte, 7777)
	for {
		n, err := s.r.Read(buf[:1+rng.IntN(len(buf)-1)])
		got = append(got, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes, want the %d written", len(got), len(want))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Input{Name: "cut.gz", Path: cut, Ahead: true}.Open(nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(io.Discard, s.r)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated gzip read to the end with %v, want io.ErrUnexpectedEOF", err)
	}
	s.Close()

	// Closed half way, the goroutine stops.
	s, err = Input{Name: "whole.gz", Path: whole, Ahead: true}.Open(nil)
	if err != nil {
		t.Fatal(err)
	}
	s.r.Read(buf)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
