package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/ganstudio/ganstudio/internal/atomicfile"
	"github.com/ganstudio/ganstudio/internal/proc"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrNotFound is returned for an id that names nothing.
var ErrNotFound = errors.New("not found")

// Store is the studio's database and blob storage.
type Store struct {
	DB *sql.DB // the app's pool: several readers, one writer at a time (WAL)
	// RiverDB is a one-connection pool on the same file for River, whose
	// SQLite driver asks for exactly one connection.
	RiverDB *sql.DB
	Blobs   Blobs
	// Swept is what Open cleared away of what killed processes left.
	Swept Swept
	dir   string
}

// Swept counts what a killed process left behind that Open removed.
type Swept struct {
	Datasets  int   // unfinished imports
	TempFiles int   // temporary files (uploads, blobs half written)
	TempBytes int64 // their size
	// TempError says what could not be removed (a leftover file is not
	// worth refusing to start over); "" when all went.
	TempError string
}

// Open opens (creating if needed) the studio's data folder: dir/ganstudio.db,
// dir/blobs/ and dir/tmp/. It applies any schema migrations not yet
// applied, and removes what killed processes left unfinished (see sweep).
func Open(ctx context.Context, dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	// busy_timeout makes writers wait for each other instead of failing;
	// _txlock=immediate takes the write lock at BEGIN, so two transactions
	// never deadlock upgrading read locks.
	dsn := "file:" + filepath.Join(dir, "ganstudio.db") +
		"?_pragma=busy_timeout(20000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	db.SetMaxOpenConns(4)
	rdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	rdb.SetMaxOpenConns(1)
	blobs, err := NewDirBlobs(filepath.Join(dir, "blobs"))
	if err != nil {
		db.Close()
		rdb.Close()
		return nil, err
	}
	s := &Store{DB: db, RiverDB: rdb, Blobs: blobs, dir: dir}
	if err := s.connect(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.sweep(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// TempFile makes a temporary file in the data folder (dir/tmp), named for
// this process so that a later start removes it if this process is killed
// before it does. The caller closes and removes it.
func (s *Store) TempFile(pattern string) (*os.File, error) {
	f, err := atomicfile.CreateTemp(filepath.Join(s.dir, "tmp"), pattern)
	if err != nil {
		return nil, fmt.Errorf("temporary file: %w", err)
	}
	return f, nil
}

// Close closes both pools.
func (s *Store) Close() error {
	return errors.Join(s.DB.Close(), s.RiverDB.Close())
}

// foreignAge is how old unfinished work must be before Open removes it
// when its owner cannot be checked: a process on another machine or in
// another container sharing the folder (or a build that did not record
// owners). Work whose owner is known to have ended goes at once.
const foreignAge = time.Hour

// foreignTempAge is the same for temporary files, which a slow upload may
// hold for a long time.
const foreignTempAge = 24 * time.Hour

// sweep removes what processes that were killed mid-way left behind:
// datasets whose import never finished (their rows are never listed and
// their files would stay for good) and temporary files.
func (s *Store) sweep(ctx context.Context) error {
	rows, err := s.DB.QueryContext(ctx, `SELECT id, owner, created_at FROM datasets WHERE ready = 0`)
	if err != nil {
		return fmt.Errorf("sweep unfinished imports: %w", err)
	}
	var ids []int64
	for rows.Next() {
		var id, created int64
		var owner string
		if err := rows.Scan(&id, &owner, &created); err != nil {
			rows.Close()
			return fmt.Errorf("sweep unfinished imports: %w", err)
		}
		if proc.Parse(owner).Gone() || time.Since(Time(created)) > foreignAge {
			ids = append(ids, id)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sweep unfinished imports: %w", err)
	}
	for _, id := range ids {
		if err := s.Blobs.Delete(ctx, fmt.Sprintf("datasets/%d/", id)); err != nil {
			return err
		}
		if _, err := s.DB.ExecContext(ctx, `DELETE FROM datasets WHERE id = ? AND ready = 0`, id); err != nil {
			return err
		}
	}
	s.Swept.Datasets = len(ids)
	for _, dir := range []string{filepath.Join(s.dir, "tmp"), filepath.Join(s.dir, "blobs", blobTemp)} {
		n, size, err := atomicfile.Sweep(dir, foreignTempAge)
		s.Swept.TempFiles += n
		s.Swept.TempBytes += size
		if err != nil {
			s.Swept.TempError = err.Error()
		}
	}
	return nil
}

// connect opens the first connection, waiting a while for another process
// that is creating the same database: switching a new file to WAL mode
// answers SQLITE_BUSY at once, without SQLite's busy timeout.
func (s *Store) connect(ctx context.Context) error {
	var err error
	for wait := 50 * time.Millisecond; wait < 10*time.Second; wait *= 2 {
		if err = s.DB.PingContext(ctx); err == nil || !isBusy(err) {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	return nil
}

func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code()&0xff == sqlite3.SQLITE_BUSY || se.Code()&0xff == sqlite3.SQLITE_LOCKED)
}

// migrate applies migrations/NNNN_*.sql in order, each in a transaction,
// recording the last applied number in PRAGMA user_version.
func (s *Store) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	var have int
	if err := s.DB.QueryRowContext(ctx, "PRAGMA user_version").Scan(&have); err != nil {
		return fmt.Errorf("schema version: %w", err)
	}
	if newest := len(names); have > newest {
		return fmt.Errorf("this data folder's database is at schema version %d, newer than this build of GAN Studio knows (%d): use a newer ganstudio", have, newest)
	}
	for _, name := range names {
		n, err := strconv.Atoi(strings.SplitN(filepath.Base(name), "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: bad number", name)
		}
		if n <= have {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		err = s.Tx(ctx, func(tx *sql.Tx) error {
			// Another process may have migrated since we looked; the
			// transaction holds the write lock, so look again.
			var now int
			if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&now); err != nil {
				return err
			}
			if n <= now {
				return nil
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", n))
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return nil
}

// Tx runs fn in a transaction, committing if it returns nil. Transactions
// take the write lock when they begin (_txlock=immediate).
func (s *Store) Tx(ctx context.Context, fn func(*sql.Tx) error) error {
	return inTx(ctx, s.DB, fn)
}

// RiverTx is Tx on River's pool.
func (s *Store) RiverTx(ctx context.Context, fn func(*sql.Tx) error) error {
	return inTx(ctx, s.RiverDB, fn)
}

func inTx(ctx context.Context, db *sql.DB, fn func(*sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// now is the time as stored: Unix milliseconds.
func now() int64 { return time.Now().UnixMilli() }

// Time turns a stored time back into a time.Time (zero for 0).
func Time(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

func notFound(what string, id any, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s %v: %w", what, id, ErrNotFound)
	}
	return fmt.Errorf("%s %v: %w", what, id, err)
}

// IsDiskFull reports whether err comes from a full disk, whether a file
// write said so (ENOSPC) or SQLite did (SQLITE_FULL).
func IsDiskFull(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_FULL {
		return true
	}
	return errors.Is(err, syscall.ENOSPC)
}
