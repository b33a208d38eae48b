package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Types are the column types a dialect spells the schema with.
type Types struct {
	Seq  string // an auto-assigned integer primary key
	Int  string // a 64-bit integer
	Real string // a double
	Text string // text that compares and sorts byte by byte, as Go strings do
	Blob string // bytes
}

// migrations returns the schema versions, spelled with t.
//
// Findings are kept as their JSON (body) beside the columns that criteria,
// sorts and statistics use most; see columns for which field each column
// holds. archived, feedback and comments are the user's state and are the
// truth for those fields: the JSON is the finding as detectors reported
// and merged it. Every finding index starts with det, the detector's
// small integer key, and ends with id, so that each serves keyset
// pagination in (column, id) order within one detector.
func migrations(t Types) []migration {
	r := strings.NewReplacer("{seq}", t.Seq, "{int}", t.Int, "{real}", t.Real, "{text}", t.Text, "{blob}", t.Blob)
	spell := func(stmts ...string) []string {
		for i, s := range stmts {
			stmts[i] = r.Replace(s)
		}
		return stmts
	}
	return []migration{
		{
			Version: 1,
			Name:    "detectors, findings, filters, sets, checkpoints and state",
			SQL: spell(
				`CREATE TABLE detectors (
					seq {seq},
					id {text} NOT NULL UNIQUE,
					account {text} NOT NULL,
					region {text} NOT NULL,
					body {blob} NOT NULL,
					UNIQUE (account, region))`,
				`CREATE TABLE findings (
					det {int} NOT NULL REFERENCES detectors (seq) ON DELETE CASCADE,
					id {text} NOT NULL,
					type {text},
					severity {real} NOT NULL,
					created_ms {int} NOT NULL,
					updated_ms {int} NOT NULL,
					first_seen_ms {int} NOT NULL,
					last_seen_ms {int} NOT NULL,
					event_count {int} NOT NULL,
					archived {int} NOT NULL,
					feedback {text},
					comments {text},
					account_id {text},
					region {text},
					resource_type {text},
					resource_role {text},
					action_type {text},
					instance_id {text},
					access_key_id {text},
					body {blob} NOT NULL)`,
				`CREATE UNIQUE INDEX findings_id ON findings (det, id)`,
				`CREATE INDEX findings_updated ON findings (det, updated_ms, id)`,
				// type criteria with a severity bound, sorted by time: the
				// trailing columns answer the bound without reading the row.
				`CREATE INDEX findings_type ON findings (det, type, updated_ms, id, severity, archived)`,
				`CREATE INDEX findings_severity ON findings (det, severity, id)`,
				`CREATE INDEX findings_archived ON findings (det, archived, updated_ms, id)`,
				`CREATE INDEX findings_instance ON findings (det, instance_id, id) WHERE instance_id IS NOT NULL`,
				`CREATE TABLE filters (
					det {int} NOT NULL REFERENCES detectors (seq) ON DELETE CASCADE,
					name {text} NOT NULL,
					filter_rank {int} NOT NULL,
					action {text} NOT NULL,
					body {blob} NOT NULL,
					PRIMARY KEY (det, name))`,
				`CREATE INDEX filters_rank ON filters (det, filter_rank, name)`,
				`CREATE TABLE sets (
					det {int} NOT NULL REFERENCES detectors (seq) ON DELETE CASCADE,
					kind {text} NOT NULL,
					id {text} NOT NULL,
					body {blob} NOT NULL,
					PRIMARY KEY (det, kind, id))`,
				`CREATE TABLE checkpoints (
					source {text} PRIMARY KEY,
					pos {blob},
					updated_ms {int} NOT NULL)`,
				`CREATE TABLE state (
					id {int} PRIMARY KEY CHECK (id = 1),
					body {blob})`,
			),
		},
		{
			Version: 2,
			Name:    "remote address and resource columns",
			SQL: spell(
				`ALTER TABLE findings ADD COLUMN remote_ip {text}`,
				`ALTER TABLE findings ADD COLUMN resource_id {text}`,
			),
			Go: backfillV2,
			Then: spell(
				`CREATE INDEX findings_remote_ip ON findings (det, remote_ip, id) WHERE remote_ip IS NOT NULL`,
				`CREATE INDEX findings_resource ON findings (det, resource_id) WHERE resource_id IS NOT NULL`,
			),
		},
		{
			Version: 3,
			Name:    "the outbox of findings to push",
			// outbox holds the findings commits created or changed until
			// every push target has sent them; outbox_sent, which entries
			// each target has sent.
			SQL: spell(
				`CREATE TABLE outbox (
					seq {seq},
					detector_id {text} NOT NULL,
					finding_id {text} NOT NULL,
					kind {text} NOT NULL,
					created_ms {int} NOT NULL,
					due_ms {int} NOT NULL)`,
				`CREATE INDEX outbox_due ON outbox (due_ms, seq)`,
				`CREATE TABLE outbox_sent (
					target {text} NOT NULL,
					seq {int} NOT NULL,
					PRIMARY KEY (target, seq))`,
				`CREATE INDEX outbox_sent_seq ON outbox_sent (seq)`,
			),
		},
		{
			Version: 4,
			Name:    "early findings",
			// early_findings lists the findings whose stored JSON holds
			// an early report (store.Batch.Early), each with base, the
			// JSON of its reports without it (NULL when it has none).
			// outbox_finding finds a finding's update already waiting.
			SQL: spell(
				`CREATE TABLE early_findings (
					det {int} NOT NULL REFERENCES detectors (seq) ON DELETE CASCADE,
					id {text} NOT NULL,
					base {blob},
					PRIMARY KEY (det, id))`,
				`CREATE INDEX outbox_finding ON outbox (finding_id, detector_id, due_ms)`,
			),
		},
		{
			Version: 5,
			Name:    "covering indexes for statistics by severity and by resource",
			// Statistics count every matching finding. By severity (and
			// the severity-sorted listing of current findings) the
			// severity index now also holds archived and updated_ms, and
			// by resource a new index holds every column the grouping
			// reads: both are answered from the index alone, in group
			// order, instead of reading each finding's row. The new
			// indexes start with the columns of the ones they replace.
			SQL: spell(
				`DROP INDEX findings_severity`,
				`CREATE INDEX findings_severity_v5 ON findings (det, severity, id, archived, updated_ms)`,
				`DROP INDEX findings_resource`,
				`CREATE INDEX findings_resource_v5 ON findings (det, resource_id, resource_type, account_id, archived, severity, updated_ms)`,
			),
		},
		{
			Version: 6,
			Name:    "an index for statistics by date",
			// Statistics by date group by the UTC day of updated_ms,
			// an expression: without an index on it SQLite sorts every
			// matching finding to group them. This index holds the
			// findings in day order with the columns the grouping reads.
			SQL: spell(
				`CREATE INDEX findings_day ON findings (det, (` + dayStartExpr + `), archived, severity, updated_ms)`,
			),
		},
		{
			Version: 7,
			Name:    "an index for statistics over a recent period",
			// The console's summary counts the current findings of a
			// period (updated_ms from some time on) by day, type,
			// severity and resource. This index holds them in that
			// order of period with every column those groupings read,
			// so each is a range scan of the period's entries in the
			// index alone, however large the store.
			SQL: spell(
				`CREATE INDEX findings_recent ON findings (det, archived, updated_ms, type, severity, resource_id, resource_type, account_id)`,
			),
		},
		{
			Version: 8,
			Name:    "fences of commits made under a lease",
			// One row per share of work committed under a lease (a
			// partition of the distributed mode): the greatest epoch
			// committed, which an older owner's commit may not pass.
			SQL: spell(
				`CREATE TABLE fences (
					name {text} PRIMARY KEY,
					epoch {int} NOT NULL
				)`,
			),
		},
	}
}

// backfillV2 fills the version 2 columns of the findings stored before it
// from their JSON.
func backfillV2(ctx context.Context, tx *sql.Tx, d *Dialect) error {
	type key struct {
		det int64
		id  string
	}
	var after *key
	for {
		b := &builder{d: d}
		b.WriteString(`SELECT det, id, body FROM findings`)
		if after != nil {
			b.WriteString(` WHERE (det, id) > (` + b.arg(after.det) + `, ` + b.arg(after.id) + `)`)
		}
		b.WriteString(` ORDER BY det, id LIMIT 1000`)
		rows, err := tx.QueryContext(ctx, b.String(), b.args...)
		if err != nil {
			return err
		}
		type update struct {
			k                    key
			remoteIP, resourceID string
		}
		var updates []update
		for rows.Next() {
			var u update
			var body []byte
			if err := rows.Scan(&u.k.det, &u.k.id, &body); err != nil {
				rows.Close()
				return err
			}
			f, err := decodeFinding(body)
			if err != nil {
				rows.Close()
				return fmt.Errorf("finding %s: %w", u.k.id, err)
			}
			r := rowOf(f)
			u.remoteIP, u.resourceID = r.remoteIP, r.resourceID
			updates = append(updates, u)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(updates) == 0 {
			return nil
		}
		stmt := d.bind(`UPDATE findings SET remote_ip = ?, resource_id = ? WHERE det = ? AND id = ?`)
		for _, u := range updates {
			if _, err := tx.ExecContext(ctx, stmt, null(u.remoteIP), null(u.resourceID), u.k.det, u.k.id); err != nil {
				return err
			}
		}
		last := updates[len(updates)-1].k
		after = &last
	}
}
