// Package awsip owns the AWS address check: loading the ip-ranges.json
// that AWS publishes (DefaultURL) into an immutable prefix table that
// answers "is this address inside AWS, and which service and region is
// it", for detectors such as InstanceCredentialExfiltration that must
// tell an attacker's own server apart from an AWS network. It also keeps
// a current copy of the file in a directory (Cache): fetched when missing
// or a day old, checked before it replaces the copy, and the old copy
// kept when fetching fails.
//
// A file named by the user is loaded at start and a bad one fails with a
// clear error; lookups never fail and do not allocate. The package
// depends on the standard library and bart only; the composition root
// and the command import it.
package awsip

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gaissmai/bart"
)

// Range is what ip-ranges.json says about one prefix.
type Range struct {
	Prefix netip.Prefix
	// Region is the AWS region ("us-east-1"), or "GLOBAL" for edge
	// networks such as CloudFront's.
	Region string
	// NetworkBorderGroup is where AWS advertises the prefix (a region or
	// a Local Zone).
	NetworkBorderGroup string
	// Service is the most specific service listing the prefix: "EC2",
	// "S3", "CLOUDFRONT", ... rather than "AMAZON", which lists every
	// Amazon prefix.
	Service string
	// Services lists every service that lists the prefix, sorted.
	Services []string
}

// HasService reports whether s (such as "EC2") lists the range.
func (r *Range) HasService(s string) bool { return slices.Contains(r.Services, s) }

// Table is the loaded file: a longest-prefix-match table of its ranges.
// It is immutable and safe for concurrent use.
type Table struct {
	t          bart.Table[int32] // index into ranges
	ranges     []Range
	syncToken  string
	createDate time.Time
}

// Load reads ip-ranges.json from path.
func Load(path string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("loading AWS ip ranges: %w", err)
	}
	defer f.Close()
	t, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("loading AWS ip ranges %q: %w", path, err)
	}
	return t, nil
}

// file is the layout of ip-ranges.json.
type file struct {
	SyncToken  string `json:"syncToken"`
	CreateDate string `json:"createDate"`
	Prefixes   []struct {
		IPPrefix           string `json:"ip_prefix"`
		Region             string `json:"region"`
		Service            string `json:"service"`
		NetworkBorderGroup string `json:"network_border_group"`
	} `json:"prefixes"`
	IPv6Prefixes []struct {
		IPv6Prefix         string `json:"ipv6_prefix"`
		Region             string `json:"region"`
		Service            string `json:"service"`
		NetworkBorderGroup string `json:"network_border_group"`
	} `json:"ipv6_prefixes"`
}

// Parse reads ip-ranges.json. A prefix listed by several services (every
// prefix is listed by AMAZON, and again by EC2, S3, ...) becomes one Range
// with all of them. It fails on a file that is not ip-ranges.json, has no
// prefixes, or holds a prefix that does not parse (naming it).
func Parse(r io.Reader) (*Table, error) {
	var f file
	if err := json.NewDecoder(r).Decode(&f); err != nil {
		return nil, fmt.Errorf("not AWS ip-ranges.json: %w", err)
	}
	if len(f.Prefixes)+len(f.IPv6Prefixes) == 0 {
		return nil, errors.New("not AWS ip-ranges.json: no prefixes or ipv6_prefixes")
	}
	t := &Table{syncToken: f.SyncToken}
	if f.CreateDate != "" {
		// "2024-03-01-12-34-56"
		if d, err := time.Parse("2006-01-02-15-04-05", f.CreateDate); err == nil {
			t.createDate = d
		}
	}
	index := map[netip.Prefix]int32{}
	add := func(p, region, service, nbg string) error {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			return fmt.Errorf("prefix %q: %w", p, err)
		}
		pfx = pfx.Masked()
		i, ok := index[pfx]
		if !ok {
			i = int32(len(t.ranges))
			index[pfx] = i
			t.ranges = append(t.ranges, Range{Prefix: pfx, Region: region, NetworkBorderGroup: nbg})
		}
		rg := &t.ranges[i]
		if service != "" && !slices.Contains(rg.Services, service) {
			rg.Services = append(rg.Services, service)
		}
		return nil
	}
	for _, p := range f.Prefixes {
		if err := add(p.IPPrefix, p.Region, p.Service, p.NetworkBorderGroup); err != nil {
			return nil, err
		}
	}
	for _, p := range f.IPv6Prefixes {
		if err := add(p.IPv6Prefix, p.Region, p.Service, p.NetworkBorderGroup); err != nil {
			return nil, err
		}
	}
	for i := range t.ranges {
		rg := &t.ranges[i]
		slices.Sort(rg.Services)
		rg.Service = specific(rg.Services)
		t.t.Insert(rg.Prefix, int32(i))
	}
	return t, nil
}

// specific picks the service that says most about a prefix: any but
// AMAZON (which lists them all), preferring EC2, whose ranges hold
// customers' instances, and otherwise the first in order.
func specific(services []string) string {
	best := ""
	for _, s := range services {
		switch {
		case s == "AMAZON":
			if best == "" {
				best = s
			}
		case s == "EC2":
			return s
		case best == "" || best == "AMAZON":
			best = s
		}
	}
	return best
}

// Lookup returns the most specific range that holds a, or false when a is
// not an AWS address.
func (t *Table) Lookup(a netip.Addr) (*Range, bool) {
	if t == nil || !a.IsValid() {
		return nil, false
	}
	i, ok := t.t.Lookup(a.Unmap())
	if !ok {
		return nil, false
	}
	return &t.ranges[i], true
}

// Contains reports whether a is an AWS address.
func (t *Table) Contains(a netip.Addr) bool {
	_, ok := t.Lookup(a)
	return ok
}

// Len returns the number of distinct prefixes.
func (t *Table) Len() int { return len(t.ranges) }

// SyncToken and CreateDate identify the file's version, for logs.
func (t *Table) SyncToken() string { return t.syncToken }

// CreateDate returns when AWS published the file (zero when the file does
// not say).
func (t *Table) CreateDate() time.Time { return t.createDate }

// String describes the table for logs.
func (t *Table) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d AWS prefixes", len(t.ranges))
	if !t.createDate.IsZero() {
		fmt.Fprintf(&b, " published %s", t.createDate.Format(time.DateOnly))
	}
	return b.String()
}
