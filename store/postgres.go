package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib" // registers database/sql's "pgx" driver
)

// openPostgres opens the app's pool on a Postgres database and the pgx
// pool River listens through. The store keeps its *sql.Tx transactions on
// both databases (River's database/sql driver takes them, with the pgx
// driver's listener for notifications), so one set of queries serves both.
func (s *Store) openPostgres(ctx context.Context, dsn string) error {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("--database %s: %w", redact(dsn), err)
	}
	// LISTEN connections are taken from this pool and never given back:
	// one is enough for this process's one River client.
	cfg.MinConns, cfg.MaxConns = 0, 2
	listener, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("database %s: %w", redact(dsn), err)
	}
	db := stdlib.OpenDB(*cfg.ConnConfig.Copy())
	// Workers write a few rows a second each; serve reads pages and live
	// streams. Enough connections for both without exhausting a server
	// that many processes share (Postgres allows 100 by default).
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(5 * time.Minute)
	s.DB, s.RiverDB, s.Listener, s.pg = db, db, listener, true
	s.where = "database " + redact(dsn)
	return nil
}

// migrationLock is the advisory lock that processes starting together on
// a new Postgres database take around migrations (the store's and
// River's), so they migrate one after the other, not into each other.
const migrationLock = 0x67616e73 // "gans"

// SchemaTx runs fn in a transaction that no other process's SchemaTx
// overlaps: on SQLite an immediate transaction on River's pool (which
// holds the one write lock), on Postgres one holding migrationLock.
func (s *Store) SchemaTx(ctx context.Context, fn func(*sql.Tx) error) error {
	if !s.pg {
		return s.RiverTx(ctx, fn)
	}
	return s.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return err
		}
		return fn(tx)
	})
}

// SchemaLocked runs fn while no other process runs a SchemaTx or a
// SchemaLocked: for migrations that must commit step by step (River's
// Postgres migrations add an enum value and then use it, which Postgres
// allows only in a later transaction). Postgres only: on SQLite use
// SchemaTx, whose immediate transaction is the lock (fn could not run
// beside it on River's one connection).
func (s *Store) SchemaLocked(ctx context.Context, fn func() error) error {
	if !s.pg {
		return errors.New("SchemaLocked is for Postgres; SQLite migrates in a SchemaTx")
	}
	conn, err := s.DB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock)
	return fn()
}

// migratePostgres applies migrations/postgres/NNNN_*.sql not yet applied,
// all in one transaction under migrationLock (Postgres's DDL is
// transactional), recording the last in ganstudio_schema. The files carry
// the same numbers as SQLite's and make the same tables.
func (s *Store) migratePostgres(ctx context.Context) error {
	steps, err := migrationSteps("postgres")
	if err != nil {
		return err
	}
	err = s.SchemaTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS ganstudio_schema (version INTEGER NOT NULL)`); err != nil {
			return err
		}
		var have int
		if err := tx.QueryRowContext(ctx, postgresVersion).Scan(&have); err != nil {
			return err
		}
		if err := newerSchema(have, steps); err != nil {
			return err
		}
		for _, m := range steps {
			if m.n <= have {
				continue
			}
			if _, err := tx.ExecContext(ctx, m.body); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			have = m.n
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM ganstudio_schema`); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO ganstudio_schema (version) VALUES ($1)`, have)
		return err
	})
	if err != nil {
		return fmt.Errorf("schema migrations: %w", err)
	}
	return nil
}

// forUpdate ends a SELECT of the row a transaction goes on to change. On
// SQLite the transaction already holds the one write lock (immediate), so
// nothing can change the row between the read and the write; on Postgres
// the row lock does that, and statements outside the transaction that
// change the row wait for it.
func (s *Store) forUpdate() string {
	if s.pg {
		return " FOR UPDATE"
	}
	return ""
}

// IsUnavailable reports whether err says the database or the object
// storage could not be reached or went away mid-request (a restart, the
// network), rather than refusing what was asked: worth waiting for.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// 08: connection exceptions; 57P01-03: the server shutting down,
		// crashed, or not yet accepting connections.
		return strings.HasPrefix(pe.Code, "08") || pe.Code == "57P01" || pe.Code == "57P02" || pe.Code == "57P03"
	}
	var ce *pgconn.ConnectError
	return errors.As(err, &ce) || errors.Is(err, driver.ErrBadConn) || pgconn.SafeToRetry(err) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || unreachable(err)
}

// WaitAvailable waits until the database and the blobs answer again (or
// ctx ends), checking every few seconds.
func (s *Store) WaitAvailable(ctx context.Context) error {
	wait := 250 * time.Millisecond
	for {
		err := s.DB.PingContext(ctx)
		if err == nil {
			if b, ok := s.Blobs.(*S3Blobs); ok {
				err = b.Check(ctx)
			}
		}
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// redact is a database URL without its password, for messages and logs.
func redact(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}
