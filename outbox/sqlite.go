package outbox

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// SQLiteDSN returns the data source name for modernc.org/sqlite (driver
// "sqlite") of the database file at path, set up for an outbox shared by
// several connections and processes: a 10 s wait for the write lock instead
// of an immediate "database is locked", and transactions that take the
// write lock when they begin (BEGIN IMMEDIATE), so that a transaction never
// fails halfway when it turns from reading to writing. Migrate switches the
// file to the WAL journal, so readers and the writer do not block each
// other; that setting stays with the file. (Asking for WAL in the data
// source name instead would make every new connection switch, and fail at
// once while another connection of a fresh file holds the write lock.)
//
//	db, err := sql.Open("sqlite", outbox.SQLiteDSN("orders.db"))
func SQLiteDSN(path string) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_txlock=immediate"
}

// useWAL switches an SQLite database file to the WAL journal. The switch
// needs a moment with no other connection in a transaction, so it is
// retried for up to walTimeout while other connections hold the file.
func useWAL(ctx context.Context, conn *sql.Conn) error {
	deadline := time.Now().Add(walTimeout)
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		var mode string
		err := conn.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode)
		mode = strings.ToLower(mode)
		if err == nil && (mode == "wal" || mode == "memory") { // an in-memory database has no journal file
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("switch to the WAL journal (got %q): %w", mode, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// walTimeout bounds how long Migrate tries to switch SQLite to WAL.
const walTimeout = 10 * time.Second
