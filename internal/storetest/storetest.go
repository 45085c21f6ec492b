// Package storetest gives tests the database and blobs a studio in a test
// folder uses: SQLite and the folder itself by default, or, under
// scripts/scale-env.sh with GANSTUDIO_TEST_STORE=scale, a Postgres schema
// and an S3 prefix of the folder's own on the real servers it started. So
// the store's, the queue's and the server's tests are one suite that runs
// against every backend.
package storetest

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
)

// Scale reports whether tests run on Postgres and S3.
func Scale() bool { return os.Getenv("GANSTUDIO_TEST_STORE") == "scale" }

// Servers returns the Postgres URL and S3 URL that scripts/scale-env.sh
// started; the test is skipped when it runs outside it, or fails when
// GANSTUDIO_TEST_STORE=scale says it must not be.
func Servers(t testing.TB) (database, blobs string) {
	t.Helper()
	database, blobs = os.Getenv("GANSTUDIO_TEST_POSTGRES"), os.Getenv("GANSTUDIO_TEST_S3")
	if database == "" || blobs == "" {
		if Scale() {
			t.Fatal("GANSTUDIO_TEST_STORE=scale outside scripts/scale-env.sh run")
		}
		t.Skip("no Postgres and S3 server: run under scripts/scale-env.sh run")
	}
	return database, blobs
}

// Config returns the --database and --blobs a studio in dir opens: "" and
// "" (SQLite and blobs in dir) unless Scale. Every call for the same dir
// gives the same answer, so a test may close and reopen its studio.
func Config(t testing.TB, dir string) (database, blobs string) {
	t.Helper()
	if !Scale() {
		return "", ""
	}
	return Fresh(t, dir)
}

// Fresh is Config on Postgres and S3 whatever GANSTUDIO_TEST_STORE says: a
// schema and a prefix made for dir.
func Fresh(t testing.TB, dir string) (database, blobs string) {
	t.Helper()
	pg, s3 := Servers(t)
	mark := filepath.Join(dir, ".storetest")
	name := ""
	if b, err := os.ReadFile(mark); err == nil {
		name = strings.TrimSpace(string(b))
	} else {
		var r [6]byte
		rand.Read(r[:])
		name = "t" + hex.EncodeToString(r[:])
		db, err := sql.Open("pgx", pg)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if _, err := db.Exec(`CREATE SCHEMA ` + name); err != nil {
			t.Fatalf("test schema: %v", err)
		}
		if err := os.WriteFile(mark, []byte(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return With(t, pg, "search_path", name), strings.Replace(s3, "?", "/"+name+"?", 1)
}

// With is a URL with one query parameter set.
func With(t testing.TB, u, key, value string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	q := p.Query()
	q.Set(key, value)
	p.RawQuery = q.Encode()
	return p.String()
}
