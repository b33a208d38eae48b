package api

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"picket/internal/store"
)

// arnPattern is the model's GuardDutyArn pattern, anchored.
var arnPattern = regexp.MustCompile(`^arn:[A-Za-z_.-]{1,20}:guardduty:[A-Za-z0-9_/.-]{0,63}:\d+:detector/[A-Za-z0-9_/.-]{32,264}$`)

// resource resolves the ARN of a tag operation to the canonical ARN of a
// resource the caller owns: a detector, or a filter, list or publishing
// destination of one.
func (h *Handler) resource(rq *request, op string) (string, error) {
	arn := rq.labels[0]
	if !arnPattern.MatchString(arn) {
		return "", invalidParam("resourceArn", fmt.Errorf("%q does not match the GuardDuty ARN pattern", truncate(arn, 300)))
	}
	parts := strings.SplitN(arn, ":", 6)
	region, account, rest := parts[3], parts[4], parts[5]
	if account != rq.caller.Account {
		return "", accessDenied(fmt.Sprintf("User: %s is not authorized to perform: guardduty:%s on resource: %s",
			rq.caller.Account, op, truncate(arn, 300)), nil)
	}
	if region != rq.caller.Region {
		return "", badRequest(msgNotOwned, fmt.Errorf("%s is in %s, the request in %s", truncate(arn, 300), region, rq.caller.Region))
	}
	segs := strings.Split(strings.TrimPrefix(rest, "detector/"), "/")
	sub := *rq
	sub.labels = segs[:1]
	d, err := h.detector(&sub)
	if err != nil {
		return "", err
	}
	switch len(segs) {
	case 1:
		return detectorARN(d), nil
	case 3:
		if segs[1] == "filter" {
			sub.labels = []string{d.ID, segs[2]}
			f, err := h.filter(&sub, d)
			if err != nil {
				return "", err
			}
			return filterARN(d, f.Name), nil
		}
		if segs[1] == "publishingDestination" {
			sub.labels = []string{d.ID, segs[2]}
			dest, err := h.destination(&sub, d)
			if err != nil {
				return "", err
			}
			return destinationARN(d, dest.ID), nil
		}
		for _, k := range setKinds {
			if segs[1] == string(k.kind) {
				sub.labels = []string{d.ID, segs[2]}
				s, err := h.set(&sub, d, k)
				if err != nil {
					return "", err
				}
				return setARN(d, k.kind, s.ID), nil
			}
		}
	}
	return "", invalidParam("resourceArn", fmt.Errorf("%q names no taggable resource", truncate(arn, 300)))
}

// tagsOf returns a resource's tags, {} when it has none.
func (h *Handler) tagsOf(rq *request, arn string) (map[string]string, error) {
	tags, err := h.store.Tags(rq.ctx, arn)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("reading the tags of %s: %w", arn, err)
	}
	if tags == nil {
		tags = map[string]string{}
	}
	return tags, nil
}

// untagAll removes a deleted resource's tags.
func (h *Handler) untagAll(rq *request, arn string) error {
	tags, err := h.tagsOf(rq, arn)
	if err != nil {
		return err
	}
	if len(tags) == 0 {
		return nil
	}
	if err := h.store.Untag(rq.ctx, arn, slices.Collect(maps.Keys(tags))); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("removing the tags of %s: %w", arn, err)
	}
	return nil
}

func (h *Handler) listTags(rq *request) (any, error) {
	arn, err := h.resource(rq, "ListTagsForResource")
	if err != nil {
		return nil, err
	}
	tags, err := h.tagsOf(rq, arn)
	if err != nil {
		return nil, err
	}
	return struct {
		Tags map[string]string `json:"tags"`
	}{tags}, nil
}

type tagInput struct {
	Tags map[string]string `json:"tags"`
}

// maxTagsPerResource is how many tags a resource may have in all.
const maxTagsPerResource = 200

func (h *Handler) tagResource(rq *request) (any, error) {
	var in tagInput
	if err := decodeBody(rq.body, &in); err != nil {
		return nil, err
	}
	if in.Tags == nil {
		return nil, required("tags")
	}
	if err := validTags(in.Tags, true); err != nil {
		return nil, err
	}
	arn, err := h.resource(rq, "TagResource")
	if err != nil {
		return nil, err
	}
	cur, err := h.tagsOf(rq, arn)
	if err != nil {
		return nil, err
	}
	maps.Copy(cur, in.Tags)
	if len(cur) > maxTagsPerResource {
		return nil, outOfRange("tags", fmt.Errorf("%d tags in all, at most %d", len(cur), maxTagsPerResource))
	}
	if err := h.store.Tag(rq.ctx, arn, in.Tags); err != nil {
		return nil, fmt.Errorf("tagging %s: %w", arn, err)
	}
	return nil, h.syncSetTags(rq, arn)
}

func (h *Handler) untagResource(rq *request) (any, error) {
	keys, ok := rq.query["tagKeys"]
	if !ok {
		return nil, required("tagKeys")
	}
	if err := count("tagKeys", len(keys), 1, 200); err != nil {
		return nil, err
	}
	for _, k := range keys {
		if err := length("tagKeys", k, 1, 128); err != nil {
			return nil, err
		}
	}
	arn, err := h.resource(rq, "UntagResource")
	if err != nil {
		return nil, err
	}
	if err := h.store.Untag(rq.ctx, arn, keys); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("untagging %s: %w", arn, err)
	}
	return nil, h.syncSetTags(rq, arn)
}

// categoryTag is the tag by which a threat list declares its category
// (intel.CategoryTag, which the API does not import); the threat-intel
// engine reads it from the list's stored tags when it loads the list.
const categoryTag = "picket:category"

// syncSetTags keeps the tags stored with a threat list (ThreatIntelSet,
// ThreatEntitySet) in step with TagResource and UntagResource, and
// loads again a list that is not inactive when its category tag changed,
// so that its findings take the new category's type. A category the
// engine does not know puts the list in ERROR, as any unusable list.
func (h *Handler) syncSetTags(rq *request, arn string) error {
	_, rest, ok := strings.Cut(arn, ":detector/")
	segs := strings.Split(rest, "/")
	if !ok || len(segs) != 3 {
		return nil
	}
	kind := store.SetKind(segs[1])
	if kind != store.ThreatIntelSet && kind != store.ThreatEntitySet {
		return nil
	}
	tags, err := h.tagsOf(rq, arn)
	if err != nil {
		return err
	}
	h.setMu.Lock()
	s, err := h.store.Set(rq.ctx, segs[0], kind, segs[2])
	if err != nil {
		h.setMu.Unlock()
		return fmt.Errorf("reading %s: %w", arn, err)
	}
	if maps.Equal(s.Tags, tags) {
		h.setMu.Unlock()
		return nil
	}
	old, had := s.Tags[categoryTag]
	cur, has := tags[categoryTag]
	load := (old != cur || had != has) && s.Status != statusInactive
	s.Tags = tags
	var g uint64 // a new generation only when loading: a load under way still counts otherwise
	if load {
		s.Status, s.ErrorDetails = statusActivating, ""
		s.UpdatedAt = h.now().UTC()
		g = h.bump(refOf(s))
	}
	err = h.store.UpdateSet(rq.ctx, s)
	h.setMu.Unlock()
	if err != nil {
		return fmt.Errorf("updating the tags of %s: %w", arn, err)
	}
	if load {
		h.startLoad(*s, g)
	}
	return nil
}
