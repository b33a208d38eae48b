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
	if c.CreatedAt.IsZero() {
		c.CreatedAt = time.Now().UTC()
	}
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.CreatedAt
	}
	body, err := setBody(&c)
	if err != nil {
		return err
	}
	err = db.tx(ctx, func(tx *sql.Tx) error {
		seq, err := db.detSeq(ctx, tx, s.DetectorID)
		if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, db.d.bind(`SELECT COUNT(*) FROM sets WHERE det = ? AND kind = ? AND id = ?`), seq, string(s.Kind), s.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return store.ErrExists
		}
		_, err = tx.ExecContext(ctx, db.d.bind(`INSERT INTO sets (det, kind, id, body) VALUES (?, ?, ?, ?)`), seq, string(s.Kind), s.ID, body)
		return err
	})
	if err != nil && db.d.Unique != nil && db.d.Unique(err) {
		err = store.ErrExists
	}
	if err != nil {
		return fmt.Errorf("creating %s %s: %w", s.Kind, s.ID, err)
	}
	return nil
}

// UpdateSet replaces a set; its creation time stays.
func (db *DB) UpdateSet(ctx context.Context, s *store.Set) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		seq, err := db.detSeq(ctx, tx, s.DetectorID)
		if err != nil {
			return err
		}
		cur, err := db.set(ctx, tx, seq, s.DetectorID, s.Kind, s.ID)
		if err != nil {
			return err
		}
		c := *s
		c.CreatedAt = cur.CreatedAt
		if c.UpdatedAt.IsZero() {
			c.UpdatedAt = time.Now().UTC()
		}
		body, err := setBody(&c)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, db.d.bind(`UPDATE sets SET body = ? WHERE det = ? AND kind = ? AND id = ?`), body, seq, string(s.Kind), s.ID)
		return err
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
	b.WriteString(`SELECT id FROM sets WHERE det = ` + b.arg(seq) + ` AND kind = ` + b.arg(string(kind)))
	if p.Cursor != "" {
		b.WriteString(` AND id > ` + b.arg(p.Cursor))
	}
	limit := limitOf(p)
	b.WriteString(` ORDER BY id LIMIT ` + b.arg(limit+1))
	ids, err := queryStrings(ctx, db.read, b.String(), b.args...)
	if err != nil {
		return nil, "", fmt.Errorf("listing %s: %w", kind, err)
	}
	ids, next := page(ids, limit, func(s string) string { return s })
	return ids, next, nil
}

// DeleteSet removes a set.
func (db *DB) DeleteSet(ctx context.Context, detectorID string, kind store.SetKind, id string) error {
	err := db.tx(ctx, func(tx *sql.Tx) error {
		seq, err := db.detSeq(ctx, tx, detectorID)
		if err != nil {
			return err
		}
		return expectOne(tx.ExecContext(ctx, db.d.bind(`DELETE FROM sets WHERE det = ? AND kind = ? AND id = ?`), seq, string(kind), id))
	})
	if err != nil {
		return fmt.Errorf("deleting %s %s: %w", kind, id, err)
	}
	return nil
}
