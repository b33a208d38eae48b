package intel

import (
	"bytes"
	"strconv"
)

// DetectFormat tells a list's format from its first bytes (64 KiB are
// plenty). When it cannot, it returns FormatUnknown and why.
//
// XML is STIX and JSON is STIX 2. Otherwise the first data lines decide: a
// header naming the columns of OTX, FireEye, Proofpoint, a Tor relay CSV
// or a CSV with an IP, domain or URL column; Tor exit list keywords;
// ip#n#n#... (AlienVault); ip<TAB>n (ipsum); ip, n, n (Proofpoint without
// its header); else one entry per line, TXT, or FIREHOL when the comments
// say so.
func DetectFormat(head []byte) (Format, string) {
	head = bytes.TrimPrefix(head, bom)
	if bytes.IndexByte(head, 0) >= 0 {
		return FormatUnknown, "the content is binary"
	}
	switch firstByte(head) {
	case 0:
		return FormatUnknown, "the list is empty"
	case '<':
		return FormatSTIX, ""
	case '{', '[':
		return FormatSTIX2, ""
	}
	firehol := false
	var commentHeader Format
	votes := [numFormats]int{}
	data := 0
	var firstBad []byte
	rest := head
	complete := len(head) < 64<<10
	for len(rest) > 0 && data < 20 {
		i := bytes.IndexByte(rest, '\n')
		var line []byte
		if i < 0 {
			if !complete {
				break // a line cut by the end of the head
			}
			line, rest = rest, nil
		} else {
			line, rest = rest[:i], rest[i+1:]
		}
		s := bytes.TrimSpace(line)
		if len(s) == 0 {
			continue
		}
		if isComment(s) {
			lower := bytes.ToLower(s)
			if bytes.HasPrefix(lower, []byte("# ipv4 hash:")) || bytes.HasPrefix(lower, []byte("# ipv6 hash:")) || bytes.Contains(lower, []byte("firehol")) {
				firehol = true
			}
			if f := commentedHeader(s); f != FormatUnknown && commentHeader == FormatUnknown {
				commentHeader = f
			}
			continue
		}
		if data == 0 {
			if f := headerFormat(s); f != FormatUnknown {
				return f, ""
			}
		}
		data++
		f := lineFormat(s)
		if f == FormatUnknown && firstBad == nil {
			firstBad = s
		}
		votes[f]++
	}
	if commentHeader != FormatUnknown {
		return commentHeader, ""
	}
	best := FormatUnknown
	for f := FormatTXT; f < numFormats; f++ {
		if votes[f] > votes[best] || best == FormatUnknown && votes[f] > 0 {
			best = f
		}
	}
	if best == FormatUnknown {
		if firstBad == nil {
			return FormatUnknown, "no data lines, only comments"
		}
		if len(firstBad) > 60 {
			firstBad = firstBad[:60]
		}
		return FormatUnknown, "the first data line is no entry of any known format: " + strconv.Quote(string(firstBad))
	}
	if best == FormatTXT && firehol {
		return FormatFireHOL, ""
	}
	return best, ""
}

// headerFormat recognizes a CSV header line.
func headerFormat(s []byte) Format {
	lower := bytes.ToLower(s)
	if bytes.HasPrefix(lower, []byte("@type tordnsel")) {
		return FormatTorExit
	}
	if bytes.IndexByte(s, ',') < 0 {
		return FormatUnknown
	}
	cols := splitCSV(nil, lower, ',')
	has := func(names ...string) bool {
		for _, c := range cols {
			for _, n := range names {
				if string(c) == n {
					return true
				}
			}
		}
		return false
	}
	switch {
	case has("fingerprint") && has("ipaddr", "ip", "address", "or_address"):
		return FormatTorRelay
	case has("indicator type", "indicator_type") && has("indicator"):
		return FormatOTXCSV
	case has("reportid") || has("threatscape"):
		return FormatFireEye
	case len(cols) > 0 && string(cols[0]) == "ip" && has("category") && has("score"):
		return FormatProofPoint
	}
	for _, c := range cols {
		if csvRole(string(c)) == colIndicator {
			return FormatCSV
		}
	}
	return FormatUnknown
}

// commentedHeader recognizes a CSV header given as a comment, as
// URLhaus writes it ("# id,dateadded,url,..."): at least three columns,
// none with white space inside, so that prose is not taken for one.
func commentedHeader(s []byte) Format {
	h := bytes.TrimSpace(bytes.TrimLeft(s, "#;! /"))
	if bytes.Count(h, []byte(",")) < 2 {
		return FormatUnknown
	}
	for _, c := range splitCSV(nil, h, ',') {
		if len(c) == 0 || bytes.ContainsAny(c, " \t") {
			return FormatUnknown
		}
	}
	return headerFormat(h)
}

// lineFormat classifies one data line.
func lineFormat(s []byte) Format {
	lower := bytes.ToLower(s)
	for _, kw := range []string{"exitnode ", "exitaddress ", "published ", "laststatus ", "downloaded "} {
		if bytes.HasPrefix(lower, []byte(kw)) {
			return FormatTorExit
		}
	}
	if i := bytes.IndexByte(s, '#'); i > 0 && bytes.Count(s, []byte("#")) >= 3 {
		if _, why := parseHost(s[:i], false); why == "" {
			return FormatAlienVault
		}
	}
	if i := bytes.IndexByte(s, '\t'); i > 0 {
		if _, why := parseIndicator(s[:i]); why == "" && isNumber(bytes.TrimSpace(s[i+1:])) {
			return FormatIPSum
		}
	}
	if bytes.Count(s, []byte(",")) >= 2 {
		f := splitCSV(nil, s, ',')
		if _, why := parseIndicator(f[0]); why == "" && isNumber(f[1]) && isNumber(f[2]) {
			return FormatProofPoint
		}
	}
	if _, why := parseIndicator(firstField(cutComment(s))); why == "" || why == reasonPath {
		return FormatTXT
	}
	return FormatUnknown
}

func isNumber(s []byte) bool {
	if len(s) == 0 {
		return false
	}
	_, err := strconv.ParseFloat(string(s), 64)
	return err == nil
}
