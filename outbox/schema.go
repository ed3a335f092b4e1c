package outbox

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrUnsupportedDatabase reports a database that is neither SQLite nor
// PostgreSQL.
var ErrUnsupportedDatabase = errors.New("outbox: unsupported database, want SQLite or PostgreSQL")

// ErrNoSchema reports a database whose outbox tables are missing or older
// than this package: call Migrate.
var ErrNoSchema = errors.New("outbox: schema missing or out of date, call outbox.Migrate")

// dialect is the SQL flavour of a database. Everything but the schema is
// written once, in SQL both dialects accept ($n placeholders, ON CONFLICT,
// RETURNING); the schema holds what differs.
type dialect int

const (
	sqlite dialect = iota + 1
	postgres
)

func (d dialect) String() string {
	switch d {
	case sqlite:
		return "SQLite"
	case postgres:
		return "PostgreSQL"
	default:
		return "unknown"
	}
}

// detectDialect asks the database what it is. It must run outside a
// transaction: on PostgreSQL the failed sqlite_version() would abort one.
func detectDialect(ctx context.Context, db *sql.DB) (dialect, error) {
	var version string
	sqliteErr := db.QueryRowContext(ctx, "SELECT sqlite_version()").Scan(&version)
	if sqliteErr == nil {
		return sqlite, nil
	}
	pgErr := db.QueryRowContext(ctx, "SELECT version()").Scan(&version)
	switch {
	case pgErr != nil:
		return 0, fmt.Errorf("%w: neither SELECT sqlite_version() (%w) nor SELECT version() (%w) answered", ErrUnsupportedDatabase, sqliteErr, pgErr)
	case !strings.HasPrefix(version, "PostgreSQL"):
		return 0, fmt.Errorf("%w: the database says it is %q", ErrUnsupportedDatabase, version)
	}
	return postgres, nil
}

// schemaVersion is the version Migrate brings a database to; each entry of
// migrations moves it one step.
var schemaVersion = len(migrations[sqlite])

// migrations holds, per dialect, the DDL steps from version 0 upwards. A
// step is never changed once released; a change of schema is a new step.
var migrations = map[dialect][]string{
	sqlite: {`
CREATE TABLE eventbus_outbox (
	seq          INTEGER PRIMARY KEY AUTOINCREMENT,
	topic        TEXT    NOT NULL,
	msg_key      TEXT    NOT NULL,
	id           TEXT    NOT NULL,
	header       TEXT    NOT NULL,
	payload      BLOB    NOT NULL,
	event_time   INTEGER NOT NULL,
	created_at   INTEGER NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	last_error   TEXT,
	published_at INTEGER
);
CREATE INDEX eventbus_outbox_pending ON eventbus_outbox (seq) WHERE published_at IS NULL;
CREATE INDEX eventbus_outbox_published ON eventbus_outbox (published_at) WHERE published_at IS NOT NULL;
CREATE TABLE eventbus_outbox_lease (
	name       TEXT    PRIMARY KEY,
	owner      TEXT    NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE TABLE eventbus_dedup (
	dedup_key  TEXT    PRIMARY KEY,
	owner      TEXT    NOT NULL,
	done       INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE INDEX eventbus_dedup_expires ON eventbus_dedup (expires_at);
`},
	postgres: {`
CREATE SEQUENCE eventbus_outbox_seq;
CREATE TABLE eventbus_outbox (
	seq          BIGINT  PRIMARY KEY,
	topic        TEXT    NOT NULL,
	msg_key      TEXT    NOT NULL,
	id           TEXT    NOT NULL,
	header       TEXT    NOT NULL,
	payload      BYTEA   NOT NULL,
	event_time   BIGINT  NOT NULL,
	created_at   BIGINT  NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	last_error   TEXT,
	published_at BIGINT
);
CREATE INDEX eventbus_outbox_pending ON eventbus_outbox (seq) WHERE published_at IS NULL;
CREATE INDEX eventbus_outbox_published ON eventbus_outbox (published_at) WHERE published_at IS NOT NULL;
-- A sequence number is drawn only after the row's key is locked until
-- commit, so two transactions writing the same key get numbers in commit
-- order, and the relay, reading in number order, publishes in commit order.
-- 1161973592 is "EBOX", the class of the advisory locks this package takes.
CREATE FUNCTION eventbus_outbox_number() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	IF NEW.msg_key <> '' THEN
		PERFORM pg_advisory_xact_lock(1161973592, hashtext(NEW.topic || chr(31) || NEW.msg_key));
	END IF;
	NEW.seq := nextval('eventbus_outbox_seq');
	RETURN NEW;
END $$;
CREATE TRIGGER eventbus_outbox_number BEFORE INSERT ON eventbus_outbox
	FOR EACH ROW EXECUTE FUNCTION eventbus_outbox_number();
-- Wakes the relay (LISTEN eventbus_outbox) when the transaction commits.
CREATE FUNCTION eventbus_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_notify('eventbus_outbox', '');
	RETURN NULL;
END $$;
CREATE TRIGGER eventbus_outbox_notify AFTER INSERT ON eventbus_outbox
	FOR EACH STATEMENT EXECUTE FUNCTION eventbus_outbox_notify();
CREATE TABLE eventbus_outbox_lease (
	name       TEXT   PRIMARY KEY,
	owner      TEXT   NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE TABLE eventbus_dedup (
	dedup_key  TEXT    PRIMARY KEY,
	owner      TEXT    NOT NULL,
	done       INTEGER NOT NULL,
	expires_at BIGINT  NOT NULL
);
CREATE INDEX eventbus_dedup_expires ON eventbus_dedup (expires_at);
`},
}

// Migrate creates or updates the tables of the outbox, its relay lease and
// the dedup store in db, an SQLite or PostgreSQL database (see the package
// documentation for the schema). It is idempotent and safe to call from
// every replica at start-up: concurrent calls wait for each other.
func Migrate(ctx context.Context, db *sql.DB) error {
	if db == nil {
		return errors.New("outbox: migrate: db is nil")
	}
	d, err := detectDialect(ctx, db)
	if err != nil {
		return err
	}
	if err := migrate(ctx, db, d); err != nil {
		return fmt.Errorf("outbox: migrate %s: %w", d, err)
	}
	return nil
}

// migrate runs the missing steps in one transaction that concurrent calls
// take one after the other: SQLite's BEGIN IMMEDIATE takes the database's
// write lock at once, and on PostgreSQL an advisory lock guards even the
// first CREATE TABLE IF NOT EXISTS, which is not safe to run concurrently.
func migrate(ctx context.Context, db *sql.DB, d dialect) (err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if d == sqlite {
		if err := useWAL(ctx, conn); err != nil {
			return err
		}
	}
	begin := []string{"BEGIN IMMEDIATE"}
	if d == postgres {
		begin = []string{"BEGIN", "SELECT pg_advisory_xact_lock(1161973592, 0)"}
	}
	for _, stmt := range begin {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	committed := false
	defer func() {
		if !committed {
			rollbackCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			_, rerr := conn.ExecContext(rollbackCtx, "ROLLBACK")
			err = errors.Join(err, rerr)
		}
	}()
	for _, stmt := range []string{
		`CREATE TABLE IF NOT EXISTS eventbus_schema (id INTEGER PRIMARY KEY, version INTEGER NOT NULL)`,
		`INSERT INTO eventbus_schema (id, version) VALUES (1, 0) ON CONFLICT (id) DO NOTHING`,
	} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	var version int
	if err := conn.QueryRowContext(ctx, `SELECT version FROM eventbus_schema WHERE id = 1`).Scan(&version); err != nil {
		return err
	}
	if version > schemaVersion {
		return fmt.Errorf("the database has schema version %d, this package knows up to %d: upgrade the package", version, schemaVersion)
	}
	for v := version; v < schemaVersion; v++ {
		if _, err := conn.ExecContext(ctx, migrations[d][v]); err != nil {
			return fmt.Errorf("to version %d: %w", v+1, err)
		}
	}
	if _, err := conn.ExecContext(ctx, `UPDATE eventbus_schema SET version = $1 WHERE id = 1`, schemaVersion); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return err
	}
	committed = true
	return nil
}

// checkSchema returns ErrNoSchema unless Migrate brought db up to date.
func checkSchema(ctx context.Context, db *sql.DB) error {
	var version int
	if err := db.QueryRowContext(ctx, `SELECT version FROM eventbus_schema WHERE id = 1`).Scan(&version); err != nil {
		return fmt.Errorf("%w: %w", ErrNoSchema, err)
	}
	if version != schemaVersion {
		return fmt.Errorf("%w: the database has version %d, this package wants %d", ErrNoSchema, version, schemaVersion)
	}
	return nil
}
