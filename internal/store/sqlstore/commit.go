package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"picket/internal/finding"
	"picket/internal/store"
)

// pending is a finding a commit writes.
type pending struct {
	f       *finding.Finding
	existed bool
	// shared says f is a shallow copy of a caller's report, which must be
	// copied deeply before a merge changes what it points to.
	shared bool
}

// Commit merges a batch's findings into the stored ones and saves its
// checkpoints and state, all in one transaction.
func (db *DB) Commit(ctx context.Context, b store.Batch) error {
	var archived map[ruleKey]int
	err := db.tx(ctx, func(tx *sql.Tx) error {
		// A retried transaction counts again from nothing.
		archived = map[ruleKey]int{}
		return db.commit(ctx, tx, b, archived)
	})
	if err != nil {
		return fmt.Errorf("committing a batch of %d findings: %w", len(b.Findings), err)
	}
	db.logArchived(ctx, archived)
	return nil
}

// ruleKey names a suppression rule: its detector and its name.
type ruleKey struct{ detector, filter string }

// logArchived logs, once per rule, how many new findings a commit's
// suppression rules archived, in the order of detector and rule name.
func (db *DB) logArchived(ctx context.Context, archived map[ruleKey]int) {
	if db.log == nil || len(archived) == 0 {
		return
	}
	keys := slices.SortedFunc(maps.Keys(archived), func(a, b ruleKey) int {
		return cmp.Or(strings.Compare(a.detector, b.detector), strings.Compare(a.filter, b.filter))
	})
	for _, k := range keys {
		db.log.LogAttrs(ctx, slog.LevelInfo, "suppression rule archived new findings",
			slog.String("detector_id", k.detector), slog.String("filter", k.filter),
			slog.Int("archived", archived[k]))
	}
}

func (db *DB) commit(ctx context.Context, tx *sql.Tx, b store.Batch, archived map[ruleKey]int) error {
	seqs := map[string]int64{}
	byDet := map[int64][]string{}
	keys := make([]findingKey, len(b.Findings))
	for i, f := range b.Findings {
		if f == nil || f.ID == "" {
			return errors.New("a finding without an ID")
		}
		did := f.Service.DetectorID
		seq, ok := seqs[did]
		if !ok {
			var err error
			if seq, err = db.detSeq(ctx, tx, did); err != nil {
				return err
			}
			seqs[did] = seq
		}
		keys[i] = findingKey{seq, f.ID}
		byDet[seq] = append(byDet[seq], f.ID)
	}

	// Read (and, where the dialect says so, lock) the stored findings the
	// batch reports again, in key order so that concurrent commits queue
	// rather than deadlock.
	existing := map[findingKey]*finding.Finding{}
	for _, seq := range slices.Sorted(maps.Keys(byDet)) {
		ids := slices.Compact(slices.Sorted(slices.Values(byDet[seq])))
		for _, part := range chunks(ids) {
			qb := &builder{d: db.d}
			qb.WriteString(`SELECT id, body, archived, feedback FROM findings WHERE det = ` + qb.arg(seq) +
				` AND id IN (` + qb.list(anys(part)) + `) ORDER BY id` + db.d.LockRows)
			err := readFindings(ctx, tx, qb.String(), qb.args, func(id string, f *finding.Finding) {
				existing[findingKey{seq, id}] = f
			})
			if err != nil {
				return err
			}
		}
	}

	entries := map[findingKey]*pending{}
	var order []findingKey
	for i, f := range b.Findings {
		k := keys[i]
		e := entries[k]
		switch {
		case e == nil && existing[k] != nil:
			e = &pending{f: existing[k], existed: true}
			finding.Merge(e.f, f)
		case e == nil:
			c := *f
			e = &pending{f: &c, shared: true}
		default:
			if e.shared {
				e.f, e.shared = e.f.Clone(), false
			}
			finding.Merge(e.f, f)
		}
		if entries[k] == nil {
			entries[k] = e
			order = append(order, k)
		}
	}

	// Suppression rules archive the findings the batch creates.
	rules := map[int64][]rule{}
	for _, k := range order {
		e := entries[k]
		if e.existed || e.f.Service.Archived {
			continue
		}
		crits, ok := rules[k.det]
		if !ok {
			var err error
			if crits, err = db.archiveFilters(ctx, tx, k.det); err != nil {
				return fmt.Errorf("reading suppression rules: %w", err)
			}
			rules[k.det] = crits
		}
		if len(crits) == 0 {
			continue
		}
		v := store.Values(e.f)
		for _, c := range crits {
			if c.criteria.MatchValues(v) {
				// A shallow copy's Service is its own: setting a field
				// leaves the caller's report alone.
				e.f.Service.Archived = true
				archived[ruleKey{e.f.Service.DetectorID, c.name}]++
				break
			}
		}
	}

	if err := db.writeFindings(ctx, tx, order, entries); err != nil {
		return err
	}
	if err := db.writeOutbox(ctx, tx, order, entries); err != nil {
		return err
	}
	return db.saveProgress(ctx, tx, b)
}

var (
	insertFinding = `INSERT INTO findings (det, ` + strings.Join(findingColumns, ", ") + `, body) VALUES (?` +
		strings.Repeat(", ?", len(findingColumns)+1) + `)`
	updateFinding = func() string {
		var sets []string
		for _, c := range findingColumns[1:] {
			sets = append(sets, c+" = ?")
		}
		return `UPDATE findings SET ` + strings.Join(sets, ", ") + `, body = ? WHERE det = ? AND id = ?`
	}()
)

func (db *DB) writeFindings(ctx context.Context, tx *sql.Tx, order []findingKey, entries map[findingKey]*pending) error {
	if len(order) == 0 {
		return nil
	}
	ins, err := tx.PrepareContext(ctx, db.d.bind(insertFinding))
	if err != nil {
		return err
	}
	defer ins.Close()
	upd, err := tx.PrepareContext(ctx, db.d.bind(updateFinding))
	if err != nil {
		return err
	}
	defer upd.Close()
	for _, k := range order {
		e := entries[k]
		body, err := json.Marshal(e.f)
		if err != nil {
			return fmt.Errorf("encoding finding %s: %w", k.id, err)
		}
		r := rowOf(e.f)
		vals := r.values()
		if e.existed {
			args := append(vals[1:], body, k.det, k.id)
			if _, err := upd.ExecContext(ctx, args...); err != nil {
				return fmt.Errorf("updating finding %s: %w", k.id, err)
			}
			continue
		}
		args := append(append([]any{k.det}, vals...), body)
		if _, err := ins.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("inserting finding %s: %w", k.id, err)
		}
	}
	return nil
}

// Checkpoints returns every source's checkpoint, by source.
func (db *DB) Checkpoints(ctx context.Context) ([]store.Checkpoint, error) {
	rows, err := db.read.QueryContext(ctx, `SELECT source, pos, updated_ms FROM checkpoints ORDER BY source`)
	if err != nil {
		return nil, fmt.Errorf("reading checkpoints: %w", err)
	}
	defer rows.Close()
	var out []store.Checkpoint
	for rows.Next() {
		var c store.Checkpoint
		var ms int64
		if err := rows.Scan(&c.Source, &c.Position, &ms); err != nil {
			return nil, fmt.Errorf("reading checkpoints: %w", err)
		}
		c.UpdatedAt = time.UnixMilli(ms).UTC()
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading checkpoints: %w", err)
	}
	return out, nil
}

// State returns the last committed detection state, nil if none.
func (db *DB) State(ctx context.Context) ([]byte, error) {
	var b []byte
	err := db.read.QueryRowContext(ctx, `SELECT body FROM state WHERE id = 1`).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the detection state: %w", err)
	}
	return b, nil
}

func (db *DB) saveProgress(ctx context.Context, tx *sql.Tx, b store.Batch) error {
	cps := slices.Clone(b.Checkpoints)
	slices.SortFunc(cps, func(a, b store.Checkpoint) int { return strings.Compare(a.Source, b.Source) })
	stmt := db.d.bind(`INSERT INTO checkpoints (source, pos, updated_ms) VALUES (?, ?, ?)
		ON CONFLICT (source) DO UPDATE SET pos = excluded.pos, updated_ms = excluded.updated_ms`)
	for _, c := range cps {
		pos := c.Position
		if pos == nil {
			pos = []byte{}
		}
		if _, err := tx.ExecContext(ctx, stmt, c.Source, pos, c.UpdatedAt.UnixMilli()); err != nil {
			return fmt.Errorf("saving checkpoint %s: %w", c.Source, err)
		}
	}
	if b.State != nil {
		if _, err := tx.ExecContext(ctx, db.d.bind(`INSERT INTO state (id, body) VALUES (1, ?)
			ON CONFLICT (id) DO UPDATE SET body = excluded.body`), b.State); err != nil {
			return fmt.Errorf("saving the detection state: %w", err)
		}
	}
	return nil
}
