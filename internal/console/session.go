package console

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"sync"
	"time"
)

// session is one signed-in browser: the key it signed in with (never the
// secret), the region it works in, and the token it must send with every
// change.
type session struct {
	keyID   string
	account string
	region  string
	csrf    string
	created time.Time
	seen    time.Time
}

// sessions is the table of signed-in browsers, keyed by a digest of the
// cookie's value so that the value itself is kept nowhere. It is bounded:
// when full, the session seen least recently is dropped.
type sessions struct {
	mu      sync.Mutex
	m       map[[32]byte]*session
	max     int
	idle    time.Duration // a session not used this long ends
	maxAge  time.Duration // a session ends this long after sign-in regardless
	evicted uint64
}

func newSessions(max int, idle, maxAge time.Duration) *sessions {
	return &sessions{m: map[[32]byte]*session{}, max: max, idle: idle, maxAge: maxAge}
}

// randomToken returns 32 random bytes, base64url-encoded.
func randomToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("console: no randomness: " + err.Error()) // crypto/rand does not fail on supported systems
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// start begins a session and returns the cookie value that names it.
func (s *sessions) start(keyID, account, region string, now time.Time) (string, *session) {
	token := randomToken()
	ses := &session{keyID: keyID, account: account, region: region, csrf: randomToken(), created: now, seen: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(now)
	for len(s.m) >= s.max {
		var oldest [32]byte
		var t time.Time
		first := true
		for k, v := range s.m {
			if first || v.seen.Before(t) {
				oldest, t, first = k, v.seen, false
			}
		}
		delete(s.m, oldest)
		s.evicted++
	}
	s.m[sha256.Sum256([]byte(token))] = ses
	return token, ses
}

// get returns the live session a cookie value names, marking it used.
func (s *sessions) get(token string, now time.Time) (*session, bool) {
	if token == "" {
		return nil, false
	}
	k := sha256.Sum256([]byte(token))
	s.mu.Lock()
	defer s.mu.Unlock()
	ses, ok := s.m[k]
	if !ok {
		return nil, false
	}
	if s.over(ses, now) {
		delete(s.m, k)
		return nil, false
	}
	ses.seen = now
	c := *ses
	return &c, true
}

// end ends the session a cookie value names.
func (s *sessions) end(token string) {
	k := sha256.Sum256([]byte(token))
	s.mu.Lock()
	delete(s.m, k)
	s.mu.Unlock()
}

func (s *sessions) over(ses *session, now time.Time) bool {
	return now.Sub(ses.seen) > s.idle || now.Sub(ses.created) > s.maxAge
}

// expire drops the sessions that are over; the caller holds mu.
func (s *sessions) expire(now time.Time) {
	for k, v := range s.m {
		if s.over(v, now) {
			delete(s.m, k)
		}
	}
}

// expiresAt returns when a session ends if it stays in use.
func (s *sessions) expiresAt(ses *session) time.Time {
	return ses.created.Add(s.maxAge)
}

// limiter bounds failed sign-ins per client address: a fixed window of
// attempts, in a bounded table.
type limiter struct {
	mu     sync.Mutex
	m      map[string]*window
	max    int // failures allowed per window
	per    time.Duration
	maxIPs int
}

type window struct {
	start    time.Time
	failures int
}

func newLimiter(max int, per time.Duration, maxIPs int) *limiter {
	return &limiter{m: map[string]*window{}, max: max, per: per, maxIPs: maxIPs}
}

// allow reports whether client may try to sign in now.
func (l *limiter) allow(client string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.m[client]
	return w == nil || now.Sub(w.start) > l.per || w.failures < l.max
}

// fail counts a failed sign-in of client.
func (l *limiter) fail(client string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.m[client]
	if w == nil || now.Sub(w.start) > l.per {
		if w == nil && len(l.m) >= l.maxIPs {
			for k, v := range l.m {
				if now.Sub(v.start) > l.per {
					delete(l.m, k)
				}
			}
			if len(l.m) >= l.maxIPs {
				return // full of recent failures: this client is not tracked, but every tracked one still is
			}
		}
		w = &window{start: now}
		l.m[client] = w
	}
	w.failures++
}
