// Package geo owns geolocation and AS number lookups from MaxMind-format
// .mmdb databases that the user supplies: a city (or country) database
// such as GeoLite2-City, GeoIP2-City or DB-IP City Lite, and an ASN (or
// ISP) database such as GeoLite2-ASN, GeoIP2-ISP or DB-IP ASN Lite.
// picket ships no database and fetches none.
//
// A DB is opened at start and fails fast on a file that is missing, not a
// MaxMind database, or of the wrong kind; after that, lookups never fail:
// an address the databases do not cover gets the zero Info. Lookups decode
// records and so allocate; callers that look up the same addresses again
// and again (enrich does) cache the answers.
//
// The package depends on the standard library and the MaxMind reader
// only; enrich turns its answers into the event values detectors read.
package geo

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/oschwald/maxminddb-golang/v2"
)

// Info is what the databases say about an address. Empty strings and a
// zero ASN mean unknown.
type Info struct {
	CountryCode string // ISO 3166-1 alpha-2, "DE"
	CountryName string // in English, "Germany"
	City        string // in English, "Frankfurt am Main"
	// Lat and Lon locate the address (approximately: see the database's
	// accuracy radius); HasLocation says whether they are known, since 0,0
	// is a place too.
	Lat, Lon    float64
	HasLocation bool
	ASN         uint32 // autonomous system number
	ASOrg       string // the AS's organization, "Amazon.com, Inc."
	ISP         string // from ISP databases only
	Org         string // from ISP databases only
}

// ASNString returns the AS number as GuardDuty renders it (a decimal
// string), or "" when unknown.
func (i *Info) ASNString() string {
	if i.ASN == 0 {
		return ""
	}
	return strconv.FormatUint(uint64(i.ASN), 10)
}

// IsZero reports whether nothing is known.
func (i *Info) IsZero() bool { return *i == Info{} }

// Options names the database files; either may be empty.
type Options struct {
	City string // a City or Country database
	ASN  string // an ASN or ISP database
}

// DB answers lookups from the databases of Options. It is safe for
// concurrent use.
type DB struct {
	city, asn         *maxminddb.Reader
	cityType, asnType string
}

// Open opens the databases. It fails with an error naming the file when
// one is missing, is not a MaxMind DB file, or is of the other kind (an
// ASN database given as the city database, say).
func Open(opt Options) (*DB, error) {
	db := &DB{}
	if opt.City != "" {
		r, err := open(opt.City, "city", func(t string) bool { return has(t, "city", "country") || !has(t, "asn", "isp") })
		if err != nil {
			return nil, err
		}
		db.city, db.cityType = r, r.Metadata.DatabaseType
	}
	if opt.ASN != "" {
		r, err := open(opt.ASN, "ASN", func(t string) bool { return has(t, "asn", "isp") || !has(t, "city", "country") })
		if err != nil {
			db.Close()
			return nil, err
		}
		db.asn, db.asnType = r, r.Metadata.DatabaseType
	}
	return db, nil
}

func has(s string, words ...string) bool {
	s = strings.ToLower(s)
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

func open(path, kind string, ok func(dbType string) bool) (*maxminddb.Reader, error) {
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening %s database %q: %w", kind, path, err)
	}
	if t := r.Metadata.DatabaseType; !ok(t) {
		r.Close()
		return nil, fmt.Errorf("opening %s database %q: it is a %q database, not a %s database", kind, path, t, kind)
	}
	return r, nil
}

// Close releases the databases.
func (db *DB) Close() error {
	var errs []error
	for _, r := range []*maxminddb.Reader{db.city, db.asn} {
		if r != nil {
			errs = append(errs, r.Close())
		}
	}
	db.city, db.asn = nil, nil
	return errors.Join(errs...)
}

// Types returns the database types of the open databases ("" for none),
// for logs.
func (db *DB) Types() (city, asn string) { return db.cityType, db.asnType }

// cityRecord is the part of a City or Country record picket reads; DB-IP
// and MaxMind share the layout.
type cityRecord struct {
	Country struct {
		ISOCode string            `maxminddb:"iso_code"`
		Names   map[string]string `maxminddb:"names"`
	} `maxminddb:"country"`
	RegisteredCountry struct {
		ISOCode string            `maxminddb:"iso_code"`
		Names   map[string]string `maxminddb:"names"`
	} `maxminddb:"registered_country"`
	City struct {
		Names map[string]string `maxminddb:"names"`
	} `maxminddb:"city"`
	Location struct {
		Latitude  *float64 `maxminddb:"latitude"`
		Longitude *float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
}

// asnRecord is the part of an ASN or ISP record picket reads.
type asnRecord struct {
	ASN   uint32 `maxminddb:"autonomous_system_number"`
	ASOrg string `maxminddb:"autonomous_system_organization"`
	ISP   string `maxminddb:"isp"`
	Org   string `maxminddb:"organization"`
}

// Lookup returns what the databases say about a. It never fails: an
// address they do not cover, or a record they cannot decode, gives what
// could be read (the zero Info at worst).
func (db *DB) Lookup(a netip.Addr) Info {
	var info Info
	if !a.IsValid() {
		return info
	}
	a = a.Unmap()
	if db.city != nil {
		var rec cityRecord
		if err := db.city.Lookup(a).Decode(&rec); err == nil {
			info.CountryCode = rec.Country.ISOCode
			info.CountryName = rec.Country.Names["en"]
			if info.CountryCode == "" {
				// No physical country (an anycast or satellite range):
				// where the block is registered.
				info.CountryCode = rec.RegisteredCountry.ISOCode
				info.CountryName = rec.RegisteredCountry.Names["en"]
			}
			info.City = rec.City.Names["en"]
			if rec.Location.Latitude != nil && rec.Location.Longitude != nil {
				info.Lat, info.Lon, info.HasLocation = *rec.Location.Latitude, *rec.Location.Longitude, true
			}
		}
	}
	if db.asn != nil {
		var rec asnRecord
		if err := db.asn.Lookup(a).Decode(&rec); err == nil {
			info.ASN, info.ASOrg, info.ISP, info.Org = rec.ASN, rec.ASOrg, rec.ISP, rec.Org
		}
	}
	return info
}
