package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"picket/internal/store"
)

// writeOutbox adds an outbox entry for each finding a commit created or
// changed, in the commit's transaction, unless the finding is archived
// (GuardDuty does not export what suppression rules or users archived).
// A changed finding is due at the next boundary of its detector's
// publishing frequency, once: a finding that changes at every commit (an
// early report growing) adds no entry while one waits for that boundary.
func (db *DB) writeOutbox(ctx context.Context, tx *sql.Tx, order []findingKey, entries map[findingKey]*pending) error {
	if len(order) == 0 {
		return nil
	}
	now := time.Now().UTC()
	periods := map[int64]time.Duration{}
	stmt, err := tx.PrepareContext(ctx, db.d.bind(`INSERT INTO outbox (detector_id, finding_id, kind, created_ms, due_ms) VALUES (?, ?, ?, ?, ?)`))
	if err != nil {
		return err
	}
	defer stmt.Close()
	waiting, err := tx.PrepareContext(ctx, db.d.bind(`SELECT COUNT(*) FROM outbox WHERE finding_id = ? AND detector_id = ? AND due_ms = ?`))
	if err != nil {
		return err
	}
	defer waiting.Close()
	for _, k := range order {
		e := entries[k]
		if e.f.Service.Archived {
			continue
		}
		kind, due := store.OutboxNew, now
		if e.existed {
			p, ok := periods[k.det]
			if !ok {
				if p, err = db.publishingPeriod(ctx, tx, k.det); err != nil {
					return err
				}
				periods[k.det] = p
			}
			kind, due = store.OutboxUpdate, store.NextBoundary(now, p)
			// No target sends an entry before it is due.
			var n int
			if err := waiting.QueryRowContext(ctx, k.id, e.f.Service.DetectorID, due.UnixMilli()).Scan(&n); err != nil {
				return fmt.Errorf("reading the outbox: %w", err)
			}
			if n > 0 {
				continue
			}
		}
		if _, err := stmt.ExecContext(ctx, e.f.Service.DetectorID, k.id, kind, now.UnixMilli(), due.UnixMilli()); err != nil {
			return fmt.Errorf("adding finding %s to the outbox: %w", k.id, err)
		}
	}
	return nil
}

// publishingPeriod reads the publishing frequency of the detector whose
// rows have key seq.
func (db *DB) publishingPeriod(ctx context.Context, q querier, seq int64) (time.Duration, error) {
	var body []byte
	if err := q.QueryRowContext(ctx, db.d.bind(`SELECT body FROM detectors WHERE seq = ?`), seq).Scan(&body); err != nil {
		return 0, fmt.Errorf("reading a detector's publishing frequency: %w", err)
	}
	var doc detectorDoc
	if err := json.Unmarshal(body, &doc); err != nil {
		return 0, fmt.Errorf("decoding a detector's publishing frequency: %w", err)
	}
	return store.PublishingPeriod(doc.FindingPublishingFrequency), nil
}

// Outbox returns up to limit outbox entries due at now that target has
// not sent, in commit order.
func (db *DB) Outbox(ctx context.Context, target string, now time.Time, limit int) ([]store.OutboxEntry, error) {
	rows, err := db.read.QueryContext(ctx, db.d.bind(`SELECT seq, detector_id, finding_id, kind, created_ms, due_ms FROM outbox o
		WHERE due_ms <= ? AND NOT EXISTS (SELECT 1 FROM outbox_sent s WHERE s.target = ? AND s.seq = o.seq)
		ORDER BY seq LIMIT ?`), now.UnixMilli(), target, limit)
	if err != nil {
		return nil, fmt.Errorf("reading the outbox of %s: %w", target, err)
	}
	defer rows.Close()
	var out []store.OutboxEntry
	for rows.Next() {
		var e store.OutboxEntry
		var created, due int64
		if err := rows.Scan(&e.Seq, &e.DetectorID, &e.FindingID, &e.Kind, &created, &due); err != nil {
			return nil, fmt.Errorf("reading the outbox of %s: %w", target, err)
		}
		e.CreatedAt, e.DueAt = time.UnixMilli(created).UTC(), time.UnixMilli(due).UTC()
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the outbox of %s: %w", target, err)
	}
	return out, nil
}

// OutboxBacklog returns how many outbox entries target has not sent, due
// or not, and the commit time of the oldest due one (zero if none).
func (db *DB) OutboxBacklog(ctx context.Context, target string, now time.Time) (int, time.Time, error) {
	var n int
	var oldest sql.NullInt64
	err := db.read.QueryRowContext(ctx, db.d.bind(`SELECT COUNT(*), MIN(CASE WHEN due_ms <= ? THEN created_ms END) FROM outbox o
		WHERE NOT EXISTS (SELECT 1 FROM outbox_sent s WHERE s.target = ? AND s.seq = o.seq)`), now.UnixMilli(), target).Scan(&n, &oldest)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("reading the outbox backlog of %s: %w", target, err)
	}
	var t time.Time
	if oldest.Valid {
		t = time.UnixMilli(oldest.Int64).UTC()
	}
	return n, t, nil
}

// MarkSent records that target sent the outbox entries seqs. Marking one
// twice is harmless.
func (db *DB) MarkSent(ctx context.Context, target string, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	err := db.tx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, db.d.bind(`INSERT INTO outbox_sent (target, seq) VALUES (?, ?) ON CONFLICT DO NOTHING`))
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, s := range seqs {
			if _, err := stmt.ExecContext(ctx, target, s); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("marking %d outbox entries sent to %s: %w", len(seqs), target, err)
	}
	return nil
}

// PruneOutbox deletes the outbox entries that every one of targets has
// sent (every entry, when there are no targets), with their marks, and
// the marks of targets no longer configured. It returns how many entries
// it deleted.
func (db *DB) PruneOutbox(ctx context.Context, targets []string) (int, error) {
	var n int64
	err := db.tx(ctx, func(tx *sql.Tx) error {
		b := &builder{d: db.d}
		b.WriteString(`DELETE FROM outbox WHERE `)
		if len(targets) == 0 {
			b.WriteString(`1 = 1`)
		} else {
			b.WriteString(`(SELECT COUNT(*) FROM outbox_sent s WHERE s.seq = outbox.seq AND s.target IN (` +
				b.list(anys(targets)) + `)) >= ` + b.arg(len(targets)))
		}
		res, err := tx.ExecContext(ctx, b.String(), b.args...)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM outbox_sent WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.seq = outbox_sent.seq)`)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("pruning the outbox of %s: %w", strings.Join(targets, ", "), err)
	}
	return int(n), nil
}
