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

type setDoc struct {
	Name                string            `json:"name"`
	Format              string            `json:"format"`
	Location            string            `json:"location"`
	ExpectedBucketOwner string            `json:"expectedBucketOwner,omitempty"`
	Status              string            `json:"status"`
	ErrorDetails        string            `json:"errorDetails,omitempty"`
	Tags                map[string]string `json:"tags,omitempty"`
	CreatedAt           time.Time         `json:"createdAt"`
	UpdatedAt           time.Time         `json:"updatedAt"`
}

func setBody(s *store.Set) ([]byte, error) {
	return json.Marshal(setDoc{Name: s.Name, Format: s.Format, Location: s.Location, ExpectedBucketOwner: s.ExpectedBucketOwner,
		Status: s.Status, ErrorDetails: s.ErrorDetails, Tags: s.Tags, CreatedAt: s.CreatedAt.UTC(), UpdatedAt: s.UpdatedAt.UTC()})
}

func setOf(detectorID string, kind store.SetKind, id string, body []byte) (*store.Set, error) {
	var doc setDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("decoding %s %s: %w", kind, id, err)
	}
	return &store.Set{DetectorID: detectorID, Kind: kind, ID: id, Name: doc.Name, Format: doc.Format, Location: doc.Location,
		ExpectedBucketOwner: doc.ExpectedBucketOwner, Status: doc.Status, ErrorDetails: doc.ErrorDetails, Tags: doc.Tags,
		CreatedAt: doc.CreatedAt, UpdatedAt: doc.UpdatedAt}, nil
}

// CreateSet stores a new set; ErrExists when its ID is taken.
func (db *DB) CreateSet(ctx context.Context, s *store.Set) error {
	c := *s
	stampNew(&c.CreatedAt, &c.UpdatedAt)
	err := db.detTx(ctx, s.DetectorID, func(tx *sql.Tx, seq int64) error {
		if err := db.vacant(ctx, tx, `SELECT COUNT(*) FROM sets WHERE det = ? AND kind = ? AND id = ?`, seq, string(s.Kind), s.ID); err != nil {
			return err
		}
		return putBody(ctx, db, tx, setBody, &c, `INSERT INTO sets (body, det, kind, id) VALUES (?, ?, ?, ?)`, seq, string(s.Kind), s.ID)
	})
	if err := db.clash(err); err != nil {
		return fmt.Errorf("creating %s %s: %w", s.Kind, s.ID, err)
	}
	return nil
}

// UpdateSet replaces a set; its creation time stays.
func (db *DB) UpdateSet(ctx context.Context, s *store.Set) error {
	err := db.detTx(ctx, s.DetectorID, func(tx *sql.Tx, seq int64) error {
		cur, err := db.set(ctx, tx, seq, s.DetectorID, s.Kind, s.ID)
		if err != nil {
			return err
		}
		c := *s
		stampReplaced(&c.CreatedAt, &c.UpdatedAt, cur.CreatedAt)
		return putBody(ctx, db, tx, setBody, &c, `UPDATE sets SET body = ? WHERE det = ? AND kind = ? AND id = ?`, seq, string(s.Kind), s.ID)
	})
	if err != nil {
		return fmt.Errorf("updating %s %s: %w", s.Kind, s.ID, err)
	}
	return nil
}

func (db *DB) set(ctx context.Context, q querier, seq int64, detectorID string, kind store.SetKind, id string) (*store.Set, error) {
	var body []byte
	err := q.QueryRowContext(ctx, db.d.bind(`SELECT body FROM sets WHERE det = ? AND kind = ? AND id = ?`), seq, string(kind), id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s %s: %w", kind, id, store.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	return setOf(detectorID, kind, id, body)
}

// Set returns a set by kind and ID.
func (db *DB) Set(ctx context.Context, detectorID string, kind store.SetKind, id string) (*store.Set, error) {
	seq, err := db.detSeq(ctx, db.read, detectorID)
	if err != nil {
		return nil, err
	}
	s, err := db.set(ctx, db.read, seq, detectorID, kind, id)
	if err != nil {
		return nil, fmt.Errorf("reading %s %s: %w", kind, id, err)
	}
	return s, nil
}

// Sets lists the IDs of a detector's sets of one kind in order.
func (db *DB) Sets(ctx context.Context, detectorID string, kind store.SetKind, p store.Page) ([]string, string, error) {
	seq, err := db.detSeq(ctx, db.read, detectorID)
	if err != nil {
		return nil, "", err
	}
	b := &builder{d: db.d}
	ids, next, err := db.idPage(ctx, b, "sets", `det = `+b.arg(seq)+` AND kind = `+b.arg(string(kind)), p)
	if err != nil {
		return nil, "", fmt.Errorf("listing %s: %w", kind, err)
	}
	return ids, next, nil
}

// DeleteSet removes a set.
func (db *DB) DeleteSet(ctx context.Context, detectorID string, kind store.SetKind, id string) error {
	err := db.detTx(ctx, detectorID, func(tx *sql.Tx, seq int64) error {
		return expectOne(tx.ExecContext(ctx, db.d.bind(`DELETE FROM sets WHERE det = ? AND kind = ? AND id = ?`), seq, string(kind), id))
	})
	if err != nil {
		return fmt.Errorf("deleting %s %s: %w", kind, id, err)
	}
	return nil
}
