// Command densequery is the DuckDB side of scripts/dense-bench: it runs one
// port-scan query over a VPC flow log text file, the kind an analyst would
// write, so that picket's time on the same file has something to stand
// beside.
//
// The file is the default (version 2) format with a header line, fields
// separated by single spaces. DuckDB reads it itself with read_csv, with
// every column's type given, inside the timed query. For each interface
// and source address the query counts the distinct destination address and
// port pairs and keeps those with at least -min of them.
//
// It prints one line, key=value pairs:
//
//	duckdb=v1.x.y rows=N elapsed=S
//
// where elapsed is the query's wall time in seconds, from the moment it is
// sent to the moment its last row has been read.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

// columns are the version 2 default fields in file order, with the types
// DuckDB is told to read them as; "-" is read as NULL, as flow logs write
// it for the fields of NODATA and SKIPDATA records.
const columns = `{
	'version': 'INTEGER',
	'account-id': 'VARCHAR',
	'interface-id': 'VARCHAR',
	'srcaddr': 'VARCHAR',
	'dstaddr': 'VARCHAR',
	'srcport': 'INTEGER',
	'dstport': 'INTEGER',
	'protocol': 'INTEGER',
	'packets': 'BIGINT',
	'bytes': 'BIGINT',
	'start': 'BIGINT',
	'end': 'BIGINT',
	'action': 'VARCHAR',
	'log-status': 'VARCHAR'
}`

func main() {
	minPairs := flag.Int("min", 25, "report sources with at least this many distinct destination address and port pairs")
	threads := flag.Int("threads", 0, "DuckDB worker threads (0: DuckDB's default, one per core)")
	show := flag.Int("show", 0, "also print this many of the top rows on stderr")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "Usage: densequery [flags] FLOWLOG\n\nRuns one port-scan query over a VPC flow log text file with DuckDB.\n\nFlags:\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *minPairs, *threads, *show); err != nil {
		fmt.Fprintln(os.Stderr, "densequery:", err)
		os.Exit(1)
	}
}

func run(path string, minPairs, threads, show int) error {
	if _, err := os.Stat(path); err != nil {
		return err
	}
	ctx := context.Background()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return err
	}
	defer db.Close()
	// One connection, so that settings and the query share a session.
	db.SetMaxOpenConns(1)

	if threads > 0 {
		if _, err := db.ExecContext(ctx, fmt.Sprintf("SET threads = %d", threads)); err != nil {
			return fmt.Errorf("set threads: %w", err)
		}
	}
	var version string
	if err := db.QueryRowContext(ctx, "SELECT version()").Scan(&version); err != nil {
		return fmt.Errorf("version: %w", err)
	}

	query := fmt.Sprintf(`
SELECT "interface-id", srcaddr, count(DISTINCT (dstaddr, dstport)) AS pairs
FROM read_csv(%s, delim = ' ', header = true, nullstr = '-', columns = %s)
GROUP BY "interface-id", srcaddr
HAVING count(DISTINCT (dstaddr, dstport)) >= %d
ORDER BY pairs DESC, "interface-id", srcaddr`, quote(path), columns, minPairs)

	start := time.Now()
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var eni, src string
		var pairs int64
		if err := rows.Scan(&eni, &src, &pairs); err != nil {
			return fmt.Errorf("scan: %w", err)
		}
		if n < show {
			fmt.Fprintf(os.Stderr, "%s %s %d\n", eni, src, pairs)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("query: %w", err)
	}
	elapsed := time.Since(start)
	fmt.Printf("duckdb=%s rows=%d elapsed=%.3f\n", version, n, elapsed.Seconds())
	return nil
}

// quote makes s a SQL string literal.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
