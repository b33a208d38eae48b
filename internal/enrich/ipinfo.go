package enrich

import (
	"net/netip"
	"sync"

	"picket/internal/awsip"
	"picket/internal/event"
	"picket/internal/geo"
	"picket/internal/lru"
)

// IPInfos attaches to records what the user's databases say about their
// addresses: country, city and location, AS number and organization (from
// MaxMind-format databases, see geo), and whether the address is inside
// AWS (from ip-ranges.json, see awsip). Either source may be absent.
//
// Database lookups decode records and allocate, and the same callers
// appear in event after event, so answers are cached in a bounded LRU
// table: a hit costs a map lookup and no allocation. An IPInfos is safe
// for concurrent use; the pipeline owns one.
type IPInfos struct {
	db  *geo.DB
	aws *awsip.Table
	// mu guards the cache and the counts: the engine's goroutine looks
	// up the callers of API calls while the detectors', with
	// detect.Config.Apart, look up the remote addresses of findings. The
	// answers do not depend on who asked first.
	mu    sync.Mutex
	cache *lru.Table[netip.Addr, event.IPInfo]
	stats IPInfoStats
}

// IPInfoStats counts lookups, for the summary and metrics.
type IPInfoStats struct {
	Lookups uint64 // addresses looked up
	Misses  uint64 // lookups that went to the databases
	Evicted uint64 // cached answers evicted to stay within the bound
}

// DefaultIPInfoCache is the default number of cached addresses.
const DefaultIPInfoCache = 65536

// NewIPInfos returns an IPInfos over db and aws (either may be nil) that
// caches up to max answers (DefaultIPInfoCache when max <= 0).
func NewIPInfos(db *geo.DB, aws *awsip.Table, max int) *IPInfos {
	if max <= 0 {
		max = DefaultIPInfoCache
	}
	return &IPInfos{db: db, aws: aws, cache: lru.New[netip.Addr, event.IPInfo](max, nil)}
}

// Enabled reports whether any database was given: without one there is
// nothing to attach.
func (x *IPInfos) Enabled() bool { return x != nil && (x.db != nil || x.aws != nil) }

// Lookup returns what is known about a (the zero IPInfo for an invalid
// address or when nothing is).
func (x *IPInfos) Lookup(a netip.Addr) event.IPInfo {
	if !x.Enabled() || !a.IsValid() {
		return event.IPInfo{}
	}
	a = a.Unmap()
	x.mu.Lock()
	defer x.mu.Unlock()
	x.stats.Lookups++
	if v := x.cache.Get(a); v != nil {
		return *v
	}
	x.stats.Misses++
	info := x.lookup(a)
	v, _ := x.cache.Put(a)
	*v = info
	return info
}

func (x *IPInfos) lookup(a netip.Addr) event.IPInfo {
	var info event.IPInfo
	if x.db != nil {
		g := x.db.Lookup(a)
		info = event.IPInfo{
			CountryCode: event.Intern(g.CountryCode), CountryName: event.Intern(g.CountryName), City: event.Intern(g.City),
			Lat: g.Lat, Lon: g.Lon, HasLocation: g.HasLocation,
			ASN: g.ASN, ASOrg: event.Intern(g.ASOrg), ISP: event.Intern(g.ISP), Org: event.Intern(g.Org),
		}
	}
	if x.aws != nil {
		info.AWS = event.TriFalse
		if r, ok := x.aws.Lookup(a); ok {
			info.AWS = event.TriTrue
			info.AWSService = event.Intern(r.Service)
			info.AWSRegion = event.Intern(r.Region)
		}
	}
	return info
}

// Annotate fills c.SourceInfo from c.SourceIP.
func (x *IPInfos) Annotate(c *event.APICall) {
	if x.Enabled() && c.SourceIP.IsValid() {
		c.SourceInfo = x.Lookup(c.SourceIP)
	}
}

// Stats returns the lookup counts.
func (x *IPInfos) Stats() IPInfoStats {
	if x == nil {
		return IPInfoStats{}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	s := x.stats
	s.Evicted = x.cache.Evicted()
	return s
}
