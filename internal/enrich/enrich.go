package enrich

import "picket/internal/event"

// Enricher is the one enrichment step that every record takes between
// decoding and detection, in picket analyze and picket serve alike. It
// fills in the account and region a record lacks from what its input
// says, sets a flow's direction, and attaches to an API call what the
// databases say about its caller. It is not safe for concurrent use.
type Enricher struct {
	Directions *Directions
	IPInfo     *IPInfos // nil without databases
	// NoData and SkipData count the flow records that carry no traffic:
	// NODATA (nothing in the window) and SKIPDATA (AWS skipped records).
	NoData, SkipData uint64
}

// unknownAccount is what a flow record says when the account is not
// known to AWS.
var unknownAccount = event.Intern("unknown")

// Record completes rec, whose input defaults to account and region. It
// returns false for a record without traffic for the detectors (a NODATA
// or SKIPDATA flow record), which it counts.
func (e *Enricher) Record(rec event.Record, account, region event.ID) bool {
	switch r := rec.(type) {
	case *event.Flow:
		switch r.Status {
		case event.StatusNoData:
			e.NoData++
			return false
		case event.StatusSkipData:
			e.SkipData++
			return false
		}
		if r.Account.IsZero() || r.Account == unknownAccount {
			r.Account = account
		}
		if r.Region.IsZero() {
			r.Region = region
		}
		if e.Directions != nil {
			e.Directions.Resolve(r)
		}
	case *event.APICall:
		if r.Account.IsZero() {
			r.Account = account
		}
		if r.Region.IsZero() {
			r.Region = region
		}
		e.IPInfo.Annotate(r)
	}
	return true
}
