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

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"modernc.org/sqlite" // the pure-Go SQLite driver, registered as "sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/ganstudio/ganstudio/internal/atomicfile"
	"github.com/ganstudio/ganstudio/internal/proc"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// ErrNotFound is returned for an id that names nothing.
var ErrNotFound = errors.New("not found")

// Store is the studio's database and blob storage.
type Store struct {
	DB *sql.DB // the app's pool: on SQLite several readers, one writer at a time (WAL)
	// RiverDB is River's pool: on SQLite a one-connection pool on the same
	// file (River's SQLite driver asks for exactly one connection), on
	// Postgres the app's own pool.
	RiverDB *sql.DB
	// Listener is a pgx pool on the same Postgres database, from which
	// River takes the connections it LISTENs on; nil on SQLite.
	Listener *pgxpool.Pool
	Blobs    Blobs
	// Swept is what Open cleared away of what killed processes left.
	Swept Swept
	dir   string
	pg    bool
	where string
}

// Config says where a studio keeps its things.
type Config struct {
	// Dir is this machine's own folder: temporary files and the cache of
	// blobs kept elsewhere always, and by default the database and blobs.
	Dir string
	// Database is "sqlite:PATH" or a "postgres://…" URL; "" is
	// sqlite:Dir/ganstudio.db.
	Database string
	// Blobs is "dir:PATH" or "s3://BUCKET/PREFIX?endpoint=…" (see
	// ParseS3); "" is dir:Dir/blobs.
	Blobs string
	// ReadOnly opens an existing studio to read it (ganstudio migrate's
	// source): no migrations, no sweep, SQLite opened read-only. Its schema
	// must be this build's.
	ReadOnly bool
	// NoCache keeps no local copies of S3 objects: every read goes to the
	// server (ganstudio migrate's verification reads what S3 holds).
	NoCache bool
}

// Postgres reports whether the database is Postgres (else SQLite).
func (s *Store) Postgres() bool { return s.pg }

// Where says where the studio's database and blobs are, for logs (no
// passwords).
func (s *Store) Where() string { return s.where }

// Swept counts what a killed process left behind that Open removed.
type Swept struct {
	Datasets  int   // unfinished imports
	TempFiles int   // temporary files (uploads, blobs half written)
	TempBytes int64 // their size
	// TempError says what could not be removed (a leftover file is not
	// worth refusing to start over); "" when all went.
	TempError string
}

// Open opens (creating if needed) the studio in a data folder:
// dir/ganstudio.db, dir/blobs/ and dir/tmp/.
func Open(ctx context.Context, dir string) (*Store, error) {
	return OpenConfig(ctx, Config{Dir: dir})
}

// OpenConfig opens (creating if needed) the studio c names. It applies any
// schema migrations not yet applied, and removes what killed processes
// left unfinished (see sweep).
func OpenConfig(ctx context.Context, c Config) (*Store, error) {
	if c.Dir == "" {
		c.Dir = "data"
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("data folder: %w", err)
	}
	s := &Store{dir: c.Dir}
	var err error
	switch db := c.Database; {
	case db == "" || strings.HasPrefix(db, "sqlite:"):
		path := strings.TrimPrefix(db, "sqlite:")
		if path == "" {
			path = filepath.Join(c.Dir, "ganstudio.db")
		}
		err = s.openSQLite(path, c.ReadOnly)
	case strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://"):
		err = s.openPostgres(ctx, db)
	default:
		return nil, fmt.Errorf("--database %q: want sqlite:PATH or a postgres://… URL", redact(db))
	}
	if err != nil {
		return nil, err
	}
	where, err := s.openBlobs(ctx, c)
	if err != nil {
		s.Close()
		return nil, err
	}
	s.where += ", blobs " + where
	if err := s.connect(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if c.ReadOnly {
		if err := s.checkSchema(ctx); err != nil {
			s.Close()
			return nil, err
		}
		return s, nil
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

func (s *Store) openSQLite(path string, readOnly bool) error {
	if readOnly {
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("database: %w", err)
		}
	} else if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("database folder: %w", err)
	}
	// busy_timeout makes writers wait for each other instead of failing;
	// _txlock=immediate takes the write lock at BEGIN, so two transactions
	// never deadlock upgrading read locks.
	dsn := "file:" + path +
		"?_pragma=busy_timeout(20000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	if readOnly {
		dsn = "file:" + path + "?mode=ro&_pragma=busy_timeout(20000)&_pragma=query_only(1)"
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	db.SetMaxOpenConns(4)
	rdb, err := sql.Open("sqlite", dsn)
	if err != nil {
		db.Close()
		return fmt.Errorf("open database: %w", err)
	}
	rdb.SetMaxOpenConns(1)
	s.DB, s.RiverDB, s.where = db, rdb, "database sqlite:"+path
	return nil
}

func (s *Store) openBlobs(ctx context.Context, c Config) (string, error) {
	switch b := c.Blobs; {
	case b == "" || strings.HasPrefix(b, "dir:"):
		root := strings.TrimPrefix(b, "dir:")
		if root == "" {
			root = filepath.Join(c.Dir, "blobs")
		}
		if c.ReadOnly {
			if _, err := os.Stat(root); err != nil {
				return "", fmt.Errorf("blobs: %w", err)
			}
			s.Blobs = &DirBlobs{root: root}
			return "dir:" + root, nil
		}
		blobs, err := NewDirBlobs(root)
		if err != nil {
			return "", err
		}
		s.Blobs = blobs
		return "dir:" + root, nil
	case strings.HasPrefix(b, "s3://"):
		opts, err := ParseS3(b)
		if err != nil {
			return "", err
		}
		opts.Temp = filepath.Join(c.Dir, "tmp")
		if !c.NoCache {
			opts.Cache = filepath.Join(c.Dir, "cache", "blobs")
		}
		blobs, err := NewS3Blobs(opts)
		if err != nil {
			return "", err
		}
		if err := blobs.Check(ctx); err != nil {
			return "", err
		}
		s.Blobs = blobs
		return opts.String(), nil
	default:
		return "", fmt.Errorf("--blobs %q: want dir:PATH or s3://BUCKET/PREFIX?endpoint=…", b)
	}
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

// Close closes the pools.
func (s *Store) Close() error {
	var errs []error
	if s.Listener != nil {
		s.Listener.Close()
	}
	if s.DB != nil {
		errs = append(errs, s.DB.Close())
	}
	if s.RiverDB != nil && s.RiverDB != s.DB {
		errs = append(errs, s.RiverDB.Close())
	}
	return errors.Join(errs...)
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
		if _, err := s.DB.ExecContext(ctx, `DELETE FROM datasets WHERE id = $1 AND ready = 0`, id); err != nil {
			return err
		}
	}
	s.Swept.Datasets = len(ids)
	dirs := []string{filepath.Join(s.dir, "tmp")}
	if b, ok := s.Blobs.(interface{ TempDir() string }); ok && b.TempDir() != dirs[0] {
		dirs = append(dirs, b.TempDir())
	}
	for _, dir := range dirs {
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
	if errors.Is(err, syscall.ECONNREFUSED) {
		return true // Postgres starting, or restarting
	}
	var se *sqlite.Error
	return errors.As(err, &se) && (se.Code()&0xff == sqlite3.SQLITE_BUSY || se.Code()&0xff == sqlite3.SQLITE_LOCKED)
}

// migrate applies migrations/NNNN_*.sql in order, each in a transaction,
// recording the last applied number in PRAGMA user_version.
func (s *Store) migrate(ctx context.Context) error {
	if s.pg {
		return s.migratePostgres(ctx)
	}
	steps, err := migrationSteps("sqlite")
	if err != nil {
		return err
	}
	var have int
	if err := s.DB.QueryRowContext(ctx, sqliteVersion).Scan(&have); err != nil {
		return fmt.Errorf("schema version: %w", err)
	}
	if err := newerSchema(have, steps); err != nil {
		return err
	}
	for _, m := range steps {
		if m.n <= have {
			continue
		}
		err = s.Tx(ctx, func(tx *sql.Tx) error {
			// Another process may have migrated since we looked; the
			// transaction holds the write lock, so look again.
			var now int
			if err := tx.QueryRowContext(ctx, sqliteVersion).Scan(&now); err != nil {
				return err
			}
			if m.n <= now {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.body); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.n))
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

// checkSchema makes sure a studio opened read-only is at this build's
// schema version: its tables are then the ones this build reads.
func (s *Store) checkSchema(ctx context.Context) error {
	database, q := "sqlite", sqliteVersion
	if s.pg {
		database, q = "postgres", postgresVersion
	}
	steps, err := migrationSteps(database)
	if err != nil {
		return err
	}
	var have int
	if err := s.DB.QueryRowContext(ctx, q).Scan(&have); err != nil {
		return fmt.Errorf("schema version: %w", err)
	}
	if err := newerSchema(have, steps); err != nil {
		return err
	}
	if have < len(steps) {
		return fmt.Errorf("this studio's database is at schema version %d, older than this build's (%d): start this build's ganstudio on it once to bring it up to date", have, len(steps))
	}
	return nil
}

// The schema version a database is at: SQLite keeps it in its header,
// Postgres in a table of ours.
const (
	sqliteVersion   = "PRAGMA user_version"
	postgresVersion = "SELECT COALESCE(MAX(version), 0) FROM ganstudio_schema"
)

// migration is one file of migrations/DATABASE/NNNN_*.sql.
type migration struct {
	n          int
	name, body string
}

// migrationSteps reads one database's migrations in order.
func migrationSteps(database string) ([]migration, error) {
	names, err := fs.Glob(migrations, "migrations/"+database+"/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	out := make([]migration, len(names))
	for i, name := range names {
		n, err := strconv.Atoi(strings.SplitN(filepath.Base(name), "_", 2)[0])
		if err != nil || n != i+1 {
			return nil, fmt.Errorf("migration %s: not number %d", name, i+1)
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return nil, err
		}
		out[i] = migration{n, name, string(body)}
	}
	return out, nil
}

// newerSchema refuses a database a newer build has migrated.
func newerSchema(have int, steps []migration) error {
	if have > len(steps) {
		return fmt.Errorf("this studio's database is at schema version %d, newer than this build of GAN Studio knows (%d): use a newer ganstudio", have, len(steps))
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
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "53100" { // disk_full
		return true
	}
	return errors.Is(err, syscall.ENOSPC)
}

// params collects a query's arguments as it is built, naming each by its
// number ($1, $2, …): the one placeholder style both databases take.
type params []any

func (p *params) add(v any) string {
	*p = append(*p, v)
	return "$" + strconv.Itoa(len(*p))
}

// flag is a boolean as the INTEGER columns keep it: Postgres, unlike
// SQLite, takes no Go bool for an integer.
func flag(b bool) int {
	if b {
		return 1
	}
	return 0
}
