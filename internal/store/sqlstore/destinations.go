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

// Publishing destinations are rows of the sets table under their own
// kind, so that they need no table of their own: the table's key (det,
// kind, id) and its cascade from the detector are what they need.
const destinationKind = "publishingDestination"

type destinationDoc struct {
	Type           string            `json:"type"`
	DestinationARN string            `json:"destinationArn"`
	KMSKeyARN      string            `json:"kmsKeyArn,omitempty"`
	Status         string            `json:"status"`
	FailureStart   *time.Time        `json:"failureStart,omitempty"`
	Tags           map[string]string `json:"tags,omitempty"`
	CreatedAt      time.Time         `json:"createdAt"`
	UpdatedAt      time.Time         `json:"updatedAt"`
}

func destinationBody(d *store.Destination) ([]byte, error) {
	doc := destinationDoc{Type: d.Type, DestinationARN: d.DestinationARN, KMSKeyARN: d.KMSKeyARN, Status: d.Status,
		Tags: d.Tags, CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC()}
	if !d.FailureStart.IsZero() {
		t := d.FailureStart.UTC()
		doc.FailureStart = &t
	}
	return json.Marshal(doc)
}

func destinationOf(detectorID, id string, body []byte) (*store.Destination, error) {
	var doc destinationDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("decoding publishing destination %s: %w", id, err)
	}
	d := &store.Destination{DetectorID: detectorID, ID: id, Type: doc.Type, DestinationARN: doc.DestinationARN,
		KMSKeyARN: doc.KMSKeyARN, Status: doc.Status, Tags: doc.Tags, CreatedAt: doc.CreatedAt, UpdatedAt: doc.UpdatedAt}
	if doc.FailureStart != nil {
		d.FailureStart = *doc.FailureStart
	}
	return d, nil
}

// CreateDestination stores a new publishing destination; ErrExists when
// its detector has one already (GuardDuty allows one per detector),
// whatever its ID.
func (db *DB) CreateDestination(ctx context.Context, d *store.Destination) error {
	c := *d
	stampNew(&c.CreatedAt, &c.UpdatedAt)
	err := db.detTx(ctx, d.DetectorID, func(tx *sql.Tx, seq int64) error {
		if err := db.vacant(ctx, tx, `SELECT COUNT(*) FROM sets WHERE det = ? AND kind = ?`, seq, destinationKind); err != nil {
			return err
		}
		return putBody(ctx, db, tx, destinationBody, &c, `INSERT INTO sets (body, det, kind, id) VALUES (?, ?, ?, ?)`, seq, destinationKind, d.ID)
	})
	if err := db.clash(err); err != nil {
		return fmt.Errorf("creating publishing destination %s: %w", d.ID, err)
	}
	return nil
}

// UpdateDestination replaces a publishing destination; its creation time
// stays.
func (db *DB) UpdateDestination(ctx context.Context, d *store.Destination) error {
	err := db.detTx(ctx, d.DetectorID, func(tx *sql.Tx, seq int64) error {
		cur, err := db.destination(ctx, tx, seq, d.DetectorID, d.ID)
		if err != nil {
			return err
		}
		c := *d
		stampReplaced(&c.CreatedAt, &c.UpdatedAt, cur.CreatedAt)
		return putBody(ctx, db, tx, destinationBody, &c, `UPDATE sets SET body = ? WHERE det = ? AND kind = ? AND id = ?`, seq, destinationKind, d.ID)
	})
	if err != nil {
		return fmt.Errorf("updating publishing destination %s: %w", d.ID, err)
	}
	return nil
}

// SetDestinationStatus records the publisher's view of a destination:
// d's Status and FailureStart. It changes nothing, and returns nil, when
// the stored destination's properties are no longer d's (the status is
// of properties since replaced). ErrNotFound when the destination is
// gone.
func (db *DB) SetDestinationStatus(ctx context.Context, d *store.Destination) error {
	err := db.detTx(ctx, d.DetectorID, func(tx *sql.Tx, seq int64) error {
		cur, err := db.destination(ctx, tx, seq, d.DetectorID, d.ID)
		if err != nil {
			return err
		}
		if !cur.SameProperties(d) || cur.Status == d.Status && cur.FailureStart.Equal(d.FailureStart) {
			return nil
		}
		cur.Status, cur.FailureStart = d.Status, d.FailureStart
		return putBody(ctx, db, tx, destinationBody, cur, `UPDATE sets SET body = ? WHERE det = ? AND kind = ? AND id = ?`, seq, destinationKind, d.ID)
	})
	if err != nil {
		return fmt.Errorf("recording the status of publishing destination %s: %w", d.ID, err)
	}
	return nil
}

func (db *DB) destination(ctx context.Context, q querier, seq int64, detectorID, id string) (*store.Destination, error) {
	var body []byte
	err := q.QueryRowContext(ctx, db.d.bind(`SELECT body FROM sets WHERE det = ? AND kind = ? AND id = ?`), seq, destinationKind, id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("publishing destination %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return destinationOf(detectorID, id, body)
}

// Destination returns a publishing destination of a detector.
func (db *DB) Destination(ctx context.Context, detectorID, id string) (*store.Destination, error) {
	seq, err := db.detSeq(ctx, db.read, detectorID)
	if err != nil {
		return nil, err
	}
	d, err := db.destination(ctx, db.read, seq, detectorID, id)
	if err != nil {
		return nil, fmt.Errorf("reading publishing destination %s: %w", id, err)
	}
	return d, nil
}

// Destinations lists the IDs of a detector's publishing destinations in
// order.
func (db *DB) Destinations(ctx context.Context, detectorID string, p store.Page) ([]string, string, error) {
	seq, err := db.detSeq(ctx, db.read, detectorID)
	if err != nil {
		return nil, "", err
	}
	b := &builder{d: db.d}
	ids, next, err := db.idPage(ctx, b, "sets", `det = `+b.arg(seq)+` AND kind = `+b.arg(destinationKind), p)
	if err != nil {
		return nil, "", fmt.Errorf("listing publishing destinations: %w", err)
	}
	return ids, next, nil
}

// AllDestinations returns the publishing destinations of every detector,
// ordered by detector and ID: the publisher's list of them.
func (db *DB) AllDestinations(ctx context.Context) ([]store.Destination, error) {
	rows, err := db.read.QueryContext(ctx, db.d.bind(`SELECT d.id, s.id, s.body FROM sets s JOIN detectors d ON d.seq = s.det
		WHERE s.kind = ? ORDER BY d.id, s.id`), destinationKind)
	if err != nil {
		return nil, fmt.Errorf("listing every publishing destination: %w", err)
	}
	defer rows.Close()
	var out []store.Destination
	for rows.Next() {
		var det, id string
		var body []byte
		if err := rows.Scan(&det, &id, &body); err != nil {
			return nil, fmt.Errorf("listing every publishing destination: %w", err)
		}
		d, err := destinationOf(det, id, body)
		if err != nil {
			return nil, err
		}
		out = append(out, *d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing every publishing destination: %w", err)
	}
	return out, nil
}

// DeleteDestination removes a publishing destination.
func (db *DB) DeleteDestination(ctx context.Context, detectorID, id string) error {
	err := db.detTx(ctx, detectorID, func(tx *sql.Tx, seq int64) error {
		return expectOne(tx.ExecContext(ctx, db.d.bind(`DELETE FROM sets WHERE det = ? AND kind = ? AND id = ?`), seq, destinationKind, id))
	})
	if err != nil {
		return fmt.Errorf("deleting publishing destination %s: %w", id, err)
	}
	return nil
}
