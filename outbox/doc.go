// Package outbox publishes events reliably from a service's own SQL
// database, and remembers handled messages there: a transactional outbox
// and a durable store for middleware.Dedup, over database/sql, on SQLite
// (modernc.org/sqlite, pure Go) and PostgreSQL (github.com/jackc/pgx/v5/stdlib).
//
// # The outbox
//
// Publishing after a database commit loses the event if the process dies in
// between; publishing before it announces what may roll back. With the
// outbox, the event is written in the same transaction as the business data,
// and a relay publishes it after the commit, at least once:
//
//	if err := outbox.Migrate(ctx, db); err != nil { ... } // at start-up
//
//	tx, err := db.BeginTx(ctx, nil)
//	_, err = tx.ExecContext(ctx, `INSERT INTO orders ...`)
//	_, err = outbox.PublishTopic(ctx, tx, orderCreated, order.ID, order) // or outbox.Publish(ctx, tx, topic, msgs...)
//	err = tx.Commit()
//
//	relay, err := outbox.NewRelay(db, b)
//	go relay.Run(ctx) // in every replica; one publishes at a time
//
// Guarantees: every committed message is published at least once; a message
// of a transaction that rolled back never is; the messages of one topic and
// key are published in the order their transactions committed (on
// PostgreSQL a transaction writing a key waits for the earlier writer of
// that key to end, see Publish; SQLite has one writer at a time anyway); a
// row is deleted (or, with RetainPublished, marked) only after Publish
// returned. A relay that dies between Publish and marking publishes again
// what it had in flight, at most one batch (BatchSize): consumers should
// be idempotent, which middleware.Dedup with a DedupStore makes them.
//
// # One relay at a time: a lease row
//
// Per-key order needs a single publisher, so relays do not share the work
// with SELECT ... FOR UPDATE SKIP LOCKED: two relays skipping each other's
// locked rows would publish one key's messages side by side, out of order.
// Instead the replicas' relays compete for one lease row
// (eventbus_outbox_lease); the holder publishes and renews it every third
// of the Lease; the others read it every PollInterval and take over once it
// is released (at shutdown) or has run out (after a crash). A lease row
// rather than a PostgreSQL advisory lock, because it works the same on
// SQLite, which has neither SKIP LOCKED nor advisory locks, does not hang on
// one connection staying up (a session lock vanishes with its connection,
// while its holder may still be publishing), and is visible in a table:
// SELECT * FROM eventbus_outbox_lease shows who publishes. The price: after
// a crash, publishing resumes only when the lease has run out (10 s by
// default), and replicas' clocks must agree to well within a tenth of the
// lease. The holder renews the lease in the background, also during a slow
// Publish, and cancels its Publish as soon as a renewal fails past the
// lease's end: a relay that lost the lease publishes nothing more.
//
// On SQLite the replicas are the processes sharing the database file on one
// host; the database's single writer lock serializes every write, and the
// lease row decides which process publishes. Open SQLite with SQLiteDSN.
//
// # Latency and lag
//
// On PostgreSQL with the pgx driver, a trigger sends NOTIFY at each commit
// that writes to the outbox, and the relay, listening, wakes at once; it
// also polls every DefaultListenPollInterval for notifications lost while
// reconnecting. Elsewhere it polls every PollInterval (DefaultPollInterval).
// A full batch is followed by the next at once. Relay.Stats reports what the
// relay published and failed and its lag (the age of the oldest unpublished
// row), for metrics and health checks; the relay logs lag with every batch
// (slog, debug level) and with every failure (warn level).
//
// A publish that fails is retried, with exponential backoff (Backoff), in
// the next batch; it holds back only the later messages of its own key. A
// message the bus refuses for good (too large, say) stays at the head of its
// key: the relay reports it on every attempt (Stats, logs, and the row's
// attempts and last_error columns) until someone deletes or fixes the row.
//
// # Schema
//
// Migrate creates the tables and upgrades them, recording the version in
// eventbus_schema; run it at start-up from every replica. The tables:
//
//	eventbus_outbox        one row per unpublished message:
//	  seq           BIGINT   the order of publication (on PostgreSQL drawn by a trigger after the key lock)
//	  topic         TEXT     the topic
//	  msg_key       TEXT     Message.Key, '' for none
//	  id            TEXT     Message.ID (a UUIDv7 when the caller left it empty)
//	  header        TEXT     Message.Header as a JSON object
//	  payload       BLOB / BYTEA  Message.Payload
//	  event_time    BIGINT   Message.Time in Unix nanoseconds
//	  created_at    BIGINT   when Publish wrote the row, Unix microseconds (for lag)
//	  attempts      INTEGER  failed publish attempts
//	  last_error    TEXT     the last failure
//	  published_at  BIGINT   Unix microseconds, set only with RetainPublished
//	eventbus_outbox_lease  the relay lease: name, owner, expires_at (Unix microseconds)
//	eventbus_dedup         DedupStore: dedup_key, owner, done (0 or 1), expires_at (Unix microseconds)
//
// # The dedup store
//
// DedupStore keeps middleware.Dedup's claims and done marks in the
// eventbus_dedup table: they survive restarts and are shared by every
// replica, where middleware.NewMemoryStore forgets on restart and is per
// process. A handler that writes to the same database can mark the message
// done in its own transaction with DedupStore.CommitTx, so its writes and
// the mark commit together: the message takes effect exactly once, however
// often it is delivered.
package outbox
