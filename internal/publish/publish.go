// Package publish owns pushing findings out of picket serve: the
// publisher that reads the store's outbox (the findings each commit
// created or changed, written in the commit's transaction), sends them to
// every configured push target, marks what each target sent, retries a
// failing target with exponential backoff and jitter, and prunes what
// every target has sent; the formats a finding goes out in (EventBridge's
// "GuardDuty Finding" event, the finding's own JSON, OCSF's Detection
// Finding, Security Hub's ASFF); and the targets (an HTTPS webhook signed
// with HMAC-SHA256, syslog over TCP or TLS, EventBridge's PutEvents,
// Security Hub's BatchImportFindings, an S3 bucket of gzip JSON-lines
// objects).
//
// Delivery is at least once: a target that fails, or a process killed
// between sending and marking, sends the entries again. Each target runs
// on its own goroutine, beside the ingest loop, so a dead endpoint holds
// back only its own backlog, never ingest or the other targets. Besides
// the targets of the configuration, the publisher runs targets that come
// and go while it runs (Config.Dynamic): the publishing destinations
// created through the API, each exporting one detector's findings to its
// own bucket (Destinations).
//
// Only the composition root imports publish. It may import finding and
// store.
package publish

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"picket/internal/finding"
	"picket/internal/store"
)

// Store is what the publisher asks of the store.
type Store interface {
	Outbox(ctx context.Context, target string, now time.Time, limit int) ([]store.OutboxEntry, error)
	OutboxBacklog(ctx context.Context, target string, now time.Time) (int, time.Time, error)
	MarkSent(ctx context.Context, target string, seqs []int64) error
	PruneOutbox(ctx context.Context, targets []string) (int, error)
	Findings(ctx context.Context, detectorID string, ids []string) ([]*finding.Finding, error)
}

// Event is one finding to push: as it is stored when it is sent.
type Event struct {
	Kind        string // store.OutboxNew or store.OutboxUpdate
	Finding     *finding.Finding
	CommittedAt time.Time // when the oldest commit it stands for was made
}

// Target sends events somewhere. Send either delivers every event or
// returns an error, after which all of them are sent again; a target
// whose receiver deduplicates can rely on Event's finding ID and
// updatedAt. Send is called from one goroutine at a time.
type Target interface {
	Name() string // unique among the targets; the key of its marks in the store
	Send(ctx context.Context, events []Event) error
}

// Selector is an optional capability of a Target that takes only some
// of the outbox. The entries it does not take are marked sent without
// being sent: TakesEntry is asked first, before the entry's finding is
// read, then Takes of each finding read.
type Selector interface {
	TakesEntry(e store.OutboxEntry) bool
	Takes(f *finding.Finding) bool
}

// Verifier is an optional capability of a Target: Verify is called once
// when the target starts, before its first round and within Timeout, to
// check that it can deliver. It reports what it finds its own way (a publishing
// destination records its status); the rounds run whatever it finds.
type Verifier interface {
	Verify(ctx context.Context)
}

// Specced is an optional capability of a dynamic Target: when a target
// of the same name comes back with another Spec, the publisher stops the
// old one (after its round) and starts the new one. The marks of what
// was sent stay with the name.
type Specced interface {
	Spec() string
}

// Observer is told what the publisher does, for metrics; nil methods are
// not called.
type Observer struct {
	// Sent reports events a target delivered, with the time from the
	// commit of each to its delivery.
	Sent func(target string, latency []time.Duration)
	// Failed reports a failed round of a target (its events are retried).
	Failed func(target string)
}

// Config configures a Publisher.
type Config struct {
	Store   Store
	Targets []Target
	// Dynamic, if set, returns the targets that come and go while the
	// publisher runs (Destinations.Targets). The publisher asks for them
	// at start, every Reload, and right before each prune, so that a
	// prune keeps what any target it returns has yet to send. A target
	// it stops returning is stopped after its round; its marks go as its
	// entries are pruned. After an error the targets running keep
	// running, and the prune waits for a complete list. Names must
	// differ from those of Targets (one that does not is left out).
	Dynamic func(ctx context.Context) ([]Target, error)
	// Reload is how often Dynamic is asked (default Poll): the bound on
	// the wait between a destination's creation, change or deletion and
	// the publisher acting on it.
	Reload time.Duration
	// Poll is how often a target with nothing to send looks at the
	// outbox again (default 250ms): the bound on the wait between a
	// commit and a delivery's start.
	Poll time.Duration
	// Batch is the most events a target is given at once (default 100).
	Batch int
	// MinBackoff and MaxBackoff bound the wait after a failure, which
	// doubles with each failure in a row, with jitter (defaults 1s and
	// 5m).
	MinBackoff, MaxBackoff time.Duration
	// Timeout bounds one Send (default 30s).
	Timeout time.Duration
	// Prune is how often entries every target sent are deleted
	// (default 1m).
	Prune    time.Duration
	Observer Observer
	Log      *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Publisher sends the outbox to every target.
type Publisher struct {
	cfg    Config
	static map[string]bool // the names of cfg.Targets
	reload chan struct{}

	mu      sync.Mutex
	backlog map[string]Backlog
	runs    map[string]*run // the targets running, by name
}

// run is one target's goroutine.
type run struct {
	t    Target
	spec string
	wake chan struct{}
	stop context.CancelFunc
	done chan struct{}
}

// Backlog is what a target has not sent yet.
type Backlog struct {
	Target  string
	Pending int       // entries not sent, due or not
	Oldest  time.Time // commit time of the oldest due one; zero if none
	Failing bool      // the last round failed
}

// New returns a publisher; it panics on duplicate target names, a
// programmer's error (the configuration rejects them).
func New(cfg Config) *Publisher {
	if cfg.Poll <= 0 {
		cfg.Poll = 250 * time.Millisecond
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 100
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(5*time.Minute, cfg.MinBackoff)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Prune <= 0 {
		cfg.Prune = time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Reload <= 0 {
		cfg.Reload = cfg.Poll
	}
	p := &Publisher{cfg: cfg, static: map[string]bool{}, reload: make(chan struct{}, 1),
		backlog: map[string]Backlog{}, runs: map[string]*run{}}
	for _, t := range cfg.Targets {
		if p.static[t.Name()] {
			panic("publish: two targets named " + t.Name())
		}
		p.static[t.Name()] = true
	}
	return p
}

// Notify tells every target to look at the outbox now rather than at its
// next poll: after a commit.
func (p *Publisher) Notify() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.runs {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// Reload tells the publisher to ask Config.Dynamic for its targets now
// rather than at the next Reload interval.
func (p *Publisher) Reload() {
	select {
	case p.reload <- struct{}{}:
	default:
	}
}

// Backlogs returns each target's backlog as of its last look at the
// outbox: the configuration's targets in order, then the dynamic ones
// running, by name.
func (p *Publisher) Backlogs() []Backlog {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Backlog, 0, len(p.runs))
	for _, name := range p.namesLocked() {
		b := p.backlog[name]
		b.Target = name
		out = append(out, b)
	}
	return out
}

// namesLocked returns the names of the targets running, the
// configuration's first; p.mu is held.
func (p *Publisher) namesLocked() []string {
	names := make([]string, 0, len(p.runs))
	for _, t := range p.cfg.Targets {
		if p.runs[t.Name()] != nil {
			names = append(names, t.Name())
		}
	}
	var dynamic []string
	for name := range p.runs {
		if !p.static[name] {
			dynamic = append(dynamic, name)
		}
	}
	slices.Sort(dynamic)
	return append(names, dynamic...)
}

// Run sends until ctx is done. With no targets, it only prunes: the
// outbox then keeps nothing.
func (p *Publisher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, t := range p.cfg.Targets {
		p.start(ctx, &wg, t, nil)
	}
	var reload <-chan time.Time
	if p.cfg.Dynamic != nil {
		p.sync(ctx, &wg)
		tick := time.NewTicker(p.cfg.Reload)
		defer tick.Stop()
		reload = tick.C
	}
	prune := time.NewTimer(0)
	defer prune.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-reload:
			p.sync(ctx, &wg)
		case <-p.reload:
			if p.cfg.Dynamic != nil {
				p.sync(ctx, &wg)
			}
		case <-prune.C:
			p.prune(ctx, &wg)
			prune.Reset(p.cfg.Prune)
		}
	}
}

// prune deletes the entries every target has sent. The dynamic targets
// are asked for first, so that one just created keeps what it has yet
// to send; without their complete list nothing is pruned.
func (p *Publisher) prune(ctx context.Context, wg *sync.WaitGroup) {
	if p.cfg.Dynamic != nil && !p.sync(ctx, wg) {
		return
	}
	p.mu.Lock()
	names := p.namesLocked()
	p.mu.Unlock()
	if _, err := p.cfg.Store.PruneOutbox(ctx, names); err != nil && ctx.Err() == nil {
		p.cfg.Log.Warn("pruning the outbox", "error", err)
	}
}

func specOf(t Target) string {
	if s, ok := t.(Specced); ok {
		return s.Spec()
	}
	return ""
}

// sync starts the dynamic targets that are new, stops those that are
// gone and replaces those whose Spec changed. It reports whether it got
// their list.
func (p *Publisher) sync(ctx context.Context, wg *sync.WaitGroup) bool {
	ts, err := p.cfg.Dynamic(ctx)
	if err != nil {
		if ctx.Err() == nil {
			p.cfg.Log.Warn("listing the publishing destinations; the running ones carry on", "error", err)
		}
		return false
	}
	want := map[string]Target{}
	for _, t := range ts {
		name := t.Name()
		if p.static[name] || want[name] != nil {
			p.cfg.Log.Warn("a push target of the same name runs already; this one is left out", "target", name)
			continue
		}
		want[name] = t
	}
	p.mu.Lock()
	var stopped []string
	after := map[string]chan struct{}{}
	for name, r := range p.runs {
		if p.static[name] {
			continue
		}
		t, ok := want[name]
		if ok && specOf(t) == r.spec {
			continue
		}
		r.stop()
		delete(p.runs, name)
		after[name] = r.done
		if !ok {
			stopped = append(stopped, name)
		}
	}
	var started []string
	for name, t := range want {
		if p.runs[name] == nil {
			p.startLocked(ctx, wg, t, after[name])
			started = append(started, name)
		}
	}
	p.mu.Unlock()
	if len(started) > 0 || len(stopped) > 0 {
		slices.Sort(started)
		slices.Sort(stopped)
		p.cfg.Log.Info("push targets changed", "started", started, "stopped", stopped)
	}
	return true
}

func (p *Publisher) start(ctx context.Context, wg *sync.WaitGroup, t Target, after <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.startLocked(ctx, wg, t, after)
}

// startLocked starts t's goroutine once after is closed (nil: at once);
// p.mu is held.
func (p *Publisher) startLocked(ctx context.Context, wg *sync.WaitGroup, t Target, after <-chan struct{}) {
	rctx, stop := context.WithCancel(ctx)
	r := &run{t: t, spec: specOf(t), wake: make(chan struct{}, 1), stop: stop, done: make(chan struct{})}
	p.runs[t.Name()] = r
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(r.done)
		defer stop()
		defer func() {
			// A target stopped for good leaves no backlog behind.
			p.mu.Lock()
			if p.runs[t.Name()] != r {
				delete(p.backlog, t.Name())
			}
			p.mu.Unlock()
		}()
		if after != nil {
			select {
			case <-after:
			case <-rctx.Done():
				return
			}
		}
		if v, ok := t.(Verifier); ok {
			vctx, cancel := context.WithTimeout(rctx, p.cfg.Timeout)
			v.Verify(vctx)
			cancel()
		}
		p.runTarget(rctx, t, r.wake)
	}()
}

func (p *Publisher) runTarget(ctx context.Context, t Target, wake <-chan struct{}) {
	failures := 0
	for ctx.Err() == nil {
		n, err := p.round(ctx, t)
		p.note(ctx, t.Name(), err != nil)
		var wait time.Duration
		switch {
		case err != nil && ctx.Err() == nil:
			failures++
			wait = p.backoff(failures)
			p.cfg.Log.Warn("push target failed; retrying", "target", t.Name(), "failures", failures, "retry_in", wait.Round(time.Millisecond), "error", err)
			if f := p.cfg.Observer.Failed; f != nil {
				f(t.Name())
			}
		case err != nil:
			return
		case n == p.cfg.Batch:
			failures = 0
			continue // more is waiting
		default:
			if failures > 0 {
				p.cfg.Log.Info("push target recovered", "target", t.Name(), "failures", failures)
			}
			failures = 0
			wait = p.cfg.Poll
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-wake:
			if failures > 0 {
				// A failing target keeps to its backoff.
				select {
				case <-ctx.Done():
				case <-timer.C:
				}
			}
			timer.Stop()
		case <-timer.C:
		}
	}
}

// backoff returns the wait after the nth failure in a row: MinBackoff
// doubled n-1 times, at most MaxBackoff, less a random part of up to half
// of it, so that targets failing together do not retry in step.
func (p *Publisher) backoff(n int) time.Duration {
	d := p.cfg.MinBackoff
	for i := 1; i < n && d < p.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, p.cfg.MaxBackoff)
	return d - rand.N(d/2+1)
}

// note refreshes a target's backlog.
func (p *Publisher) note(ctx context.Context, target string, failing bool) {
	n, oldest, err := p.cfg.Store.OutboxBacklog(ctx, target, p.cfg.Now())
	if err != nil {
		return
	}
	p.mu.Lock()
	p.backlog[target] = Backlog{Target: target, Pending: n, Oldest: oldest, Failing: failing}
	p.mu.Unlock()
}

type findingRef struct{ detector, id string }

// round sends one batch of a target's due entries and marks them sent.
// It returns how many entries it read.
func (p *Publisher) round(ctx context.Context, t Target) (int, error) {
	entries, err := p.cfg.Store.Outbox(ctx, t.Name(), p.cfg.Now(), p.cfg.Batch)
	if err != nil || len(entries) == 0 {
		return 0, err
	}
	take := entries
	sel, selects := t.(Selector)
	if selects {
		take = slices.DeleteFunc(slices.Clone(entries), func(e store.OutboxEntry) bool { return !sel.TakesEntry(e) })
	}
	events, err := p.events(ctx, take)
	if err != nil {
		return 0, err
	}
	if selects {
		events = slices.DeleteFunc(events, func(e Event) bool { return !sel.Takes(e.Finding) })
	}
	if len(events) > 0 {
		sctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
		err = t.Send(sctx, events)
		cancel()
		if err != nil {
			return 0, fmt.Errorf("sending %d findings: %w", len(events), err)
		}
	}
	seqs := make([]int64, len(entries))
	for i, e := range entries {
		seqs[i] = e.Seq
	}
	// A process killed here sends these again after its restart: at
	// least once.
	if err := p.cfg.Store.MarkSent(context.WithoutCancel(ctx), t.Name(), seqs); err != nil {
		return 0, err
	}
	if f := p.cfg.Observer.Sent; f != nil && len(events) > 0 {
		now := p.cfg.Now()
		lat := make([]time.Duration, len(events))
		for i, e := range events {
			lat[i] = now.Sub(e.CommittedAt)
		}
		f(t.Name(), lat)
	}
	return len(entries), nil
}

// events reads the findings entries name, one event per finding in the
// order of its first entry: a new finding when any of its entries says
// so. A finding that is gone (its detector deleted) or archived is left
// out.
func (p *Publisher) events(ctx context.Context, entries []store.OutboxEntry) ([]Event, error) {
	idx := map[findingRef]int{}
	var events []Event
	byDet := map[string][]string{}
	for _, e := range entries {
		r := findingRef{e.DetectorID, e.FindingID}
		i, ok := idx[r]
		if !ok {
			i = len(events)
			idx[r] = i
			events = append(events, Event{Kind: e.Kind, CommittedAt: e.CreatedAt})
			byDet[e.DetectorID] = append(byDet[e.DetectorID], e.FindingID)
			continue
		}
		if e.Kind == store.OutboxNew {
			events[i].Kind = store.OutboxNew
		}
		if e.CreatedAt.Before(events[i].CommittedAt) {
			events[i].CommittedAt = e.CreatedAt
		}
	}
	for _, det := range slices.Sorted(maps.Keys(byDet)) {
		fs, err := p.cfg.Store.Findings(ctx, det, byDet[det])
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading findings to push: %w", err)
		}
		for _, f := range fs {
			if i, ok := idx[findingRef{det, f.ID}]; ok {
				events[i].Finding = f
			}
		}
	}
	out := events[:0]
	for _, e := range events {
		// What a user or a suppression rule archived is not pushed.
		if e.Finding != nil && !e.Finding.Service.Archived {
			out = append(out, e)
		}
	}
	return out, nil
}
