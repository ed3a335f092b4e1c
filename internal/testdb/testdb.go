// Package testdb gives tests a fresh, empty SQL database of each kind the
// outbox supports: an SQLite file in the test's temporary directory, and a
// schema of its own on the test PostgreSQL server (see
// internal/testbroker.Postgres, which skips, or fails under CI=true,
// without one). Both are removed when the test ends.
//
// It imports no database driver, so that the module it lives in stays
// light: its callers import "modernc.org/sqlite" (through the outbox) and
// "github.com/jackc/pgx/v5/stdlib", and hand in outbox.SQLiteDSN.
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventbus-go/eventbus/internal/testbroker"
)

// Kinds are the databases the outbox supports, as subtest names.
var Kinds = []string{"sqlite", "postgres"}

// DB is an open test database.
type DB struct {
	*sql.DB
	// Driver and DSN open more connections to the same database, also
	// from another process: sql.Open(Driver, DSN).
	Driver, DSN string
}

// Open returns a fresh database of kind, "sqlite" or "postgres";
// sqliteDSN turns an SQLite file's path into its DSN (outbox.SQLiteDSN).
func Open(t testing.TB, kind string, sqliteDSN func(path string) string) DB {
	t.Helper()
	switch kind {
	case "sqlite":
		return open(t, "sqlite", sqliteDSN(filepath.Join(t.TempDir(), "test.db")))
	case "postgres":
		return openPostgres(t)
	default:
		t.Fatalf("testdb.Open: unknown kind %q, want sqlite or postgres", kind)
		return DB{}
	}
}

// Each runs f as a subtest per kind of database, each with a fresh one.
func Each(t *testing.T, sqliteDSN func(path string) string, f func(t *testing.T, db DB)) {
	t.Helper()
	for _, kind := range Kinds {
		t.Run(kind, func(t *testing.T) { f(t, Open(t, kind, sqliteDSN)) })
	}
}

// Reopen opens another handle on the same database, as another process
// would: its own connection pool.
func (db DB) Reopen(t testing.TB) *sql.DB {
	t.Helper()
	return open(t, db.Driver, db.DSN).DB
}

// InTx runs f in a transaction of db, committed when f returns nil and
// rolled back when it fails.
func InTx(ctx context.Context, db *sql.DB, f func(tx *sql.Tx) error) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	return tx.Commit()
}

func open(t testing.TB, driverName, dsn string) DB {
	t.Helper()
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		t.Fatalf("testdb: open %s: %v", driverName, err)
	}
	t.Cleanup(func() { db.Close() })
	return DB{DB: db, Driver: driverName, DSN: dsn}
}

// openPostgres creates a schema for the test and returns a database whose
// connections use it; the schema is dropped afterwards.
func openPostgres(t testing.TB) DB {
	t.Helper()
	base := testbroker.Postgres(t)
	admin := open(t, "pgx", base)
	schema := "t_" + strings.ToLower(rand.Text()[:12])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("testdb: create schema: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("testdb: drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("testdb: %s is not a URL", testbroker.EnvPostgres)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return open(t, "pgx", u.String())
}
