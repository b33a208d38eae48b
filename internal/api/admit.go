package api

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// admission applies cfg's limits on how requests arrive and are
// admitted to h, with their defaults.
func (h *Handler) admission(cfg Config) error {
	if cfg.MaxInFlight < 0 {
		return fmt.Errorf("api: MaxInFlight is %d, want 0 (no bound) or more", cfg.MaxInFlight)
	}
	for _, c := range []struct {
		name string
		v    int64
	}{
		{"MaxHeaderBytes", int64(cfg.MaxHeaderBytes)},
		{"BodyTimeout", int64(cfg.BodyTimeout)},
		{"MinBodyRate", cfg.MinBodyRate},
		{"MaxUnauthenticatedPerClient", int64(cfg.MaxUnauthenticatedPerClient)},
		{"MaxQueueWait", int64(cfg.MaxQueueWait)},
	} {
		if c.v < 0 {
			return fmt.Errorf("api: %s is negative, want 0 (the default) or more", c.name)
		}
	}
	if cfg.MaxInFlight > 0 {
		h.slots = make(chan struct{}, cfg.MaxInFlight)
	}
	h.maxHeader = orDefault(cfg.MaxHeaderBytes, DefaultMaxHeaderBytes)
	h.bodyTimeout = orDefault(cfg.BodyTimeout, DefaultBodyTimeout)
	h.minBodyRate = orDefault(cfg.MinBodyRate, DefaultMinBodyRate)
	h.queueWait = orDefault(cfg.MaxQueueWait, DefaultMaxQueueWait)
	h.unauth = &clientGate{max: orDefault(cfg.MaxUnauthenticatedPerClient, DefaultMaxUnauthenticatedPerClient), n: make(map[netip.Addr]int)}
	return nil
}

func orDefault[T int | int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// bodyAllowance is the time a body of length n (-1: unknown) may take
// to arrive: the fixed allowance plus its length, or the longest body
// allowed, at the minimum rate.
func (h *Handler) bodyAllowance(n int64) time.Duration {
	if n < 0 {
		n = h.maxBody
	}
	return h.bodyTimeout + time.Duration(float64(n)/float64(h.minBodyRate)*float64(time.Second))
}

// admit waits for a slot under MaxInFlight, at most MaxQueueWait, and
// returns the function that gives it back. Waiting requests take the
// slots in the order they came (a channel's senders queue in order).
func (h *Handler) admit(ctx context.Context) (release func(), err error) {
	if h.slots == nil {
		return func() {}, nil
	}
	release = func() { <-h.slots }
	select {
	case h.slots <- struct{}{}:
		return release, nil
	default:
	}
	t := time.NewTimer(h.queueWait)
	defer t.Stop()
	select {
	case h.slots <- struct{}{}:
		return release, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting to be served: %w", context.Cause(ctx))
	case <-t.C:
		return nil, unavailable(fmt.Errorf("no slot free after %v (%d in flight)", h.queueWait, cap(h.slots)))
	}
}

// clientGate counts each client's requests that are being read and
// verified and refuses those over the cap. A client is an IPv4 address
// or an IPv6 /64, the block a single host is commonly given. The map
// holds only clients with such a request, so it is no larger than the
// number of connections being served.
type clientGate struct {
	max int

	mu sync.Mutex
	n  map[netip.Addr]int
}

// enter counts a request of client c and reports whether it is within
// the cap; a request that entered must leave.
func (g *clientGate) enter(c netip.Addr) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n[c] >= g.max {
		return false
	}
	g.n[c]++
	return true
}

// leave ends a request of client c that entered.
func (g *clientGate) leave(c netip.Addr) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.n[c] <= 1 {
		delete(g.n, c)
		return
	}
	g.n[c]--
}

// clientOf is the client of a request's remote address. An address
// that does not parse (not TCP) gives the zero Addr, one client for all
// such requests.
func clientOf(remote string) netip.Addr {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Addr{}
	}
	a := ap.Addr().Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// headerBytes is the size of a request's line and header fields as
// Config.MaxHeaderBytes counts them. The server has taken Host out of
// the header map; it counts as the field it was.
func headerBytes(r *http.Request) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2
	n += len("Host: ") + len(r.Host) + 2
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + 2 + len(v) + 2
		}
	}
	return n
}

// hangUp is for an answer given before the request's body is read: the
// connection is closed after the answer (Connection: close), and the
// read deadline passes at once so that the server gives up at once the
// discarding of the unread body that it would otherwise attempt (up to
// 256 KiB, for as long as a stalled client cares to take).
func hangUp(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength == 0 {
		return
	}
	w.Header().Set("Connection", "close")
	_ = http.NewResponseController(w).SetReadDeadline(time.Now())
}
