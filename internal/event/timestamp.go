package event

// ParseTimestamp parses the timestamps logs write, truncated to the
// second, without allocating: RFC 3339 ("2026-03-02T10:00:00Z", with or
// without a fraction of a second, with Z or a numeric offset), a space for
// the T and no zone for UTC (CloudTrail Lake's "2026-03-02 10:00:00.000").
// A leap second counts as the second before it.
func ParseTimestamp(b []byte) (Time, bool) {
	if len(b) < 19 || b[4] != '-' || b[7] != '-' || (b[10] != 'T' && b[10] != 't' && b[10] != ' ') || b[13] != ':' || b[16] != ':' {
		return 0, false
	}
	year, ok1 := fixedDigits(b[0:4])
	month, ok2 := fixedDigits(b[5:7])
	day, ok3 := fixedDigits(b[8:10])
	hour, ok4 := fixedDigits(b[11:13])
	minute, ok5 := fixedDigits(b[14:16])
	sec, ok6 := fixedDigits(b[17:19])
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) ||
		hour > 23 || minute > 59 || sec > 60 {
		return 0, false
	}
	rest := b[19:]
	if len(rest) > 0 && rest[0] == '.' {
		k := 1
		for k < len(rest) && rest[k] >= '0' && rest[k] <= '9' {
			k++
		}
		if k == 1 {
			return 0, false
		}
		rest = rest[k:]
	}
	offset := 0
	switch {
	case len(rest) == 0:
	case len(rest) == 1 && (rest[0] == 'Z' || rest[0] == 'z'):
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		h, ok1 := fixedDigits(rest[1:3])
		m, ok2 := fixedDigits(rest[4:6])
		if !ok1 || !ok2 || h > 23 || m > 59 {
			return 0, false
		}
		offset = h*3600 + m*60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return 0, false
	}
	if sec == 60 {
		sec = 59
	}
	return Time(daysFromCivil(year, month, day)*86400 + int64(hour*3600+minute*60+sec-offset)), true
}

// fixedDigits reads a fixed-width decimal number.
func fixedDigits(b []byte) (int, bool) {
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysInMonth(year, month int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the days since 1970-01-01 of a date of the
// proleptic Gregorian calendar, counting in 400-year eras of 146097 days
// that start on March 1.
func daysFromCivil(y, m, d int) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y%400 < 0 {
		era-- // floor division
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}
