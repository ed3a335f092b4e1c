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

import (
	"cmp"
	"context"
	"errors"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/eventbus-go/eventbus/bus"

	// Drivers join by blank import; EVENTBUS_URL picks one. kafka needs cgo.
	_ "github.com/eventbus-go/eventbus/kafka"
	_ "github.com/eventbus-go/eventbus/memory"
	_ "github.com/eventbus-go/eventbus/pulsar"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()

	b, err := bus.Open(ctx, cmp.Or(os.Getenv("EVENTBUS_URL"), "mem://"))
	if err != nil {
		log.Fatal(err)
	}
	_, err = run(ctx, b, os.Stdout)
	// Close lets running handlers finish and flushes producers; it gets
	// time of its own even when ctx is done.
	closeCtx, cancelClose := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancelClose()
	if err := errors.Join(err, b.Close(closeCtx)); err != nil {
		log.Fatal(err)
	}
}
