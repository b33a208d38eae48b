package sqlstore

import (
	"bytes"
	"sync"

	"picket/internal/store"
)

// valueCacheSize bounds the findings whose values the cache keeps. At
// about 8 KB a finding (its JSON and its values), 4096 findings take some
// 32 MB, and cover every finding of most deployments.
const valueCacheSize = 4096

// valueCache keeps the store.Values of findings recently tested in Go,
// keyed by finding and checked against the stored JSON and user state,
// so that repeated queries (the console polling a view, the pages of a
// listing, suppression rules) decode each version of a finding once.
// When full it evicts an entry at random, which a scan of more findings
// than it holds cannot turn into evicting everything in order.
type valueCache struct {
	mu      sync.Mutex
	max     int
	entries map[findingKey]*cachedValues
}

type cachedValues struct {
	body     []byte
	archived int64
	feedback string
	vals     map[string][]string
}

func newValueCache(n int) *valueCache {
	return &valueCache{max: n, entries: make(map[findingKey]*cachedValues)}
}

// get returns the values of a stored finding. Callers must not change
// the map.
func (c *valueCache) get(k findingKey, s *stored) (map[string][]string, error) {
	c.mu.Lock()
	e := c.entries[k]
	if e != nil && e.archived == s.archived && e.feedback == s.feedback.String && bytes.Equal(e.body, s.body) {
		c.mu.Unlock()
		return e.vals, nil
	}
	c.mu.Unlock()

	f, err := s.finding()
	if err != nil {
		return nil, err
	}
	e = &cachedValues{body: s.body, archived: s.archived, feedback: s.feedback.String, vals: store.Values(f)}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[k]; !ok && len(c.entries) >= c.max {
		for old := range c.entries {
			delete(c.entries, old)
			break
		}
	}
	c.entries[k] = e
	return e.vals, nil
}
