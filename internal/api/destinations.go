package api

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"

	"picket/internal/store"
)

// Publishing destinations: where the findings of a detector are exported,
// an S3 bucket and prefix. The API keeps them in the store; the publisher
// of picket serve reads them from there, writes the findings, and records
// each destination's status. A detector has at most one, as in GuardDuty.

// msgDestinationExists answers a second CreatePublishingDestination.
const msgDestinationExists = "The request is rejected because a publishing destination already exists for the detector."

// kmsKeyPattern is what a KMS key ARN looks like: a key, not an alias.
var kmsKeyPattern = regexp.MustCompile(`^arn:aws(-[a-z]+)*:kms:[a-z0-9-]{1,32}:\d{12}:key/[A-Za-z0-9-]{1,128}$`)

type destinationProperties struct {
	DestinationARN *string `json:"destinationArn"`
	KMSKeyARN      *string `json:"kmsKeyArn"`
}

type createDestinationInput struct {
	DestinationType       *string                `json:"destinationType"`
	DestinationProperties *destinationProperties `json:"destinationProperties"`
	ClientToken           *string                `json:"clientToken"`
	Tags                  map[string]string      `json:"tags"`
}

type updateDestinationInput struct {
	DestinationProperties *destinationProperties `json:"destinationProperties"`
}

// validProperties checks the members of destinationProperties that are
// present.
func validProperties(p *destinationProperties) error {
	if p.DestinationARN != nil {
		if _, _, err := store.ParseBucketARN(*p.DestinationARN); err != nil {
			return invalidParam("destinationArn", fmt.Errorf("%q: %w", truncate(*p.DestinationARN, 300), err))
		}
	}
	if p.KMSKeyARN != nil && !kmsKeyPattern.MatchString(*p.KMSKeyARN) {
		return invalidParam("kmsKeyArn", fmt.Errorf("%q is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID)", truncate(*p.KMSKeyARN, 300)))
	}
	return nil
}

// newDestinationID returns the ID of a new destination: derived from the
// clientToken when there is one, so that a retried create finds the
// destination it made.
func newDestinationID(detectorID, clientToken string) string {
	if clientToken != "" {
		sum := sha256.Sum256([]byte("picket-destination-v1\x00" + detectorID + "\x00" + clientToken))
		return hex.EncodeToString(sum[:16])
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func destinationARN(d *store.Detector, id string) string {
	return detectorARN(d) + "/publishingDestination/" + id
}

func (h *Handler) createDestination(rq *request) (any, error) {
	var in createDestinationInput
	if err := decodeBody(rq.body, &in); err != nil {
		return nil, err
	}
	d, err := h.detector(rq)
	if err != nil {
		return nil, err
	}
	switch {
	case in.DestinationType == nil:
		return nil, required("destinationType")
	case in.DestinationProperties == nil:
		return nil, required("destinationProperties")
	case in.DestinationProperties.DestinationARN == nil:
		return nil, required("destinationArn")
	}
	if err := length("destinationType", *in.DestinationType, 1, 300); err != nil {
		return nil, err
	}
	if err := enum("destinationType", *in.DestinationType, "S3"); err != nil {
		return nil, err
	}
	if err := validProperties(in.DestinationProperties); err != nil {
		return nil, err
	}
	if err := optLength("clientToken", in.ClientToken, 0, 64); err != nil {
		return nil, err
	}
	if err := validTags(in.Tags, in.Tags != nil); err != nil {
		return nil, err
	}
	now := h.now().UTC()
	dest := &store.Destination{
		DetectorID:     d.ID,
		ID:             newDestinationID(d.ID, deref(in.ClientToken)),
		Type:           *in.DestinationType,
		DestinationARN: *in.DestinationProperties.DestinationARN,
		KMSKeyARN:      deref(in.DestinationProperties.KMSKeyARN),
		Status:         store.DestinationPending,
		Tags:           in.Tags,
		CreatedAt:      now,
		UpdatedAt:      now,
	}
	// retried reports whether a create with the same clientToken made
	// this destination already.
	retried := func() (bool, error) {
		if in.ClientToken == nil || *in.ClientToken == "" {
			return false, nil
		}
		old, err := h.store.Destination(rq.ctx, d.ID, dest.ID)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return false, nil
		case err != nil:
			return false, fmt.Errorf("reading publishing destination %s: %w", dest.ID, err)
		case !old.SameProperties(dest):
			return false, badRequest("The request is rejected because the clientToken was used for a different publishing destination.", nil)
		}
		return true, nil
	}
	created := map[string]string{"destinationId": dest.ID}
	if again, err := retried(); err != nil || again {
		return created, err
	}
	err = h.store.CreateDestination(rq.ctx, dest)
	if errors.Is(err, store.ErrExists) {
		// A concurrent create with the same clientToken, or another
		// destination.
		if again, rerr := retried(); rerr != nil || again {
			return created, rerr
		}
		return nil, badRequest(msgDestinationExists, err)
	}
	if err != nil {
		return nil, fmt.Errorf("creating a publishing destination of detector %s: %w", d.ID, err)
	}
	if len(in.Tags) > 0 {
		if err := h.store.Tag(rq.ctx, destinationARN(d, dest.ID), in.Tags); err != nil {
			return nil, fmt.Errorf("tagging publishing destination %s: %w", dest.ID, err)
		}
	}
	h.log.Info("publishing destination created", "detector_id", d.ID, "destination_id", dest.ID, "destination_arn", dest.DestinationARN)
	return created, nil
}

// destination returns the destination named by the second path label.
func (h *Handler) destination(rq *request, d *store.Detector) (*store.Destination, error) {
	id := rq.labels[1]
	if !wellFormedID(id) {
		return nil, invalidParam("destinationId", fmt.Errorf("destination ID %q", truncate(id, 64)))
	}
	dest, err := h.store.Destination(rq.ctx, d.ID, id)
	if err != nil {
		return nil, fmt.Errorf("reading publishing destination %s of detector %s: %w", id, d.ID, err)
	}
	return dest, nil
}

type destinationSummary struct {
	DestinationID   string `json:"destinationId"`
	DestinationType string `json:"destinationType"`
	Status          string `json:"status"`
}

func (h *Handler) listDestinations(rq *request) (any, error) {
	d, err := h.detector(rq)
	if err != nil {
		return nil, err
	}
	p, err := h.pageOf(rq, "ListPublishingDestinations", d.ID, 50)
	if err != nil {
		return nil, err
	}
	ids, next, err := h.store.Destinations(rq.ctx, d.ID, p)
	if err != nil {
		return nil, fmt.Errorf("listing the publishing destinations of detector %s: %w", d.ID, err)
	}
	out := struct {
		Destinations []destinationSummary `json:"destinations"`
		NextToken    string               `json:"nextToken,omitempty"`
	}{Destinations: []destinationSummary{}}
	for _, id := range ids {
		dest, err := h.store.Destination(rq.ctx, d.ID, id)
		if errors.Is(err, store.ErrNotFound) {
			continue // deleted since it was listed
		}
		if err != nil {
			return nil, fmt.Errorf("reading publishing destination %s of detector %s: %w", id, d.ID, err)
		}
		out.Destinations = append(out.Destinations, destinationSummary{dest.ID, dest.Type, dest.Status})
	}
	out.NextToken = h.next("ListPublishingDestinations", d.ID, next)
	return out, nil
}

type propertiesOutput struct {
	DestinationARN string `json:"destinationArn"`
	KMSKeyARN      string `json:"kmsKeyArn,omitempty"`
}

type destinationOutput struct {
	DestinationID   string            `json:"destinationId"`
	DestinationType string            `json:"destinationType"`
	Status          string            `json:"status"`
	FailureStart    int64             `json:"publishingFailureStartTimestamp"`
	Properties      propertiesOutput  `json:"destinationProperties"`
	Tags            map[string]string `json:"tags"`
}

func (h *Handler) describeDestination(rq *request) (any, error) {
	d, err := h.detector(rq)
	if err != nil {
		return nil, err
	}
	dest, err := h.destination(rq, d)
	if err != nil {
		return nil, err
	}
	tags, err := h.tagsOf(rq, destinationARN(d, dest.ID))
	if err != nil {
		return nil, err
	}
	out := destinationOutput{
		DestinationID: dest.ID, DestinationType: dest.Type, Status: dest.Status,
		Properties: propertiesOutput{DestinationARN: dest.DestinationARN, KMSKeyARN: dest.KMSKeyARN},
		Tags:       tags,
	}
	if !dest.FailureStart.IsZero() {
		out.FailureStart = dest.FailureStart.UnixMilli()
	}
	return out, nil
}

// updateDestination changes a destination's properties. A change makes
// the destination PENDING_VERIFICATION until the publisher tries the new
// properties; the backlog the old ones could not take goes to the new.
func (h *Handler) updateDestination(rq *request) (any, error) {
	var in updateDestinationInput
	if err := decodeBody(rq.body, &in); err != nil {
		return nil, err
	}
	d, err := h.detector(rq)
	if err != nil {
		return nil, err
	}
	if in.DestinationProperties != nil {
		if err := validProperties(in.DestinationProperties); err != nil {
			return nil, err
		}
	}
	dest, err := h.destination(rq, d)
	if err != nil {
		return nil, err
	}
	if in.DestinationProperties == nil {
		return nil, nil
	}
	next := *dest
	if p := in.DestinationProperties.DestinationARN; p != nil {
		next.DestinationARN = *p
	}
	if p := in.DestinationProperties.KMSKeyARN; p != nil {
		next.KMSKeyARN = *p
	}
	if next.SameProperties(dest) {
		return nil, nil
	}
	next.Status = store.DestinationPending
	next.UpdatedAt = h.now().UTC()
	if err := h.store.UpdateDestination(rq.ctx, &next); err != nil {
		return nil, fmt.Errorf("updating publishing destination %s of detector %s: %w", dest.ID, d.ID, err)
	}
	h.log.Info("publishing destination updated", "detector_id", d.ID, "destination_id", dest.ID, "destination_arn", next.DestinationARN)
	return nil, nil
}

func (h *Handler) deleteDestination(rq *request) (any, error) {
	d, err := h.detector(rq)
	if err != nil {
		return nil, err
	}
	dest, err := h.destination(rq, d)
	if err != nil {
		return nil, err
	}
	if err := h.store.DeleteDestination(rq.ctx, d.ID, dest.ID); err != nil {
		return nil, fmt.Errorf("deleting publishing destination %s of detector %s: %w", dest.ID, d.ID, err)
	}
	h.log.Info("publishing destination deleted", "detector_id", d.ID, "destination_id", dest.ID)
	return nil, h.untagAll(rq, destinationARN(d, dest.ID))
}
