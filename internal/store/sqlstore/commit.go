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
	if b.Fence != nil {
		if err := db.fence(ctx, tx, *b.Fence); err != nil {
			return err
		}
	}
	seqs := map[string]int64{}
	keyOf := func(f *finding.Finding) (findingKey, error) {
		if f == nil || f.ID == "" {
			return findingKey{}, errors.New("a finding without an ID")
		}
		did := f.Service.DetectorID
		seq, ok := seqs[did]
		if !ok {
			var err error
			if seq, err = db.detSeq(ctx, tx, did); err != nil {
				return findingKey{}, err
			}
			seqs[did] = seq
		}
		return findingKey{seq, f.ID}, nil
	}
	// The keys the batch touches, in the order of their first report,
	// then those of early reports and of earlier early reports.
	var order []findingKey
	touched := map[findingKey]bool{}
	touch := func(k findingKey) {
		if !touched[k] {
			touched[k] = true
			order = append(order, k)
		}
	}
	reports := map[findingKey][]*finding.Finding{}
	for _, f := range b.Findings {
		k, err := keyOf(f)
		if err != nil {
			return err
		}
		reports[k] = append(reports[k], f)
		touch(k)
	}
	early := map[findingKey]*finding.Finding{}
	for _, f := range b.Early {
		k, err := keyOf(f)
		if err != nil {
			return err
		}
		if e := early[k]; e != nil {
			e = e.Clone()
			finding.Merge(e, f)
			early[k] = e
		} else {
			early[k] = f
		}
	}
	for _, k := range slices.SortedFunc(maps.Keys(early), compareKeys) {
		touch(k)
	}
	bases, err := db.earlyBases(ctx, tx)
	if err != nil {
		return err
	}
	for _, k := range slices.SortedFunc(maps.Keys(bases), compareKeys) {
		touch(k)
	}
	if len(order) == 0 {
		return db.saveProgress(ctx, tx, b)
	}

	// Read (and, where the dialect says so, lock) the stored findings the
	// batch touches, in key order so that concurrent commits queue
	// rather than deadlock.
	byDet := map[int64][]string{}
	for _, k := range order {
		byDet[k.det] = append(byDet[k.det], k.id)
	}
	existing := map[findingKey]*storedFinding{}
	for _, seq := range slices.Sorted(maps.Keys(byDet)) {
		ids := slices.Sorted(slices.Values(byDet[seq]))
		for _, part := range chunks(ids) {
			qb := &builder{d: db.d}
			qb.WriteString(`SELECT id, body, archived, feedback FROM findings WHERE det = ` + qb.arg(seq) +
				` AND id IN (` + qb.list(anys(part)) + `) ORDER BY id` + db.d.LockRows)
			err := readStored(ctx, tx, qb.String(), qb.args, func(id string, s *storedFinding) {
				existing[findingKey{seq, id}] = s
			})
			if err != nil {
				return err
			}
		}
	}

	entries := map[findingKey]*pending{}
	var writes []findingKey
	var gone []findingKey
	var earlyPut []earlyBase
	var earlyDel []findingKey
	for _, k := range order {
		cur := existing[k]
		base, wasEarly := bases[k]
		// final is the finding's reports without an early one: the
		// stored finding, or the base kept beside it while it shows an
		// early report.
		var final *pending
		switch {
		case wasEarly && base != nil:
			f, err := decodeFinding(base)
			if err != nil {
				return fmt.Errorf("finding %s: %w", k.id, err)
			}
			final = &pending{f: f}
		case !wasEarly && cur != nil:
			final = &pending{f: cur.f}
		}
		for _, r := range reports[k] {
			if final == nil {
				c := *r
				final = &pending{f: &c, shared: true}
				continue
			}
			if final.shared {
				final.f, final.shared = final.f.Clone(), false
			}
			finding.Merge(final.f, r)
		}
		e := early[k]
		if e != nil {
			var b []byte
			if final != nil {
				if b, err = json.Marshal(final.f); err != nil {
					return fmt.Errorf("encoding finding %s: %w", k.id, err)
				}
			}
			if !wasEarly || string(b) != string(base) || (b == nil) != (base == nil) {
				earlyPut = append(earlyPut, earlyBase{k, b})
			}
		} else if wasEarly {
			earlyDel = append(earlyDel, k)
		}
		shown := final
		switch {
		case e != nil && final == nil:
			c := *e
			shown = &pending{f: &c, shared: true}
		case e != nil:
			if shown.shared {
				shown.f, shown.shared = shown.f.Clone(), false
			}
			finding.Merge(shown.f, e)
		}
		if shown == nil {
			if cur != nil {
				gone = append(gone, k)
			}
			continue
		}
		shown.existed = cur != nil
		if cur != nil {
			// The user's state stays the columns' (see findingOf).
			shown.f.Service.Archived = cur.f.Service.Archived
			shown.f.Service.UserFeedback = cur.f.Service.UserFeedback
		}
		entries[k] = shown
		writes = append(writes, k)
	}

	// Suppression rules archive the findings the batch creates: their
	// detector's, then the administrator's of their region.
	rules := map[int64][]rule{}
	adminRules := map[string][]rule{}
	for _, k := range writes {
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
		if b.Administrator != "" && e.f.AccountID != b.Administrator {
			admin, ok := adminRules[e.f.Region]
			if !ok {
				id := finding.DetectorID(b.Administrator, e.f.Region)
				seq, err := db.detSeq(ctx, tx, id)
				switch {
				case err == nil && seq != k.det:
					if admin, err = db.archiveFilters(ctx, tx, seq); err != nil {
						return fmt.Errorf("reading the administrator's suppression rules: %w", err)
					}
					for i := range admin {
						admin[i].owner = id
					}
				case err != nil && !errors.Is(err, store.ErrNotFound):
					return err
				}
				adminRules[e.f.Region] = admin
			}
			crits = append(slices.Clip(crits), admin...)
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
				archived[ruleKey{cmp.Or(c.owner, e.f.Service.DetectorID), c.name}]++
				break
			}
		}
	}

	changed, err := db.writeFindings(ctx, tx, writes, entries, existing)
	if err != nil {
		return err
	}
	if err := db.writeEarly(ctx, tx, earlyPut, earlyDel, gone); err != nil {
		return err
	}
	if err := db.writeOutbox(ctx, tx, changed, entries); err != nil {
		return err
	}
	return db.saveProgress(ctx, tx, b)
}

func compareKeys(a, b findingKey) int {
	return cmp.Or(cmp.Compare(a.det, b.det), strings.Compare(a.id, b.id))
}

// earlyBase is a finding that shows an early report, with the JSON of
// its reports without it (nil when it has none).
type earlyBase struct {
	k    findingKey
	base []byte
}

// earlyBases reads the findings that show an early report, with their
// bases. They are few: the findings of the last minutes' activity.
func (db *DB) earlyBases(ctx context.Context, tx *sql.Tx) (map[findingKey][]byte, error) {
	qb := &builder{d: db.d}
	qb.WriteString(`SELECT det, id, base FROM early_findings ORDER BY det, id` + db.d.LockRows)
	rows, err := tx.QueryContext(ctx, qb.String(), qb.args...)
	if err != nil {
		return nil, fmt.Errorf("reading early findings: %w", err)
	}
	defer rows.Close()
	out := map[findingKey][]byte{}
	for rows.Next() {
		var k findingKey
		var base []byte
		if err := rows.Scan(&k.det, &k.id, &base); err != nil {
			return nil, fmt.Errorf("reading early findings: %w", err)
		}
		out[k] = base
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading early findings: %w", err)
	}
	return out, nil
}

// writeEarly records which findings show an early report, and deletes
// the findings that showed nothing but an early report the batch left
// out (gone).
func (db *DB) writeEarly(ctx context.Context, tx *sql.Tx, put []earlyBase, del, gone []findingKey) error {
	for _, e := range put {
		if _, err := tx.ExecContext(ctx, db.d.bind(`INSERT INTO early_findings (det, id, base) VALUES (?, ?, ?)
			ON CONFLICT (det, id) DO UPDATE SET base = excluded.base`), e.k.det, e.k.id, e.base); err != nil {
			return fmt.Errorf("noting early finding %s: %w", e.k.id, err)
		}
	}
	for _, k := range del {
		if _, err := tx.ExecContext(ctx, db.d.bind(`DELETE FROM early_findings WHERE det = ? AND id = ?`), k.det, k.id); err != nil {
			return fmt.Errorf("clearing early finding %s: %w", k.id, err)
		}
	}
	for _, k := range gone {
		if _, err := tx.ExecContext(ctx, db.d.bind(`DELETE FROM findings WHERE det = ? AND id = ?`), k.det, k.id); err != nil {
			return fmt.Errorf("withdrawing early finding %s: %w", k.id, err)
		}
	}
	if len(gone) > 0 && db.log != nil {
		db.log.LogAttrs(ctx, slog.LevelInfo, "early findings withdrawn: later records did not bear them out",
			slog.Int("count", len(gone)))
	}
	return nil
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

// writeFindings writes the findings of order, skipping those whose JSON
// is what is stored (an early report foreseen again unchanged), and
// returns the keys it wrote.
func (db *DB) writeFindings(ctx context.Context, tx *sql.Tx, order []findingKey, entries map[findingKey]*pending, existing map[findingKey]*storedFinding) ([]findingKey, error) {
	if len(order) == 0 {
		return nil, nil
	}
	ins, err := tx.PrepareContext(ctx, db.d.bind(insertFinding))
	if err != nil {
		return nil, err
	}
	defer ins.Close()
	upd, err := tx.PrepareContext(ctx, db.d.bind(updateFinding))
	if err != nil {
		return nil, err
	}
	defer upd.Close()
	written := order[:0:0]
	for _, k := range order {
		e := entries[k]
		body, err := json.Marshal(e.f)
		if err != nil {
			return nil, fmt.Errorf("encoding finding %s: %w", k.id, err)
		}
		r := rowOf(e.f)
		vals := r.values()
		if e.existed {
			if cur := existing[k]; cur != nil && string(cur.body) == string(body) {
				continue
			}
			args := append(vals[1:], body, k.det, k.id)
			if _, err := upd.ExecContext(ctx, args...); err != nil {
				return nil, fmt.Errorf("updating finding %s: %w", k.id, err)
			}
			written = append(written, k)
			continue
		}
		args := append(append([]any{k.det}, vals...), body)
		if _, err := ins.ExecContext(ctx, args...); err != nil {
			return nil, fmt.Errorf("inserting finding %s: %w", k.id, err)
		}
		written = append(written, k)
	}
	return written, nil
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

// fence checks f against the greatest epoch committed under its name,
// locking the row until the transaction ends, and records f's epoch.
func (db *DB) fence(ctx context.Context, tx *sql.Tx, f store.Fence) error {
	if _, err := tx.ExecContext(ctx, db.d.bind(`INSERT INTO fences (name, epoch) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`), f.Name, f.Epoch); err != nil {
		return fmt.Errorf("fence %s: %w", f.Name, err)
	}
	var epoch int64
	if err := tx.QueryRowContext(ctx, db.d.bind(`SELECT epoch FROM fences WHERE name = ?`+db.d.LockRows), f.Name).Scan(&epoch); err != nil {
		return fmt.Errorf("fence %s: %w", f.Name, err)
	}
	if epoch > f.Epoch {
		return fmt.Errorf("fence %s: epoch %d, committed %d: %w", f.Name, f.Epoch, epoch, store.ErrFenced)
	}
	if epoch < f.Epoch {
		if _, err := tx.ExecContext(ctx, db.d.bind(`UPDATE fences SET epoch = ? WHERE name = ?`), f.Epoch, f.Name); err != nil {
			return fmt.Errorf("fence %s: %w", f.Name, err)
		}
	}
	return nil
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
