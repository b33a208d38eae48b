package api

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"picket/internal/store"
)

// setKind describes one kind of list resource: its wire names and quota.
type setKind struct {
	kind     store.SetKind
	op       string // the operation suffix: IPSet, ThreatIntelSet, ...
	idMember string // the create output and the Get path label
	quota    int    // per detector, as GuardDuty sets it
	entity   bool   // entity sets also report times and errorDetails
}

var setKinds = []setKind{
	{store.IPSet, "IPSet", "ipSetId", 1, false},
	{store.ThreatIntelSet, "ThreatIntelSet", "threatIntelSetId", 6, false},
	{store.ThreatEntitySet, "ThreatEntitySet", "threatEntitySetId", 6, true},
	{store.TrustedEntitySet, "TrustedEntitySet", "trustedEntitySetId", 1, true},
}

var setFormats = []string{"TXT", "STIX", "OTX_CSV", "ALIEN_VAULT", "PROOF_POINT", "FIRE_EYE"}

// The statuses of a list.
const (
	statusInactive   = "INACTIVE"
	statusActivating = "ACTIVATING"
	statusActive     = "ACTIVE"
	statusError      = "ERROR"
)

// maxErrorDetails bounds the errorDetails a failed load leaves.
const maxErrorDetails = 1024

// setRef names a list.
type setRef struct {
	detector string
	kind     store.SetKind
	id       string
}

func refOf(s *store.Set) setRef { return setRef{s.DetectorID, s.Kind, s.ID} }

type createSetInput struct {
	Name                *string           `json:"name"`
	Format              *string           `json:"format"`
	Location            *string           `json:"location"`
	Activate            *bool             `json:"activate"`
	ClientToken         *string           `json:"clientToken"`
	Tags                map[string]string `json:"tags"`
	ExpectedBucketOwner *string           `json:"expectedBucketOwner"`
}

func validLocation(loc string) error {
	if err := length("location", loc, 1, 300); err != nil {
		return err
	}
	return noControl("location", loc)
}

func validBucketOwner(owner *string) error {
	if owner != nil && !validAccount(*owner) {
		return invalidParam("expectedBucketOwner", errors.New("not a 12-digit account ID"))
	}
	return nil
}

// checkLocation asks the threat-intel engine, if it can tell, whether the
// list can be read. A denial is a 403 where the model declares
// AccessDeniedException (IPSet and ThreatIntelSet), else a 400.
func (h *Handler) checkLocation(rq *request, k setKind, location, owner string) error {
	lc, ok := h.sets.(LocationChecker)
	if !ok {
		return nil
	}
	err := lc.CheckLocation(rq.ctx, location, owner)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrAccessDenied):
		msg := "The request is rejected because the list at location " + truncate(location, 300) + " cannot be read."
		if k.entity {
			return badRequest(msg, err)
		}
		return accessDenied(msg, err)
	}
	return invalidParam("location", err)
}

// newSetID returns the ID of a new list: derived from the clientToken
// when there is one, so that a retried create finds the list it made.
func newSetID(d, kind, clientToken string) string {
	if clientToken != "" {
		sum := sha256.Sum256([]byte("picket-set-v1\x00" + d + "\x00" + kind + "\x00" + clientToken))
		return hex.EncodeToString(sum[:16])
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (h *Handler) createSet(rq *request, k setKind) (any, error) {
	var in createSetInput
	if err := decodeBody(rq.body, &in); err != nil {
		return nil, err
	}
	d, err := h.detector(rq)
	if err != nil {
		return nil, err
	}
	switch {
	case in.Name == nil:
		return nil, required("name")
	case in.Format == nil:
		return nil, required("format")
	case in.Location == nil:
		return nil, required("location")
	case in.Activate == nil:
		return nil, required("activate")
	}
	if err := validListName(*in.Name); err != nil {
		return nil, err
	}
	if err := length("format", *in.Format, 1, 300); err != nil {
		return nil, err
	}
	if err := enum("format", *in.Format, setFormats...); err != nil {
		return nil, err
	}
	if err := validLocation(*in.Location); err != nil {
		return nil, err
	}
	if err := validBucketOwner(in.ExpectedBucketOwner); err != nil {
		return nil, err
	}
	if err := optLength("clientToken", in.ClientToken, 0, 64); err != nil {
		return nil, err
	}
	if err := validTags(in.Tags, in.Tags != nil); err != nil {
		return nil, err
	}
	now := h.now().UTC()
	s := &store.Set{
		DetectorID:          d.ID,
		Kind:                k.kind,
		ID:                  newSetID(d.ID, string(k.kind), deref(in.ClientToken)),
		Name:                *in.Name,
		Format:              *in.Format,
		Location:            *in.Location,
		ExpectedBucketOwner: deref(in.ExpectedBucketOwner),
		Status:              statusInactive,
		Tags:                in.Tags,
		CreatedAt:           now,
		UpdatedAt:           now,
	}
	if *in.Activate {
		s.Status = statusActivating
	}
	if old, err := h.store.Set(rq.ctx, d.ID, k.kind, s.ID); err == nil {
		// A retried create (same clientToken).
		if old.Name == s.Name && old.Format == s.Format && old.Location == s.Location {
			return map[string]string{k.idMember: old.ID}, nil
		}
		return nil, badRequest("The request is rejected because the clientToken was used for a different "+k.op+".", nil)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("reading %s %s: %w", k.op, s.ID, err)
	}
	n := 0
	if err := eachPage(func(p store.Page) ([]string, string, error) { return h.store.Sets(rq.ctx, d.ID, k.kind, p) }, func(string) error {
		n++
		return nil
	}); err != nil {
		return nil, fmt.Errorf("counting the %s lists of detector %s: %w", k.kind, d.ID, err)
	}
	if n >= k.quota {
		return nil, badRequest(fmt.Sprintf("The request is rejected because the current account cannot create more than %d %s resources.", k.quota, k.op), nil)
	}
	if err := h.checkLocation(rq, k, s.Location, s.ExpectedBucketOwner); err != nil {
		return nil, err
	}

	h.setMu.Lock()
	g := h.bump(refOf(s))
	err = h.store.CreateSet(rq.ctx, s)
	h.setMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("creating %s %q of detector %s: %w", k.op, s.Name, d.ID, err)
	}
	if len(in.Tags) > 0 {
		if err := h.store.Tag(rq.ctx, setARN(d, k.kind, s.ID), in.Tags); err != nil {
			return nil, fmt.Errorf("tagging %s %s: %w", k.op, s.ID, err)
		}
	}
	if s.Status == statusActivating {
		h.startLoad(*s, g)
	}
	return map[string]string{k.idMember: s.ID}, nil
}

func (h *Handler) listSets(rq *request, k setKind) (any, error) {
	d, err := h.detector(rq)
	if err != nil {
		return nil, err
	}
	scope := d.ID + "\x00" + string(k.kind)
	p, err := h.pageOf(rq, "List"+k.op+"s", scope, 50)
	if err != nil {
		return nil, err
	}
	ids, next, err := h.store.Sets(rq.ctx, d.ID, k.kind, p)
	if err != nil {
		return nil, fmt.Errorf("listing the %s lists of detector %s: %w", k.kind, d.ID, err)
	}
	if ids == nil {
		ids = []string{}
	}
	out := map[string]any{k.idMember + "s": ids}
	if tok := h.next("List"+k.op+"s", scope, next); tok != "" {
		out["nextToken"] = tok
	}
	return out, nil
}

// set returns the list named by the second path label.
func (h *Handler) set(rq *request, d *store.Detector, k setKind) (*store.Set, error) {
	id := rq.labels[1]
	if !wellFormedID(id) {
		return nil, invalidParam(k.idMember, fmt.Errorf("list ID %q", truncate(id, 64)))
	}
	s, err := h.store.Set(rq.ctx, d.ID, k.kind, id)
	if err != nil {
		return nil, fmt.Errorf("reading %s %s of detector %s: %w", k.op, id, d.ID, err)
	}
	return s, nil
}

type setOutput struct {
	Name                string            `json:"name"`
	Format              string            `json:"format"`
	Location            string            `json:"location"`
	ExpectedBucketOwner string            `json:"expectedBucketOwner,omitempty"`
	Status              string            `json:"status"`
	Tags                map[string]string `json:"tags"`
	CreatedAt           *epochSeconds     `json:"createdAt,omitempty"`
	UpdatedAt           *epochSeconds     `json:"updatedAt,omitempty"`
	ErrorDetails        string            `json:"errorDetails,omitempty"`
}

func (h *Handler) getSet(rq *request, k setKind) (any, error) {
	d, err := h.detector(rq)
	if err != nil {
		return nil, err
	}
	s, err := h.set(rq, d, k)
	if err != nil {
		return nil, err
	}
	tags, err := h.tagsOf(rq, setARN(d, k.kind, s.ID))
	if err != nil {
		return nil, err
	}
	out := setOutput{
		Name: s.Name, Format: s.Format, Location: s.Location, ExpectedBucketOwner: s.ExpectedBucketOwner,
		Status: s.Status, Tags: tags,
	}
	if k.entity {
		c, u := epochSeconds(s.CreatedAt), epochSeconds(s.UpdatedAt)
		out.CreatedAt, out.UpdatedAt, out.ErrorDetails = &c, &u, s.ErrorDetails
	}
	return out, nil
}

type updateSetInput struct {
	Name                *string `json:"name"`
	Location            *string `json:"location"`
	Activate            *bool   `json:"activate"`
	ExpectedBucketOwner *string `json:"expectedBucketOwner"`
}

// updateSet changes a list. Activating (or changing the name or location
// of a list in use) loads it again; deactivating unloads it.
func (h *Handler) updateSet(rq *request, k setKind) (any, error) {
	var in updateSetInput
	if err := decodeBody(rq.body, &in); err != nil {
		return nil, err
	}
	d, err := h.detector(rq)
	if err != nil {
		return nil, err
	}
	if in.Name != nil {
		if err := validListName(*in.Name); err != nil {
			return nil, err
		}
	}
	if in.Location != nil {
		if err := validLocation(*in.Location); err != nil {
			return nil, err
		}
	}
	if err := validBucketOwner(in.ExpectedBucketOwner); err != nil {
		return nil, err
	}
	cur, err := h.set(rq, d, k)
	if err != nil {
		return nil, err
	}
	if in.Location != nil || in.ExpectedBucketOwner != nil {
		loc, owner := cmp.Or(deref(in.Location), cur.Location), cmp.Or(deref(in.ExpectedBucketOwner), cur.ExpectedBucketOwner)
		if err := h.checkLocation(rq, k, loc, owner); err != nil {
			return nil, err
		}
	}

	h.setMu.Lock()
	s, err := h.set(rq, d, k)
	if err != nil {
		h.setMu.Unlock()
		return nil, err
	}
	changed := in.Name != nil && *in.Name != s.Name || in.Location != nil && *in.Location != s.Location ||
		in.ExpectedBucketOwner != nil && *in.ExpectedBucketOwner != s.ExpectedBucketOwner
	if in.Name != nil {
		s.Name = *in.Name
	}
	if in.Location != nil {
		s.Location = *in.Location
	}
	if in.ExpectedBucketOwner != nil {
		s.ExpectedBucketOwner = *in.ExpectedBucketOwner
	}
	load, unload := false, false
	switch {
	case in.Activate != nil && *in.Activate:
		load = true
	case in.Activate != nil:
		unload = s.Status != statusInactive
		s.Status, s.ErrorDetails = statusInactive, ""
	case changed && s.Status != statusInactive:
		load = true
	}
	if load {
		s.Status, s.ErrorDetails = statusActivating, ""
	}
	g := h.bump(refOf(s))
	s.UpdatedAt = h.now().UTC()
	err = h.store.UpdateSet(rq.ctx, s)
	h.setMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("updating %s %s of detector %s: %w", k.op, s.ID, d.ID, err)
	}
	switch {
	case load:
		h.startLoad(*s, g)
	case unload && h.sets != nil:
		h.sets.Unload(*s)
	}
	return nil, nil
}

func (h *Handler) deleteSet(rq *request, k setKind) (any, error) {
	d, err := h.detector(rq)
	if err != nil {
		return nil, err
	}
	s, err := h.set(rq, d, k)
	if err != nil {
		return nil, err
	}
	h.setMu.Lock()
	err = h.store.DeleteSet(rq.ctx, d.ID, k.kind, s.ID)
	h.mu.Lock()
	delete(h.loads, refOf(s))
	h.mu.Unlock()
	h.setMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("deleting %s %s of detector %s: %w", k.op, s.ID, d.ID, err)
	}
	if h.sets != nil && s.Status != statusInactive {
		h.sets.Unload(*s)
	}
	return nil, h.untagAll(rq, setARN(d, k.kind, s.ID))
}

// bump starts a new generation of a list: the done of any load started
// before is ignored from now on.
func (h *Handler) bump(ref setRef) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.gen++
	h.loads[ref] = h.gen
	return h.gen
}

func (h *Handler) current(ref setRef, g uint64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.loads[ref] == g
}

// unload retires a list whose detector is gone.
func (h *Handler) unload(s store.Set) {
	h.mu.Lock()
	delete(h.loads, refOf(&s))
	h.mu.Unlock()
	if h.sets != nil && s.Status != statusInactive {
		h.sets.Unload(s)
	}
}

var errNoEngine = errors.New("picket is running without a threat intelligence engine, so lists cannot be loaded")

// startLoad hands a list of generation g to the threat-intel engine.
func (h *Handler) startLoad(s store.Set, g uint64) {
	if h.sets == nil {
		h.finishLoad(s, g, errNoEngine)
		return
	}
	h.sets.Load(s, func(err error) { h.finishLoad(s, g, err) })
}

// finishLoad records the outcome of a load, unless the list has changed
// since.
func (h *Handler) finishLoad(s store.Set, g uint64, loadErr error) {
	ref := refOf(&s)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h.setMu.Lock()
	defer h.setMu.Unlock()
	if !h.current(ref, g) {
		return
	}
	cur, err := h.store.Set(ctx, s.DetectorID, s.Kind, s.ID)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			h.log.Error("recording the outcome of a list load", slog.String("list", s.ID), slog.Any("error", err))
		}
		return
	}
	cur.Status, cur.ErrorDetails = statusActive, ""
	if loadErr != nil {
		cur.Status, cur.ErrorDetails = statusError, truncate(loadErr.Error(), maxErrorDetails)
	}
	cur.UpdatedAt = h.now().UTC()
	if err := h.store.UpdateSet(ctx, cur); err != nil {
		h.log.Error("recording the outcome of a list load", slog.String("list", s.ID), slog.Any("error", err))
		return
	}
	level := slog.LevelInfo
	if loadErr != nil {
		level = slog.LevelWarn
	}
	h.log.LogAttrs(ctx, level, "list loaded", slog.String("kind", string(s.Kind)), slog.String("list", s.ID),
		slog.String("name", s.Name), slog.String("status", cur.Status), slog.String("error_details", cur.ErrorDetails))
}

// ResumeSets hands every list that was active, activating or failed when
// the service last stopped to the threat-intel engine again, so that the
// engine has the lists the store says are in use. The service calls it
// once at start, after the engine is ready.
func (h *Handler) ResumeSets(ctx context.Context) error {
	var sets []store.Set
	err := eachPage(func(p store.Page) ([]string, string, error) { return h.store.Detectors(ctx, p) }, func(det string) error {
		for _, k := range setKinds {
			err := eachPage(func(p store.Page) ([]string, string, error) { return h.store.Sets(ctx, det, k.kind, p) }, func(id string) error {
				s, err := h.store.Set(ctx, det, k.kind, id)
				if err != nil {
					return err
				}
				if s.Status != statusInactive {
					sets = append(sets, *s)
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("listing the lists to load: %w", err)
	}
	for _, s := range sets {
		h.startLoad(s, h.bump(refOf(&s)))
	}
	return nil
}
