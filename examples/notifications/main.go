// Command notifications is a business system that has emails sent through
// a mail service, on one bus, by request/reply. The shop sends SendEmail
// requests (Protobuf) through a bus.Requester and waits for each answer;
// the mail service "sends" each one and replies with EmailSent (a
// bus.RequestTopic's Serve), which the requester matches to its request by
// correlation ID.
//
// The mail service is an idempotent consumer (middleware.Dedup) that
// remembers what it sent in a database (outbox.DedupStore), so the memory
// survives restarts and is shared by replicas. The run forces two
// redeliveries: the mail server turns one email away once (nothing is lost:
// it is sent on the redelivery), and the mail service dies after sending
// another, before acknowledging it, and starts again (nothing is sent
// twice: the restarted service finds the email in the database and skips
// the redelivery).
//
// The database is a new SQLite file in a temporary directory, or the one
// DATABASE_URL names: an SQLite file path, or a postgres:// URL.
//
//	go run ./examples/notifications                              # in memory, SQLite
//	EVENTBUS_URL='kafka://127.0.0.1:9092?create_topics=true' go run ./examples/notifications
//	EVENTBUS_URL=pulsar://127.0.0.1:6650 go run ./examples/notifications
package main

import "github.com/eventbus-go/eventbus/examples/internal/example"

func main() { example.Main(run) }
