package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"strings"

	"picket/internal/store"
)

// resourceARN is a GuardDuty resource named by an ARN:
// arn:PARTITION:guardduty:REGION:ACCOUNT:detector/ID, optionally followed
// by /filter/NAME, /KIND/ID for a set (ipset, threatintelset,
// threatentityset, trustedentityset) or /publishingDestination/ID.
type resourceARN struct {
	region, account, detector string
	child, name               string // "" for the detector itself
}

func parseARN(arn string) (resourceARN, bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] == "" || parts[2] != "guardduty" {
		return resourceARN{}, false
	}
	r := resourceARN{region: parts[3], account: parts[4]}
	path := strings.Split(parts[5], "/")
	switch {
	case len(path) == 2 && path[0] == "detector" && path[1] != "":
		r.detector = path[1]
	case len(path) == 4 && path[0] == "detector" && path[1] != "" && path[3] != "":
		r.detector, r.child, r.name = path[1], path[2], path[3]
		switch store.SetKind(r.child) {
		case store.IPSet, store.ThreatIntelSet, store.ThreatEntitySet, store.TrustedEntitySet:
		default:
			if r.child != "filter" && r.child != destinationKind {
				return resourceARN{}, false
			}
		}
	default:
		return resourceARN{}, false
	}
	return r, true
}

// Tags returns the tags of the detector, filter or set an ARN names.
func (db *DB) Tags(ctx context.Context, arn string) (map[string]string, error) {
	tags, err := db.retag(ctx, db.read, arn, nil)
	if err != nil {
		return nil, fmt.Errorf("reading the tags of %s: %w", arn, err)
	}
	if tags == nil {
		tags = map[string]string{}
	}
	return tags, nil
}

// Tag adds tags to the resource an ARN names, replacing values of keys it
// has.
func (db *DB) Tag(ctx context.Context, arn string, tags map[string]string) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		_, err := db.retag(ctx, tx, arn, func(cur map[string]string) map[string]string {
			out := maps.Clone(cur)
			if out == nil {
				out = map[string]string{}
			}
			maps.Copy(out, tags)
			return out
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("tagging %s: %w", arn, err)
	}
	return nil
}

// Untag removes tag keys from the resource an ARN names.
func (db *DB) Untag(ctx context.Context, arn string, keys []string) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		_, err := db.retag(ctx, tx, arn, func(cur map[string]string) map[string]string {
			out := maps.Clone(cur)
			for _, k := range keys {
				delete(out, k)
			}
			if len(out) == 0 {
				return nil
			}
			return out
		})
		return err
	})
	if err != nil {
		return fmt.Errorf("untagging %s: %w", arn, err)
	}
	return nil
}

// retag reads the tags of the resource an ARN names and, when change is
// not nil, stores change(tags); it returns the tags it read.
func (db *DB) retag(ctx context.Context, tx querier, arn string, change func(map[string]string) map[string]string) (map[string]string, error) {
	r, ok := parseARN(arn)
	if !ok {
		return nil, fmt.Errorf("%q is not a detector, filter or set ARN: %w", arn, store.ErrNotFound)
	}
	d, err := db.detectorWhere(ctx, tx, "detector "+r.detector, `id = ?`, r.detector)
	if err != nil {
		return nil, err
	}
	if d.Account != r.account || d.Region != r.region {
		return nil, fmt.Errorf("detector %s in %s %s: %w", r.detector, r.account, r.region, store.ErrNotFound)
	}
	seq, err := db.detSeq(ctx, tx, r.detector)
	if err != nil {
		return nil, err
	}
	switch r.child {
	case "":
		if change != nil {
			c := *d
			c.Tags = change(d.Tags)
			if err := putBody(ctx, db, tx, detectorBody, &c, `UPDATE detectors SET body = ? WHERE seq = ?`, seq); err != nil {
				return nil, err
			}
		}
		return d.Tags, nil
	case "filter":
		f, err := db.filter(ctx, tx, seq, r.name)
		if err != nil {
			return nil, err
		}
		if change != nil {
			c := *f
			c.Tags = change(f.Tags)
			if err := putBody(ctx, db, tx, filterBody, &c, `UPDATE filters SET body = ? WHERE det = ? AND name = ?`, seq, r.name); err != nil {
				return nil, err
			}
		}
		return f.Tags, nil
	case destinationKind:
		d, err := db.destination(ctx, tx, seq, r.detector, r.name)
		if err != nil {
			return nil, err
		}
		if change != nil {
			c := *d
			c.Tags = change(d.Tags)
			if err := putBody(ctx, db, tx, destinationBody, &c, `UPDATE sets SET body = ? WHERE det = ? AND kind = ? AND id = ?`, seq, destinationKind, r.name); err != nil {
				return nil, err
			}
		}
		return d.Tags, nil
	default:
		kind := store.SetKind(r.child)
		s, err := db.set(ctx, tx, seq, r.detector, kind, r.name)
		if err != nil {
			return nil, err
		}
		if change != nil {
			c := *s
			c.Tags = change(s.Tags)
			if err := putBody(ctx, db, tx, setBody, &c, `UPDATE sets SET body = ? WHERE det = ? AND kind = ? AND id = ?`, seq, string(kind), r.name); err != nil {
				return nil, err
			}
		}
		return s.Tags, nil
	}
}
