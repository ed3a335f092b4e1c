// Package exampledb opens the SQL database of the examples that keep state:
// PostgreSQL when DATABASE_URL is a postgres:// URL, the SQLite file it
// names otherwise, and, when it is unset, a new SQLite file in a temporary
// directory, deleted afterwards, so the examples run with no setup. The
// outbox and dedup tables are created (outbox.Migrate) before it returns.
package exampledb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/examples/internal/example"
	"github.com/eventbus-go/eventbus/outbox"
	_ "github.com/jackc/pgx/v5/stdlib" // driver "pgx"
	_ "modernc.org/sqlite"             // driver "sqlite", pure Go
)

// Open opens and migrates the database dsn names, as described above; closeDB
// releases it (and deletes a temporary file).
func Open(ctx context.Context, dsn string) (db *sql.DB, closeDB func() error, err error) {
	cleanup := func() error { return nil }
	driverName := "sqlite"
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		driverName = "pgx"
	case dsn == "":
		dir, err := os.MkdirTemp("", "eventbus-example-")
		if err != nil {
			return nil, nil, err
		}
		cleanup = func() error { return os.RemoveAll(dir) }
		dsn = outbox.SQLiteDSN(filepath.Join(dir, "example.db"))
	default:
		dsn = outbox.SQLiteDSN(dsn)
	}
	db, err = sql.Open(driverName, dsn)
	if err == nil {
		err = outbox.Migrate(ctx, db)
	}
	if err != nil {
		if db != nil {
			db.Close()
		}
		return nil, nil, errors.Join(err, cleanup())
	}
	return db, func() error { return errors.Join(db.Close(), cleanup()) }, nil
}

// Flow adapts an example flow that needs a database into one that opens
// the database DATABASE_URL names (see Open) for each run.
func Flow[O any](flow func(db *sql.DB) example.Flow[O]) example.Flow[O] {
	return func(ctx context.Context, b *bus.Bus, out io.Writer) (_ O, err error) {
		db, closeDB, err := Open(ctx, os.Getenv("DATABASE_URL"))
		if err != nil {
			var none O
			return none, fmt.Errorf("open the database: %w", err)
		}
		defer func() { err = errors.Join(err, closeDB()) }()
		return flow(db)(ctx, b, out)
	}
}
