package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"picket/internal/store"
)

type featureDoc struct {
	Name       string       `json:"name"`
	Status     string       `json:"status"`
	Additional []featureDoc `json:"additional,omitempty"`
	UpdatedAt  time.Time    `json:"updatedAt"`
}

type detectorDoc struct {
	Enabled                    bool              `json:"enabled"`
	FindingPublishingFrequency string            `json:"findingPublishingFrequency,omitempty"`
	Features                   []featureDoc      `json:"features,omitempty"`
	Tags                       map[string]string `json:"tags,omitempty"`
	CreatedAt                  time.Time         `json:"createdAt"`
	UpdatedAt                  time.Time         `json:"updatedAt"`
}

func featuresDoc(fs []store.Feature) []featureDoc {
	var out []featureDoc
	for _, f := range fs {
		out = append(out, featureDoc{Name: f.Name, Status: f.Status, Additional: featuresDoc(f.Additional), UpdatedAt: f.UpdatedAt.UTC()})
	}
	return out
}

func featuresOf(fs []featureDoc) []store.Feature {
	var out []store.Feature
	for _, f := range fs {
		out = append(out, store.Feature{Name: f.Name, Status: f.Status, Additional: featuresOf(f.Additional), UpdatedAt: f.UpdatedAt})
	}
	return out
}

func detectorBody(d *store.Detector) ([]byte, error) {
	return json.Marshal(detectorDoc{
		Enabled:                    d.Enabled,
		FindingPublishingFrequency: d.FindingPublishingFrequency,
		Features:                   featuresDoc(d.Features),
		Tags:                       d.Tags,
		CreatedAt:                  d.CreatedAt.UTC(),
		UpdatedAt:                  d.UpdatedAt.UTC(),
	})
}

func detectorOf(id, account, region string, body []byte) (*store.Detector, error) {
	var doc detectorDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("decoding detector %s: %w", id, err)
	}
	return &store.Detector{
		ID: id, Account: account, Region: region,
		Enabled:                    doc.Enabled,
		FindingPublishingFrequency: doc.FindingPublishingFrequency,
		Features:                   featuresOf(doc.Features),
		Tags:                       doc.Tags,
		CreatedAt:                  doc.CreatedAt,
		UpdatedAt:                  doc.UpdatedAt,
	}, nil
}

// CreateDetector stores a new detector; ErrExists when its ID or its
// account and region already have one.
func (db *DB) CreateDetector(ctx context.Context, d *store.Detector) error {
	if d.ID == "" {
		return errors.New("creating a detector: no ID")
	}
	c := *d
	stampNew(&c.CreatedAt, &c.UpdatedAt)
	err := db.tx(ctx, func(tx *sql.Tx) error {
		if err := db.vacant(ctx, tx, `SELECT COUNT(*) FROM detectors WHERE id = ? OR (account = ? AND region = ?)`, d.ID, d.Account, d.Region); err != nil {
			return err
		}
		return putBody(ctx, db, tx, detectorBody, &c, `INSERT INTO detectors (body, id, account, region) VALUES (?, ?, ?, ?)`, d.ID, d.Account, d.Region)
	})
	if err := db.clash(err); err != nil {
		return fmt.Errorf("creating detector %s for %s in %s: %w", d.ID, d.Account, d.Region, err)
	}
	return nil
}

// Detector returns a detector by ID.
func (db *DB) Detector(ctx context.Context, id string) (*store.Detector, error) {
	return db.detectorWhere(ctx, db.read, "detector "+id, `id = ?`, id)
}

// DetectorFor returns the detector of an account and region.
func (db *DB) DetectorFor(ctx context.Context, account, region string) (*store.Detector, error) {
	return db.detectorWhere(ctx, db.read, "the detector of "+account+" in "+region, `account = ? AND region = ?`, account, region)
}

// detectorWhere reads the detector a condition (a constant) selects;
// what names it in errors.
func (db *DB) detectorWhere(ctx context.Context, q querier, what, where string, args ...any) (*store.Detector, error) {
	var id, account, region string
	var body []byte
	err := q.QueryRowContext(ctx, db.d.bind(`SELECT id, account, region, body FROM detectors WHERE `+where), args...).
		Scan(&id, &account, &region, &body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s: %w", what, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", what, err)
	}
	return detectorOf(id, account, region, body)
}

// Detectors lists detector IDs in order.
func (db *DB) Detectors(ctx context.Context, p store.Page) ([]string, string, error) {
	ids, next, err := db.idPage(ctx, &builder{d: db.d}, "detectors", "", p)
	if err != nil {
		return nil, "", fmt.Errorf("listing detectors: %w", err)
	}
	return ids, next, nil
}

// UpdateDetector replaces a detector's settings and tags; its ID, account,
// region and creation time stay.
func (db *DB) UpdateDetector(ctx context.Context, d *store.Detector) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		cur, err := db.detectorWhere(ctx, tx, "detector "+d.ID, `id = ?`, d.ID)
		if err != nil {
			return err
		}
		c := *d
		stampReplaced(&c.CreatedAt, &c.UpdatedAt, cur.CreatedAt)
		return putBody(ctx, db, tx, detectorBody, &c, `UPDATE detectors SET body = ? WHERE id = ?`, d.ID)
	})
	if err != nil {
		return fmt.Errorf("updating detector %s: %w", d.ID, err)
	}
	return nil
}

// DeleteDetector removes a detector and everything filed under it.
func (db *DB) DeleteDetector(ctx context.Context, id string) error {
	err := db.detTx(ctx, id, func(tx *sql.Tx, seq int64) error {
		for _, stmt := range []string{
			`DELETE FROM findings WHERE det = ?`,
			`DELETE FROM filters WHERE det = ?`,
			`DELETE FROM sets WHERE det = ?`,
			`DELETE FROM detectors WHERE seq = ?`,
		} {
			if _, err := tx.ExecContext(ctx, db.d.bind(stmt), seq); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("deleting detector %s: %w", id, err)
	}
	return nil
}
