package intel

import (
	"bytes"
	"strconv"
	"strings"
)

// splitCSV appends the fields of one CSV record to dst: separated by sep,
// white space around them trimmed, double quotes removed (a doubled quote
// inside quotes is one quote).
func splitCSV(dst [][]byte, s []byte, sep byte) [][]byte {
	for {
		s = bytes.TrimLeft(s, " \t")
		if len(s) > 0 && s[0] == '"' {
			// a quoted field
			var field []byte
			i := 1
			copied := false
			for i < len(s) {
				if s[i] == '"' {
					if i+1 < len(s) && s[i+1] == '"' {
						if !copied {
							field = append([]byte(nil), s[1:i]...)
							copied = true
						}
						field = append(field, '"')
						i += 2
						continue
					}
					break
				}
				if copied {
					field = append(field, s[i])
				}
				i++
			}
			if !copied {
				field = s[1:min(i, len(s))]
			}
			dst = append(dst, bytes.TrimSpace(field))
			rest := s[min(i+1, len(s)):]
			j := bytes.IndexByte(rest, sep)
			if j < 0 {
				return dst
			}
			s = rest[j+1:]
			continue
		}
		j := bytes.IndexByte(s, sep)
		if j < 0 {
			return append(dst, bytes.TrimSpace(s))
		}
		dst = append(dst, bytes.TrimSpace(s[:j]))
		s = s[j+1:]
	}
}

// The roles a CSV column can play.
const (
	colOther = iota
	colIndicator
	colType
	colName
	colPurpose
	colScore
	colPort
	colCategory // Proofpoint's numeric category
)

// csvRole says what a column holds, by its (lowercase) header name.
func csvRole(name string) int {
	switch strings.TrimSpace(name) {
	case "ip", "ip_address", "ipaddress", "ip address", "ipaddr", "dst_ip", "src_ip", "dstip", "srcip", "sourceip", "ipv4", "ipv6",
		"address", "indicator", "ioc", "ioc_value", "url", "domain", "hostname", "cidr", "network", "netblock":
		return colIndicator
	case "indicator type", "indicator_type", "ioc_type", "type":
		return colType
	case "malware", "malware_family", "malwarefamily", "malware_printable", "threat", "threat_name", "actor", "signature", "description":
		return colName
	case "threat_type", "threatscape", "classification", "purpose":
		return colPurpose
	case "score", "confidence", "confidence_level", "risk":
		return colScore
	case "port", "dst_port", "ports", "ports (|)":
		return colPort
	case "category":
		return colCategory
	}
	return colOther
}

// csvLayout is what each column of a CSV list holds.
type csvLayout struct {
	roles []int
}

func layoutOf(f Format, header [][]byte) csvLayout {
	roles := make([]int, len(header))
	for i, h := range header {
		n := strings.ToLower(string(h))
		roles[i] = csvRole(n)
		switch f {
		case FormatFireEye:
			// FireEye's description is prose, and its other address
			// columns (senderAddress, sourceDomain) are about e-mail.
			switch n {
			case "description", "address":
				roles[i] = colOther
			}
		case FormatTorRelay:
			if n == "or_address" {
				roles[i] = colIndicator
			}
		case FormatOTXCSV:
			if n == "description" {
				roles[i] = colName
			}
		}
	}
	return csvLayout{roles: roles}
}

// defaultLayout is the column order of a list without a header.
func defaultLayout(f Format) csvLayout {
	switch f {
	case FormatOTXCSV:
		return csvLayout{roles: []int{colType, colIndicator, colName}}
	case FormatProofPoint:
		return csvLayout{roles: []int{colIndicator, colCategory, colScore, colOther, colOther, colPort}}
	case FormatTorRelay:
		return csvLayout{roles: []int{colOther, colIndicator, colPort}}
	}
	return csvLayout{roles: []int{colIndicator}}
}

// maxRecordLines bounds the lines one quoted CSV record may span.
const maxRecordLines = 64

// decodeCSV reads the CSV formats: OTX_CSV, PROOF_POINT, FIRE_EYE,
// TOR_RELAY and CSV.
func decodeCSV(ls *lines, l *List) {
	var layout csvLayout
	haveLayout := false
	var fields [][]byte
	var rec []byte
	base := Info{}
	if l.Format == FormatTorRelay {
		base.Purpose = l.Tor.Purpose()
	}
	for {
		line, long, ok := ls.next()
		if !ok {
			return
		}
		lineNo := ls.n
		if long {
			l.fail(lineNo, line, "line longer than 256 KiB")
			continue
		}
		s := bytes.TrimSpace(line)
		if len(s) == 0 {
			continue
		}
		if s[0] == '#' {
			if !haveLayout {
				if commentedHeader(s) != FormatUnknown {
					h := bytes.TrimSpace(bytes.TrimLeft(s, "#;! /"))
					layout, haveLayout = layoutOf(l.Format, splitCSV(nil, h, ',')), true
				}
			}
			continue
		}
		// A quoted field may span lines.
		if bytes.Count(s, []byte{'"'})%2 == 1 {
			rec = append(rec[:0], s...)
			for n := 1; bytes.Count(rec, []byte{'"'})%2 == 1 && n < maxRecordLines; n++ {
				more, _, ok := ls.next()
				if !ok {
					break
				}
				rec = append(append(rec, '\n'), more...)
			}
			s = rec
		}
		if !haveLayout {
			haveLayout = true
			if headerFormat(s) != FormatUnknown || l.Format == FormatProofPoint && bytes.HasPrefix(bytes.ToLower(s), []byte("ip")) {
				layout = layoutOf(l.Format, splitCSV(nil, s, ','))
				continue
			}
			layout = defaultLayout(l.Format)
		}
		fields = splitCSV(fields[:0], s, ',')
		csvRow(l, lineNo, s, fields, layout, &base)
	}
}

// csvRow reads one row.
func csvRow(l *List, line int, raw []byte, fields [][]byte, layout csvLayout, base *Info) {
	info := *base
	var names []string
	var inds [][]byte
	typ := ""
	haveType := false
	for i, role := range layout.roles {
		if i >= len(fields) {
			break
		}
		v := fields[i]
		if len(v) == 0 {
			continue
		}
		switch role {
		case colIndicator:
			inds = append(inds, v)
		case colType:
			typ, haveType = strings.ToLower(string(v)), true
		case colName:
			names = append(names, string(v))
		case colPurpose:
			info.Purpose = string(v)
		case colScore:
			if f, err := strconv.ParseFloat(string(v), 64); err == nil {
				info.Score = f
			}
		case colPort:
			info.Ports = appendPorts(info.Ports, v)
		case colCategory:
			info.ThreatNames = append(info.ThreatNames, etCategory(string(v)))
		}
	}
	info.ThreatNames = append(info.ThreatNames, names...)
	if haveType && !indicatorType(typ) && (l.Format == FormatOTXCSV || otherIndicatorType(typ)) {
		l.Skipped++
		return
	}
	if len(inds) == 0 {
		if l.Format == FormatFireEye || l.Format == FormatCSV && len(fields) > 1 {
			l.Skipped++ // a row about a file or a message, or without the indicator
			return
		}
		l.fail(line, raw, reasonEmpty)
		return
	}
	for _, v := range inds {
		l.entry(line, v, &info)
	}
}

// indicatorType reports whether an OTX or ThreatFox indicator type is one
// lists match on: addresses, networks, domains, host names and URLs.
func indicatorType(t string) bool {
	switch t {
	case "ipv4", "ipv6", "cidr", "domain", "hostname", "url", "uri", "ip", "ip:port", "ip address", "ipaddress", "network", "host", "fqdn":
		return true
	}
	return false
}

// otherIndicatorType reports whether a type column names an indicator
// that is not an address or a name: hashes, e-mail, files, mutexes.
func otherIndicatorType(t string) bool {
	for _, w := range []string{"hash", "md5", "sha", "email", "e-mail", "mutex", "file", "yara", "cve", "registry", "useragent", "user-agent", "bitcoin", "ja3", "imphash", "ssdeep"} {
		if strings.Contains(t, w) {
			return true
		}
	}
	return false
}

func appendPorts(dst []uint16, v []byte) []uint16 {
	for len(v) > 0 {
		var p []byte
		if i := bytes.IndexAny(v, "|; "); i >= 0 {
			p, v = v[:i], v[i+1:]
		} else {
			p, v = v, nil
		}
		if n, err := strconv.ParseUint(string(bytes.TrimSpace(p)), 10, 16); err == nil && n > 0 {
			dst = append(dst, uint16(n))
		}
	}
	return dst
}

// etCategories names the categories of the Proofpoint (Emerging Threats)
// IP reputation feed.
var etCategories = map[string]string{
	"1": "CnC", "2": "Bot", "3": "Spam", "4": "Drop", "5": "SpywareCnC", "6": "OnlineGaming",
	"7": "DriveBySrc", "9": "ChatServer", "10": "TorNode", "13": "Compromised", "15": "P2P",
	"16": "Proxy", "17": "IPCheck", "19": "Utility", "20": "DDoSTarget", "21": "Scanner",
	"23": "Brute_Forcer", "24": "FakeAV", "25": "DynDNS", "26": "Undesirable", "27": "AbusedTLD",
	"28": "SelfSignedSSL", "29": "Blackhole", "30": "RemoteAccessService", "31": "P2PCnC",
	"33": "Parking", "34": "VPN", "35": "EXE_Source", "37": "Mobile_CnC", "38": "Mobile_Spyware_CnC",
	"39": "Skype_SuperNode", "40": "Bitcoin_Related", "41": "DDoSAttacker",
}

func etCategory(v string) string {
	if n, ok := etCategories[v]; ok {
		return n
	}
	return "category " + v
}
