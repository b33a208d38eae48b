package app

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"picket/internal/awsip"
	"picket/internal/decode/cloudtrail"
	"picket/internal/enrich"
	"picket/internal/event"
	"picket/internal/geo"
)

// trailReader reads CloudTrail events behind the recordReader interface.
type trailReader struct {
	r *cloudtrail.Reader
	c event.APICall
}

func (t *trailReader) Next() (event.Record, error) {
	err := t.r.Next(&t.c)
	if err != nil {
		var pe *cloudtrail.ParseError
		if errors.As(err, &pe) {
			return nil, trailError{pe}
		}
		return nil, err
	}
	return &t.c, nil
}

// trailError is a bad CloudTrail event, counted under "cloudtrail-" and
// the decoder's reason, apart from bad flow records.
type trailError struct{ *cloudtrail.ParseError }

func (e trailError) Reason() string { return "cloudtrail-" + e.ParseError.Reason() }
func (e trailError) Unwrap() error  { return e.ParseError }

// openTrail returns a CloudTrail reader for an input, reusing one that a
// closed input gave back: a reader's buffer and intern cache outlive its
// input, and trails come as thousands of small files.
func (p *pipeline) openTrail(r io.Reader, name string) *trailReader {
	if n := len(p.trails); n > 0 {
		t := p.trails[n-1]
		p.trails = p.trails[:n-1]
		t.r.Reset(r, name)
		return t
	}
	return &trailReader{r: cloudtrail.NewReader(r, name)}
}

// releaseTrail keeps a finished input's reader for the next one.
func (p *pipeline) releaseTrail(rd recordReader) {
	if t, ok := rd.(*trailReader); ok && len(p.trails) < 16 {
		t.r.Reset(nil, "")
		p.trails = append(p.trails, t)
	}
}

// apiCall completes an API call from what its input says and enriches it.
func (p *pipeline) apiCall(c *cursor, a *event.APICall) {
	if a.Account.IsZero() {
		a.Account = c.account
	}
	if a.Region.IsZero() {
		a.Region = c.region
	}
	p.ipinfo.Annotate(a)
}

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
