package intel

import (
	"bytes"
	"strconv"
	"strings"
)

// decodeTXT reads one entry per line: TXT, FireHOL ipsets and netsets,
// maltrail trails and other plain lists. Comments start with #, ; or //,
// whole lines or after white space; text after the entry is ignored. A
// FireHOL header's "Category" becomes the entries' purpose.
func decodeTXT(ls *lines, l *List) {
	info := Info{}
	for {
		line, long, ok := ls.next()
		if !ok {
			return
		}
		if long {
			l.fail(ls.n, line, "line longer than 256 KiB")
			continue
		}
		s := bytes.TrimSpace(line)
		if len(s) == 0 {
			continue
		}
		if isComment(s) {
			if l.Format == FormatFireHOL {
				if v, ok := headerValue(s, "category"); ok {
					info.Purpose = v
				}
			}
			continue
		}
		l.entry(ls.n, firstField(cutComment(s)), &info)
	}
}

// headerValue reads "# Key : value" comment lines.
func headerValue(s []byte, key string) (string, bool) {
	s = bytes.TrimSpace(bytes.TrimLeft(s, "#"))
	i := bytes.IndexByte(s, ':')
	if i < 0 || !strings.EqualFold(string(bytes.TrimSpace(s[:i])), key) {
		return "", false
	}
	v := bytes.TrimSpace(s[i+1:])
	return string(v), len(v) > 0
}

// decodeIPSum reads ipsum's "IP<TAB>count" lines: the count, the number
// of blocklists that name the address, is the score.
func decodeIPSum(ls *lines, l *List) {
	info := Info{}
	for {
		line, long, ok := ls.next()
		if !ok {
			return
		}
		if long {
			l.fail(ls.n, line, "line longer than 256 KiB")
			continue
		}
		s := bytes.TrimSpace(line)
		if len(s) == 0 || isComment(s) {
			continue
		}
		entry, rest := s, []byte(nil)
		if i := bytes.IndexAny(s, "\t "); i >= 0 {
			entry, rest = s[:i], bytes.TrimSpace(s[i+1:])
		}
		info.Score = 0
		if len(rest) > 0 {
			n, err := strconv.ParseFloat(string(rest), 64)
			if err != nil {
				l.fail(ls.n, s, "score is not a number")
				continue
			}
			info.Score = n
		}
		l.entry(ls.n, entry, &info)
	}
}

// decodeAlienVault reads the AlienVault reputation feed:
// IP#reliability#risk#activity#country#city#lat,lon#x. Activities
// (several are separated by ;) are the threat names, the risk the score.
func decodeAlienVault(ls *lines, l *List) {
	var info Info
	for {
		line, long, ok := ls.next()
		if !ok {
			return
		}
		if long {
			l.fail(ls.n, line, "line longer than 256 KiB")
			continue
		}
		s := bytes.TrimSpace(line)
		if len(s) == 0 || s[0] == '#' || s[0] == ';' {
			continue
		}
		info = Info{}
		fields := bytes.Split(s, []byte("#"))
		if len(fields) > 2 {
			if f, err := strconv.ParseFloat(string(bytes.TrimSpace(fields[2])), 64); err == nil {
				info.Score = f
			}
		}
		if len(fields) > 3 {
			for _, a := range bytes.Split(fields[3], []byte(";")) {
				if a = bytes.TrimSpace(a); len(a) > 0 {
					info.ThreatNames = append(info.ThreatNames, string(a))
				}
			}
		}
		l.entry(ls.n, fields[0], &info)
	}
}

// decodeTorExit reads the Tor Project's exit list (check.torproject.org
// /exit-addresses, CollecTor's exit lists): ExitNode, Published and
// LastStatus lines describe a relay, each ExitAddress line gives an
// address it exits from. Bare addresses, one per line, are read too.
func decodeTorExit(ls *lines, l *List) {
	info := Info{Purpose: l.Tor.Purpose()}
	for {
		line, long, ok := ls.next()
		if !ok {
			return
		}
		if long {
			l.fail(ls.n, line, "line longer than 256 KiB")
			continue
		}
		s := bytes.TrimSpace(line)
		if len(s) == 0 || isComment(s) || s[0] == '@' {
			continue
		}
		kw, rest := s, []byte(nil)
		if i := bytes.IndexAny(s, " \t"); i >= 0 {
			kw, rest = s[:i], bytes.TrimSpace(s[i+1:])
		}
		switch string(kw) {
		case "ExitNode", "Published", "LastStatus", "Downloaded":
			continue
		case "ExitAddress":
			if len(rest) == 0 {
				l.fail(ls.n, s, "ExitAddress without an address")
				continue
			}
			l.entry(ls.n, firstField(rest), &info)
		default:
			if _, why := parseIndicator(kw); why == "" && len(rest) == 0 {
				l.entry(ls.n, kw, &info)
				continue
			}
			l.fail(ls.n, s, "not an exit list line (ExitNode, Published, LastStatus, ExitAddress)")
		}
	}
}
