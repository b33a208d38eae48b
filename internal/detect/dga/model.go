package dga

import (
	"bufio"
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/net/publicsuffix"
)

// The model is a character trigram model of registered-domain labels:
// how often each character follows each pair of characters in the
// labels of benign names. Its file, model.txt, holds only those counts
// (no names) and is rewritten from its training source by
//
//	go test ./internal/detect/dga -run TestTrain -train
//
// A label is scored by the bits per character the model needs to
// encode it (its cross-entropy under the model): words, brands and
// their abbreviations follow the letter sequences of the names people
// choose and cost few bits; a generator's random letters cost many.

// symbols is the model's alphabet: the letters, '0' for any digit, '-',
// then '$' for the label's end. '^' pads the start and never follows
// anything. Digits are one symbol: which digits a name holds (a year, a
// model number, a count) says nothing about how it was made, and ten
// symbols would spread the training counts thin.
const symbols = "abcdefghijklmnopqrstuvwxyz0-$"

const (
	nsym  = len(symbols) // what can follow a context
	start = nsym         // the pad's index
	nctx  = nsym + 1     // what a context character can be
	end   = nsym - 1     // '$'
)

// symbol maps a byte to its index in symbols, or -1.
var symbol = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := range len(symbols) {
		t[symbols[i]] = int8(i)
	}
	for c := '1'; c <= '9'; c++ {
		t[c] = t['0']
	}
	t['$'] = -1 // only the scorer adds the end
	return t
}()

// Model is a parsed model: the trigram counts turned into the bits each
// symbol costs after each context, and the calibration the trainer
// measured.
type Model struct {
	// cost[(a*nctx+b)*nsym+c] is -log2 P(c | a b).
	cost [nctx * nctx * nsym]float32
	// Labels is the number of training labels.
	Labels int
	// Trigrams is the number of distinct trigrams counted.
	Trigrams int
	// Quantiles are the held-out benign labels' scores at the
	// trainer's quantiles (quantile name, such as "0.999", to bits a
	// character), for the documentation and the tests.
	Quantiles map[string]float64
}

//go:embed model.txt
var modelFile []byte

// defaultModel is the shipped model, parsed once: it never changes
// after.
var defaultModel = sync.OnceValues(func() (*Model, error) { return ParseModel(modelFile) })

const modelHeader = "picket-dga-trigrams 1"

// ParseModel reads a model file: a header line, "key value" lines
// (labels, quantile.<q>), and "<trigram> <count>" lines, where a
// trigram is three symbols with '^' for the start pad. Lines starting
// with '#' are comments.
func ParseModel(b []byte) (*Model, error) {
	var counts [nctx * nctx * nsym]float64
	m := &Model{Quantiles: map[string]float64{}}
	sc := bufio.NewScanner(bytes.NewReader(b))
	line, header := 0, false
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		if !header {
			if s != modelHeader {
				return nil, fmt.Errorf("dga model line %d: header %q, want %q", line, s, modelHeader)
			}
			header = true
			continue
		}
		key, val, ok := strings.Cut(s, " ")
		if !ok {
			return nil, fmt.Errorf("dga model line %d: %q is not a key and a value", line, s)
		}
		switch {
		case key == "labels":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("dga model line %d: labels %q", line, val)
			}
			m.Labels = n
		case strings.HasPrefix(key, "quantile."):
			v, err := strconv.ParseFloat(val, 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("dga model line %d: %s %q", line, key, val)
			}
			m.Quantiles[strings.TrimPrefix(key, "quantile.")] = v
		default:
			i, err := gramIndex(key)
			if err != nil {
				return nil, fmt.Errorf("dga model line %d: %w", line, err)
			}
			n, err := strconv.ParseUint(val, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("dga model line %d: count %q", line, val)
			}
			if counts[i] != 0 {
				return nil, fmt.Errorf("dga model line %d: trigram %q twice", line, key)
			}
			counts[i] = float64(n)
			m.Trigrams++
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading dga model: %w", err)
	}
	if !header {
		return nil, errors.New("dga model: no header")
	}
	m.smooth(&counts)
	return m, nil
}

// smooth turns trigram counts into costs with Witten-Bell smoothing: a
// context's probabilities mix its own counts with those of the shorter
// context, weighted by how many distinct symbols the context was seen
// followed by. A context seen often with few followers trusts its
// counts; a rare one leans on the pair, the pair on the single
// character, and that on the symbols' overall frequency.
func (m *Model) smooth(tri *[nctx * nctx * nsym]float64) {
	var bi [nctx * nsym]float64
	var uni [nsym]float64
	for i, c := range tri {
		bi[i%(nctx*nsym)] += c
		uni[i%nsym] += c
	}
	// wb mixes counts row with the lower-order distribution lower.
	wb := func(row []float64, lower []float64, out []float64) {
		var total, types float64
		for _, c := range row {
			total += c
			if c > 0 {
				types++
			}
		}
		if total == 0 {
			copy(out, lower)
			return
		}
		for s, c := range row {
			out[s] = (c + types*lower[s]) / (total + types)
		}
	}
	var p1 [nsym]float64
	var total float64
	for _, c := range uni {
		total += c
	}
	for s, c := range uni {
		p1[s] = (c + 1) / (total + float64(nsym)) // every symbol possible
	}
	var p2 [nctx * nsym]float64
	for b := range nctx {
		wb(bi[b*nsym:(b+1)*nsym], p1[:], p2[b*nsym:(b+1)*nsym])
	}
	p3 := make([]float64, nsym)
	for a := range nctx {
		for b := range nctx {
			ctx := a*nctx + b
			wb(tri[ctx*nsym:(ctx+1)*nsym], p2[b*nsym:(b+1)*nsym], p3)
			for s, p := range p3 {
				m.cost[ctx*nsym+s] = float32(-math.Log2(p))
			}
		}
	}
}

// gramIndex returns the counts index of a trigram's text.
func gramIndex(g string) (int, error) {
	if len(g) != 3 {
		return 0, fmt.Errorf("trigram %q is not three symbols", g)
	}
	var ix [3]int
	for k := range 3 {
		switch c := g[k]; {
		case c == '^' && k < 2:
			ix[k] = start
		case c == '$' && k == 2:
			ix[k] = end
		case symbol[c] >= 0:
			ix[k] = int(symbol[c])
		default:
			return 0, fmt.Errorf("trigram %q: %q is not a symbol here", g, c)
		}
	}
	if ix[0] != start && ix[1] == start {
		return 0, fmt.Errorf("trigram %q: the start pad follows a character", g)
	}
	return (ix[0]*nctx+ix[1])*nsym + ix[2], nil
}

// Score returns the bits per symbol the model needs for label (its
// characters and the end), and false when label has a byte outside the
// alphabet.
func (m *Model) Score(label []byte) (float64, bool) {
	a, b := start, start
	var bits float32
	for _, ch := range label {
		c := int(symbol[ch])
		if c < 0 {
			return 0, false
		}
		bits += m.cost[(a*nctx+b)*nsym+c]
		a, b = b, c
	}
	bits += m.cost[(a*nctx+b)*nsym+end]
	return float64(bits) / float64(len(label)+1), true
}

// grams calls fn with the counts index of each trigram of label
// (including the end), for training; it reports false when label has a
// byte outside the alphabet.
func grams(label []byte, fn func(int)) bool {
	for _, ch := range label {
		if symbol[ch] < 0 {
			return false
		}
	}
	a, b := start, start
	for _, ch := range label {
		c := int(symbol[ch])
		fn((a*nctx+b)*nsym + c)
		a, b = b, c
	}
	fn((a*nctx+b)*nsym + end)
	return true
}

// gramText is the text of a counts index.
func gramText(i int) string {
	c := i % nsym
	ab := i / nsym
	a, b := ab/nctx, ab%nctx
	ch := func(x int) byte {
		if x == start {
			return '^'
		}
		return symbols[x]
	}
	return string([]byte{ch(a), ch(b), symbols[c]})
}

// maxTail is the number of labels handed to the public suffix lookup:
// the longest rules of the list have five labels.
const maxTail = 6

// Registered returns the registered-domain label of name (lower case,
// no final dot) and the registered domain, the label and the ICANN
// public suffix under it (example for www.example.co.uk, and
// example.co.uk); ok is false when name has none: a single label, a
// public suffix, or a name under a top-level domain the list does not
// know (.local, .internal, .corp), which the Internet cannot resolve.
//
// Suffixes of the list's private section (cloudfront.net,
// blogspot.com, s3.amazonaws.com) are not registered domains here: a
// CDN's or a cloud's hash-named hosts below them are one registered
// domain of the company that runs them, so d1x2y3.cloudfront.net is
// cloudfront.
func Registered(name []byte) (label []byte, domain []byte, ok bool) {
	if len(name) == 0 || name[0] == '.' || name[len(name)-1] == '.' {
		return nil, nil, false
	}
	start, dots := len(name), 0
	for start > 0 {
		if name[start-1] == '.' {
			if dots++; dots == maxTail {
				break
			}
		}
		start--
	}
	tail := name[start:]
	// The lookup only reads the name: a view avoids copying it.
	suffix, icann := publicsuffix.PublicSuffix(unsafe.String(&tail[0], len(tail))) //nolint:gosec // read-only view of the borrowed name
	for !icann {
		dot := strings.IndexByte(suffix, '.')
		if dot < 0 {
			return nil, nil, false // the default rule: an unknown top-level domain
		}
		suffix, icann = publicsuffix.PublicSuffix(suffix[dot+1:])
	}
	n := len(name) - len(suffix) - 1 // the dot before the suffix
	if n <= 0 || name[n] != '.' {
		return nil, nil, false
	}
	i := bytes.LastIndexByte(name[:n], '.') + 1
	if i == n {
		return nil, nil, false
	}
	return name[i:n], name[i:], true
}

// idn reports whether a label is an internationalised name's ASCII
// form, whose letters encode others and follow no language's spelling.
func idn(label []byte) bool { return bytes.HasPrefix(label, []byte("xn--")) }
