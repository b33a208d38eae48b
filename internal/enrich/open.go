package enrich

import (
	"log/slog"

	"picket/internal/awsip"
	"picket/internal/geo"
)

// OpenIPInfos loads a MaxMind-format city and ASN database and AWS's
// ip-ranges.json, each optional, into an IPInfos, failing on the first
// that cannot be loaded. Without any it returns a nil IPInfos, which
// attaches nothing. The returned function closes the databases; log
// (nil discards) says what was loaded and why a close failed.
func OpenIPInfos(city, asn, ranges string, log *slog.Logger) (*IPInfos, func(), error) {
	if city == "" && asn == "" && ranges == "" {
		return nil, func() {}, nil
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var db *geo.DB
	if city != "" || asn != "" {
		var err error
		db, err = geo.Open(geo.Options{City: city, ASN: asn})
		if err != nil {
			return nil, nil, err
		}
		cityType, asnType := db.Types()
		log.Info("geolocation databases loaded", "city", cityType, "asn", asnType)
	}
	var table *awsip.Table
	if ranges != "" {
		var err error
		table, err = awsip.Load(ranges)
		if err != nil {
			if db != nil {
				db.Close()
			}
			return nil, nil, err
		}
		log.Info("AWS ip ranges loaded", "ranges", table.String())
	}
	closeFn := func() {
		if db != nil {
			if err := db.Close(); err != nil {
				log.Warn("closing geolocation databases", "error", err.Error())
			}
		}
	}
	return NewIPInfos(db, table, 0), closeFn, nil
}
