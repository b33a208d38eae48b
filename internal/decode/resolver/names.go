package resolver

import "picket/internal/event"

// rrType returns the IANA number of a record type name: a mnemonic, or
// "TYPEnnn" (RFC 3597). A name it does not know is 0, and counted.
func (d *Decoder) rrType(s []byte) uint16 {
	if n, ok := numbered(s, "TYPE"); ok {
		return n
	}
	if n := typeNumber(s); n != 0 {
		return n
	}
	d.stats.UnknownTypes++
	return 0
}

// typeNumber returns the number of a type mnemonic, or 0.
func typeNumber(s []byte) uint16 {
	switch string(s) {
	case "A":
		return event.DNSTypeA
	case "NS":
		return event.DNSTypeNS
	case "MD":
		return 3
	case "MF":
		return 4
	case "CNAME":
		return event.DNSTypeCNAME
	case "SOA":
		return event.DNSTypeSOA
	case "MB":
		return 7
	case "MG":
		return 8
	case "MR":
		return 9
	case "NULL":
		return event.DNSTypeNULL
	case "WKS":
		return 11
	case "PTR":
		return event.DNSTypePTR
	case "HINFO":
		return 13
	case "MINFO":
		return 14
	case "MX":
		return event.DNSTypeMX
	case "TXT":
		return event.DNSTypeTXT
	case "RP":
		return 17
	case "AFSDB":
		return 18
	case "SIG":
		return 24
	case "KEY":
		return 25
	case "AAAA":
		return event.DNSTypeAAAA
	case "LOC":
		return 29
	case "SRV":
		return event.DNSTypeSRV
	case "NAPTR":
		return 35
	case "KX":
		return 36
	case "CERT":
		return 37
	case "DNAME":
		return 39
	case "OPT":
		return 41
	case "APL":
		return 42
	case "DS":
		return 43
	case "SSHFP":
		return 44
	case "IPSECKEY":
		return 45
	case "RRSIG":
		return 46
	case "NSEC":
		return 47
	case "DNSKEY":
		return 48
	case "DHCID":
		return 49
	case "NSEC3":
		return 50
	case "NSEC3PARAM":
		return 51
	case "TLSA":
		return 52
	case "SMIMEA":
		return 53
	case "HIP":
		return 55
	case "CDS":
		return 59
	case "CDNSKEY":
		return 60
	case "OPENPGPKEY":
		return 61
	case "CSYNC":
		return 62
	case "ZONEMD":
		return 63
	case "SVCB":
		return 64
	case "HTTPS":
		return 65
	case "SPF":
		return 99
	case "TKEY":
		return 249
	case "TSIG":
		return 250
	case "IXFR":
		return 251
	case "AXFR":
		return 252
	case "MAILB":
		return 253
	case "MAILA":
		return 254
	case "ANY", "*":
		return event.DNSTypeANY
	case "URI":
		return 256
	case "CAA":
		return 257
	}
	return 0
}

// class returns the number of a class name ("IN", "CLASS3"), or 0.
func class(s []byte) uint16 {
	switch string(s) {
	case "IN":
		return 1
	case "CH":
		return 3
	case "HS":
		return 4
	case "NONE":
		return 254
	case "ANY", "*":
		return 255
	}
	n, _ := numbered(s, "CLASS")
	return n
}

// rcode returns the number of a response code name, or
// event.RCodeUnknown.
func rcode(s []byte) uint8 {
	switch string(s) {
	case "NOERROR":
		return event.RCodeNoError
	case "FORMERR":
		return event.RCodeFormErr
	case "SERVFAIL":
		return event.RCodeServFail
	case "NXDOMAIN":
		return event.RCodeNXDomain
	case "NOTIMP":
		return event.RCodeNotImp
	case "REFUSED":
		return event.RCodeRefused
	case "YXDOMAIN":
		return 6
	case "YXRRSET":
		return 7
	case "NXRRSET":
		return 8
	case "NOTAUTH":
		return 9
	case "NOTZONE":
		return 10
	case "DSOTYPENI":
		return 11
	case "BADVERS", "BADSIG":
		return 16
	case "BADKEY":
		return 17
	case "BADTIME":
		return 18
	case "BADMODE":
		return 19
	case "BADNAME":
		return 20
	case "BADALG":
		return 21
	case "BADTRUNC":
		return 22
	case "BADCOOKIE":
		return 23
	}
	if n, ok := numbered(s, "RCODE"); ok && n < uint16(event.RCodeUnknown) {
		return uint8(n)
	}
	return event.RCodeUnknown
}

// numbered reads the generic form prefix+decimal ("TYPE65", "CLASS1") of
// a 16-bit number.
func numbered(s []byte, prefix string) (uint16, bool) {
	if len(s) <= len(prefix) || len(s) > len(prefix)+5 || string(s[:len(prefix)]) != prefix {
		return 0, false
	}
	n := 0
	for _, c := range s[len(prefix):] {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if n > 65535 {
		return 0, false
	}
	return uint16(n), true
}
