package outbox

import "net/url"

// SQLiteDSN returns the data source name for modernc.org/sqlite (driver
// "sqlite") of the database file at path, set up for an outbox shared by
// several connections and processes: a WAL journal, so readers and the
// writer do not block each other; a 10 s wait for the write lock instead of
// an immediate "database is locked"; and transactions that take the write
// lock when they begin (BEGIN IMMEDIATE), so that a transaction never fails
// halfway when it turns from reading to writing.
//
//	db, err := sql.Open("sqlite", outbox.SQLiteDSN("orders.db"))
func SQLiteDSN(path string) string {
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
}
