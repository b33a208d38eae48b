package app

import (
	"fmt"
	"log/slog"

	"picket/internal/awsip"
	"picket/internal/enrich"
	"picket/internal/geo"
)

// openIPInfo loads the geolocation and AS databases and AWS's ip ranges
// named in opt, failing on the first that cannot be loaded. It returns
// nil when none is named.
func openIPInfo(opt AnalyzeOptions) (*enrich.IPInfos, func(), error) {
	return openIPInfoFiles(opt.GeoIPCity, opt.GeoIPASN, opt.AWSIPRanges, opt.Log)
}

// openIPInfoFiles loads a city and an ASN database and AWS's ip ranges,
// each optional.
func openIPInfoFiles(cityFile, asnFile, rangesFile string, log *slog.Logger) (*enrich.IPInfos, func(), error) {
	if cityFile == "" && asnFile == "" && rangesFile == "" {
		return nil, func() {}, nil
	}
	var db *geo.DB
	if cityFile != "" || asnFile != "" {
		var err error
		db, err = geo.Open(geo.Options{City: cityFile, ASN: asnFile})
		if err != nil {
			return nil, nil, err
		}
		city, asn := db.Types()
		log.Info("geolocation databases loaded", "city", city, "asn", asn)
	}
	var ranges *awsip.Table
	if rangesFile != "" {
		var err error
		ranges, err = awsip.Load(rangesFile)
		if err != nil {
			if db != nil {
				db.Close()
			}
			return nil, nil, err
		}
		log.Info("AWS ip ranges loaded", "ranges", ranges.String())
	}
	closeFn := func() {
		if db != nil {
			if err := db.Close(); err != nil {
				log.Warn("closing geolocation databases", "error", fmt.Sprint(err))
			}
		}
	}
	return enrich.NewIPInfos(db, ranges, 0), closeFn, nil
}
