package source

import (
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Layout is what an object key in the AWS log delivery layout says about
// the object. The plain layout is
//
//	[prefix/]AWSLogs/<account>/<service>/<region>/YYYY/MM/DD/[HH/]<file>
//
// and the Hive-compatible one
//
//	[prefix/]AWSLogs/aws-account-id=<account>/aws-service=<service>/
//	  aws-region=<region>/year=YYYY/month=MM/day=DD/[hour=HH/]<file>
//
// An organization trail inserts the organization ID before the account.
// File names carry the delivery time: <account>_vpcflowlogs_<region>_
// <flow-log-id>_YYYYMMDDTHHmmZ_<hash>.log.gz for flow logs, <account>_
// CloudTrail_<region>_YYYYMMDDTHHmmZ_<id>.json.gz for CloudTrail.
type Layout struct {
	Account   string
	Service   string // vpcflowlogs, CloudTrail, ...
	Region    string
	FlowLogID string
	Time      time.Time // from the file name, else from the date folders
	Digest    bool      // a CloudTrail digest file, not logs
}

// Valid reports whether the path followed the layout.
func (l Layout) Valid() bool { return l.Account != "" }

// ParseLayout reads what it can from a path; a path outside the layout
// gives the zero Layout.
func ParseLayout(path string) Layout {
	parts := strings.Split(filepath.ToSlash(path), "/")
	i := -1
	for j, p := range parts {
		if p == "AWSLogs" {
			i = j
		}
	}
	var l Layout
	if i < 0 || i+3 >= len(parts) {
		return l
	}
	rest := parts[i+1:]
	// An organization ID (o-...) may come before the account.
	if strings.HasPrefix(rest[0], "o-") && len(rest) > 3 {
		rest = rest[1:]
	}
	l.Account = hive(rest[0], "aws-account-id")
	if !digits(l.Account, 12) {
		return Layout{}
	}
	l.Service = hive(rest[1], "aws-service")
	if l.Service == "CloudTrail-Digest" {
		l.Digest = true
	}
	if len(rest) > 3 {
		l.Region = hive(rest[2], "aws-region")
	}
	// Date folders after the region.
	var y, m, d, h int
	dates := rest[3:]
	if len(dates) > 0 {
		dates = dates[:len(dates)-1] // the file name
	}
	for k, p := range dates {
		v := p
		for _, name := range []string{"year", "month", "day", "hour"} {
			v = hive(v, name)
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			break
		}
		switch k {
		case 0:
			y = n
		case 1:
			m = n
		case 2:
			d = n
		case 3:
			h = n
		}
	}
	if y > 0 && m > 0 && d > 0 {
		l.Time = time.Date(y, time.Month(m), d, h, 0, 0, 0, time.UTC)
	}
	name := parts[len(parts)-1]
	if strings.Contains(name, "_CloudTrail-Digest_") {
		l.Digest = true
	}
	fields := strings.Split(name, "_")
	for j, f := range fields {
		if len(f) >= 14 && f[8] == 'T' {
			if t, err := time.Parse("20060102T1504Z", f[:14]); err == nil {
				l.Time = t
			}
		}
		if strings.HasPrefix(f, "fl-") && j > 0 {
			l.FlowLogID = f
		}
	}
	return l
}

func hive(s, key string) string {
	if v, ok := strings.CutPrefix(s, key+"="); ok {
		return v
	}
	return s
}

func digits(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
