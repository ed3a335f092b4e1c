// Command orders is an order pipeline of three services on one bus: the
// order service saves each order and publishes OrderCreated, the payment
// service charges each order and publishes PaymentCompleted, and the
// shipping service ships the paid orders.
//
// The order service writes each order and its OrderCreated event in one
// database transaction, through the transactional outbox (package outbox),
// and a relay publishes the events that committed: an order is never saved
// without its event, nor an event sent for an order that rolled back (one
// order fails a check after it was written, and nothing is published for
// it). One order leaves the order service with a broken payload; the
// payment service cannot read it, so it ends in the dead-letter topic with
// the reason, while the other orders complete.
//
// The orders live in a new SQLite file in a temporary directory, or in the
// database DATABASE_URL names: an SQLite file path, or a postgres:// URL.
//
//	go run ./examples/orders                                   # in memory, SQLite
//	DATABASE_URL='postgres://user:pass@127.0.0.1:5432/shop' go run ./examples/orders
//	EVENTBUS_URL='kafka://127.0.0.1:9092?create_topics=true' go run ./examples/orders
//	EVENTBUS_URL=pulsar://127.0.0.1:6650 go run ./examples/orders
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
