package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"math"
	"strconv"
	"strings"
)

// copyTables are the studio's tables in an order that respects their
// foreign keys, each with the columns that order its rows. Workers (who
// is alive now), sessions (people sign in again), sign-in failures and
// River's tables (jobs of the source's queue) are not copied: the
// target's queue gets jobs of its own (see CopyRow).
var copyTables = []struct{ name, key string }{
	{"users", "id"},
	{"tokens", "id"},
	{"audit", "id"},
	{"datasets", "id"},
	{"runs", "id"},
	{"metrics", "run_id, step"},
	{"snapshots", "run_id, step"},
	{"samples", "id"},
	{"ratings", "id"},
	{"events", "id"},
}

// Progress is told how a copy goes: what (a table, "blobs"), how many done
// of how many, and bytes for blobs.
type Progress func(what string, done, total int, bytes int64)

// TableCount is one table's or the blobs' figures after a copy.
type TableCount struct {
	Name   string
	Rows   int    // rows, or objects for blobs
	Copied int    // of them copied now (the rest were there from an interrupted copy)
	Bytes  int64  // blobs only
	Sum    string // SHA-256 over every row (or object) in order, the same on both sides
}

// CopyTo copies every row and blob of s (opened ReadOnly) into to, then
// verifies that both hold the same: row counts and a checksum of each
// table, object counts and each object's SHA-256. It is resumable: rows
// and objects already in to are kept (an interrupted copy goes on), so to
// must be empty or an earlier copy of s. Runs that were queued or running
// arrive queued with no job (CopyRow); the caller enqueues them.
func (s *Store) CopyTo(ctx context.Context, to *Store, progress Progress) ([]TableCount, error) {
	if err := s.sameStudio(ctx, to); err != nil {
		return nil, err
	}
	var out []TableCount
	for _, t := range copyTables {
		c, err := s.copyTable(ctx, to, t.name, t.key, progress)
		if err != nil {
			return out, fmt.Errorf("copy %s: %w", t.name, err)
		}
		out = append(out, c)
	}
	if err := to.resetIDs(ctx); err != nil {
		return out, err
	}
	c, err := s.copyBlobs(ctx, to, progress)
	if err != nil {
		return out, fmt.Errorf("copy blobs: %w", err)
	}
	return append(out, c), nil
}

// sameStudio refuses a target that holds datasets or runs the source does
// not (another studio's, or one made on the target since).
func (s *Store) sameStudio(ctx context.Context, to *Store) error {
	for _, table := range []string{"datasets", "runs"} {
		q := `SELECT id FROM ` + table + ` ORDER BY id`
		mine, err := ids(ctx, s.DB, q)
		if err != nil {
			return err
		}
		theirs, err := ids(ctx, to.DB, q)
		if err != nil {
			return err
		}
		for id := range theirs {
			if !mine[id] {
				return fmt.Errorf("the target already has %s %d, which the source does not: copy into an empty database and bucket (or prefix)", strings.TrimSuffix(table, "s"), id)
			}
		}
	}
	return nil
}

func ids(ctx context.Context, db *sql.DB, q string) (map[int64]bool, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}

// CopyRow is what a row becomes in the copy: a run that was queued or
// running (the source's worker gone with its queue) arrives queued, with
// no worker and no job yet.
func CopyRow(table string, cols []string, vals []any) {
	if table != "runs" {
		return
	}
	at := map[string]int{}
	for i, c := range cols {
		at[c] = i
	}
	state, _ := vals[at["state"]].(string)
	if state != Queued && state != Running {
		return
	}
	vals[at["state"]], vals[at["worker_id"]], vals[at["rate"]], vals[at["job_id"]] = Queued, "", 0.0, int64(0)
}

// copyBatch is how many rows go in one INSERT: well under both databases'
// limits on a statement's parameters (SQLite 32,766, Postgres 65,535).
const copyBatch = 200

func (s *Store) copyTable(ctx context.Context, to *Store, table, key string, progress Progress) (TableCount, error) {
	c := TableCount{Name: table}
	var total int
	if err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table).Scan(&total); err != nil {
		return c, err
	}
	cols, err := columns(ctx, s.DB, table)
	if err != nil {
		return c, err
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM `+table+` ORDER BY `+key)
	if err != nil {
		return c, err
	}
	defer rows.Close()
	var batch [][]any
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		var p params
		tuples := make([]string, len(batch))
		for i, row := range batch {
			names := make([]string, len(row))
			for j, v := range row {
				names[j] = p.add(v)
			}
			tuples[i] = "(" + strings.Join(names, ", ") + ")"
		}
		res, err := to.DB.ExecContext(ctx, `INSERT INTO `+table+` (`+strings.Join(cols, ", ")+`) VALUES `+
			strings.Join(tuples, ", ")+` ON CONFLICT DO NOTHING`, p...)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		c.Copied += int(n)
		c.Rows += len(batch)
		batch = batch[:0]
		if progress != nil {
			progress(table, c.Rows, total, 0)
		}
		return nil
	}
	for rows.Next() {
		vals, err := scanAny(rows, len(cols))
		if err != nil {
			return c, err
		}
		CopyRow(table, cols, vals)
		batch = append(batch, vals)
		if len(batch) == copyBatch {
			if err := flush(); err != nil {
				return c, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return c, err
	}
	if err := flush(); err != nil {
		return c, err
	}
	mine, n, err := s.tableSum(ctx, table, key, cols, true)
	if err != nil {
		return c, err
	}
	theirs, m, err := to.tableSum(ctx, table, key, cols, false)
	if err != nil {
		return c, err
	}
	if n != m || mine != theirs {
		return c, fmt.Errorf("verification failed: the source has %d rows (checksum %s), the target %d (%s): the target held other rows; copy into an empty database", n, mine[:12], m, theirs[:12])
	}
	c.Sum = mine
	return c, nil
}

func columns(ctx context.Context, db *sql.DB, table string) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT * FROM `+table+` LIMIT 0`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return rows.Columns()
}

func scanAny(rows *sql.Rows, n int) ([]any, error) {
	vals := make([]any, n)
	ptrs := make([]any, n)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	return vals, rows.Scan(ptrs...)
}

// tableSum is the SHA-256 of a table's rows in key order, each value
// written the same way whichever database holds it (an integral REAL that
// SQLite hands back as a float and Postgres as one too; text; bytes in
// hex). A runs row's job_id and updated_at are left out: the target's
// queue gives the waiting runs jobs of its own, which changes both. The source's rows are summed as CopyRow makes them.
func (s *Store) tableSum(ctx context.Context, table, key string, cols []string, source bool) (string, int, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM `+table+` ORDER BY `+key)
	if err != nil {
		return "", 0, err
	}
	defer rows.Close()
	h := sha256.New()
	n := 0
	for rows.Next() {
		vals, err := scanAny(rows, len(cols))
		if err != nil {
			return "", 0, err
		}
		if source {
			CopyRow(table, cols, vals)
		}
		for i, v := range vals {
			if table == "runs" && (cols[i] == "job_id" || cols[i] == "updated_at") {
				continue
			}
			writeValue(h, v)
		}
		h.Write([]byte{'\n'})
		n++
	}
	return hex.EncodeToString(h.Sum(nil)), n, rows.Err()
}

func writeValue(h hash.Hash, v any) {
	var s string
	switch v := v.(type) {
	case nil:
		s = "N"
	case int64:
		s = "i" + strconv.FormatInt(v, 10)
	case float64:
		if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
			s = "i" + strconv.FormatInt(int64(v), 10)
		} else {
			s = "f" + strconv.FormatFloat(v, 'g', -1, 64)
		}
	case string:
		s = "s" + strconv.Itoa(len(v)) + ":" + v
	case []byte:
		s = "b" + hex.EncodeToString(v)
	case bool:
		s = "i" + strconv.Itoa(flag(v))
	default:
		s = fmt.Sprintf("?%T:%v", v, v)
	}
	h.Write([]byte(s + "|"))
}

// resetIDs moves each table's id sequence past the ids copied in, so the
// next dataset, run or sample gets a new one (Postgres; SQLite's
// AUTOINCREMENT follows explicit ids by itself).
func (s *Store) resetIDs(ctx context.Context) error {
	if !s.pg {
		return nil
	}
	for _, t := range copyTables {
		if t.key != "id" {
			continue
		}
		_, err := s.DB.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('`+t.name+`', 'id'), MAX(id)) FROM `+t.name+` HAVING MAX(id) IS NOT NULL`)
		if err != nil {
			return fmt.Errorf("id sequence of %s: %w", t.name, err)
		}
	}
	return nil
}

// copyBlobs copies every object that is not in to already at the same
// size, then reads every object back on both sides and compares SHA-256s.
func (s *Store) copyBlobs(ctx context.Context, to *Store, progress Progress) (TableCount, error) {
	c := TableCount{Name: "blobs"}
	mine, err := s.Blobs.List(ctx, "")
	if err != nil {
		return c, err
	}
	theirs, err := to.Blobs.List(ctx, "")
	if err != nil {
		return c, err
	}
	have := map[string]int64{}
	for _, b := range theirs {
		have[b.Key] = b.Size
	}
	for i, b := range mine {
		if size, ok := have[b.Key]; !ok || size != b.Size {
			err := to.Blobs.Put(ctx, b.Key, func(w io.Writer) error {
				rc, err := s.Blobs.Open(ctx, b.Key)
				if err != nil {
					return err
				}
				defer rc.Close()
				_, err = io.Copy(w, rc)
				return err
			})
			if err != nil {
				return c, err
			}
			c.Copied++
		}
		c.Rows++
		c.Bytes += b.Size
		if progress != nil {
			progress("blobs", i+1, len(mine), c.Bytes)
		}
	}
	// Verify: the same objects, with the same contents.
	h := sha256.New()
	var bad []string
	for i, b := range mine {
		a, err := blobSum(ctx, s.Blobs, b.Key)
		if err != nil {
			return c, err
		}
		z, err := blobSum(ctx, to.Blobs, b.Key)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return c, err
		}
		if a != z {
			bad = append(bad, b.Key)
		}
		h.Write([]byte(b.Key + " " + a + "\n"))
		if progress != nil {
			progress("verify blobs", i+1, len(mine), 0)
		}
	}
	if len(bad) > 0 {
		return c, fmt.Errorf("verification failed: %d objects differ in the target, the first %s: run the copy again", len(bad), bad[0])
	}
	c.Sum = hex.EncodeToString(h.Sum(nil))
	return c, nil
}

func blobSum(ctx context.Context, b Blobs, key string) (string, error) {
	rc, err := b.Open(ctx, key)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	h := sha256.New()
	if _, err := io.Copy(h, rc); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
