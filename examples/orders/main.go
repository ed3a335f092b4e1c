// Command orders is an order pipeline of three services on one bus: the
// order service publishes OrderCreated, the payment service charges each
// order and publishes PaymentCompleted, and the shipping service ships the
// paid orders. One order leaves the order service with a broken payload;
// the payment service cannot read it, so it ends in the dead-letter topic
// with the reason, while the other orders complete.
//
//	go run ./examples/orders                                    # in memory
//	EVENTBUS_URL=kafka://127.0.0.1:9092 go run ./examples/orders
//	EVENTBUS_URL=pulsar://127.0.0.1:6650 go run ./examples/orders
package main

import (
	"cmp"
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	// The backends this program can run on, chosen by EVENTBUS_URL.
	_ "github.com/eventbus-go/eventbus/memory"
	_ "github.com/eventbus-go/eventbus/pulsar"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	_, err := run(ctx, cmp.Or(os.Getenv("EVENTBUS_URL"), "mem://"), os.Stdout)
	cancel()
	stop()
	if err != nil {
		slog.Error("orders example failed", "err", err)
		os.Exit(1)
	}
}
