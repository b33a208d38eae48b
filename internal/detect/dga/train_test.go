package dga

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"testing"
)

// The shipped model is trained on the registered-domain labels of the
// netrack plain browsing names (dns/dns_tunnel_qnames/
// netrack_plain_qnames.csv.gz of the shared datasets, Apache-2.0): the
// names a browser resolved while visiting popular sites. Only the
// trigram counts go into model.txt, never the names.
//
//	go test ./internal/detect/dga -run TestTrain -train   # rewrites model.txt
var train = flag.Bool("train", false, "retrain model.txt from the training names in the shared datasets")

// trainingSet is the training names' file, under datasets.
const trainingSet = "dns_tunnel_qnames/netrack_plain_qnames.csv.gz"

// folds is the number of parts the training labels are split into to
// measure the scores of labels the model has not seen: each part is
// scored by a model of the others.
const folds = 5

// trainQuantiles are the held-out score quantiles the model file
// records.
var trainQuantiles = []string{"0.5", "0.9", "0.99", "0.999", "1"}

// netrackNames returns the lowercased query names of a netrack list.
func netrackNames(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	var out [][]byte
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		line := sc.Bytes()
		comma := bytes.IndexByte(line, ',')
		if comma < 0 || string(line[:comma]) == "label" {
			continue
		}
		out = append(out, bytes.ToLower(bytes.TrimSuffix(line[comma+1:], []byte("."))))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return out, nil
}

// trainingLabels returns the distinct registered-domain labels of names
// that the model can score, sorted: each label counts once however
// often it was queried, so a few busy sites do not make the model.
func trainingLabels(names [][]byte) []string {
	seen := map[string]bool{}
	for _, n := range names {
		l, _, ok := Registered(n)
		if !ok || idn(l) {
			continue
		}
		if _, ok := (&Model{}).Score(l); ok {
			seen[string(l)] = true
		}
	}
	out := make([]string, 0, len(seen))
	for l := range seen {
		out = append(out, l)
	}
	slices.Sort(out)
	return out
}

// countGrams adds the trigrams of labels to counts.
func countGrams(counts []uint32, labels []string) {
	for _, l := range labels {
		grams([]byte(l), func(i int) { counts[i]++ })
	}
}

// modelText renders counts and the header values as a model file.
func modelText(counts []uint32, labels int, quantiles map[string]float64) []byte {
	var b bytes.Buffer
	b.WriteString(modelHeader + "\n")
	b.WriteString("# Character trigram counts of the distinct registered-domain labels of\n")
	b.WriteString("# benign names ('^' pads the start, '$' ends a label). Counts only: no\n")
	b.WriteString("# name is kept. Rewritten by go test ./internal/detect/dga -run TestTrain -train\n")
	b.WriteString("labels " + strconv.Itoa(labels) + "\n")
	for _, q := range trainQuantiles {
		if v, ok := quantiles[q]; ok {
			b.WriteString("quantile." + q + " " + strconv.FormatFloat(v, 'f', 3, 64) + "\n")
		}
	}
	for i, c := range counts {
		if c > 0 {
			b.WriteString(gramText(i) + " " + strconv.FormatUint(uint64(c), 10) + "\n")
		}
	}
	return b.Bytes()
}

// heldOut scores each label with a model trained on the other folds and
// returns the scores of the labels of at least minLen characters,
// sorted. Labels go to folds by their position in sorted order.
func heldOut(t testing.TB, labels []string, minLen int) []float64 {
	t.Helper()
	var scores []float64
	for k := range folds {
		var in, out []string
		for i, l := range labels {
			if i%folds == k {
				out = append(out, l)
			} else {
				in = append(in, l)
			}
		}
		m := trainModel(t, in)
		for _, l := range out {
			if len(l) < minLen {
				continue
			}
			if s, ok := m.Score([]byte(l)); ok {
				scores = append(scores, s)
			}
		}
	}
	slices.Sort(scores)
	return scores
}

// trainModel builds a model from labels in memory.
func trainModel(t testing.TB, labels []string) *Model {
	t.Helper()
	counts := make([]uint32, nctx*nctx*nsym)
	countGrams(counts, labels)
	m, err := ParseModel(modelText(counts, len(labels), nil))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q * float64(len(sorted)-1))
	return sorted[i]
}

func TestTrain(t *testing.T) {
	path := filepath.Join(datasets, trainingSet)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("training names not found at %s", path)
	}
	names, err := netrackNames(path)
	if err != nil {
		t.Fatal(err)
	}
	labels := trainingLabels(names)
	scores := heldOut(t, labels, minLength)
	qs := map[string]float64{}
	for _, q := range trainQuantiles {
		v, _ := strconv.ParseFloat(q, 64)
		qs[q] = quantile(scores, v)
	}
	counts := make([]uint32, nctx*nctx*nsym)
	countGrams(counts, labels)
	text := modelText(counts, len(labels), qs)
	t.Logf("%d names, %d distinct labels, %d held-out scores of labels of %d+ characters; quantiles %v",
		len(names), len(labels), len(scores), minLength, qs)
	if *train {
		if err := os.WriteFile("model.txt", text, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if !bytes.Equal(text, modelFile) {
		t.Errorf("model.txt is not what the training names give; run go test ./internal/detect/dga -run TestTrain -train")
	}
}
