// Command member is one consumer process of the fault suite (package
// integration/faults): it joins a group, handles messages with random failures
// and panics, and prints one line per successful handling on stdout:
//
//	<name> <payload> <attempt> <start unix nanos>
//
// The line is written before the handler returns, so a message whose line
// was printed was handled, whether or not its ack survived a SIGKILL. On
// SIGTERM it closes the bus gracefully and exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/eventbus-go/eventbus/bus"
	_ "github.com/eventbus-go/eventbus/kafka"
	_ "github.com/eventbus-go/eventbus/pulsar"
)

func main() {
	var (
		url         = flag.String("url", "", "the bus URL")
		topic       = flag.String("topic", "", "the topic")
		group       = flag.String("group", "", "the consumer group")
		name        = flag.String("name", "member", "this member's name in the output")
		failRate    = flag.Float64("fail", 0.05, "share of handler runs that return an error")
		panicRate   = flag.Float64("panic", 0.005, "share of handler runs that panic")
		work        = flag.Duration("work", time.Millisecond, "time each handler run takes")
		concurrency = flag.Int("concurrency", 8, "handlers running at once")
		closeWithin = flag.Duration("close-within", 15*time.Second, "the graceful shutdown's deadline")
	)
	flag.Parse()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := run(*url, *topic, *group, *name, *failRate, *panicRate, *work, *concurrency, *closeWithin, logger); err != nil {
		fmt.Fprintln(os.Stderr, "member:", err)
		os.Exit(1)
	}
}

func run(url, topic, group, name string, failRate, panicRate float64, work time.Duration, concurrency int,
	closeWithin time.Duration, logger *slog.Logger) error {
	terminate := make(chan os.Signal, 1)
	signal.Notify(terminate, syscall.SIGTERM)
	ctx := context.Background()
	b, err := bus.Open(ctx, url, bus.Logger(logger))
	if err != nil {
		return err
	}
	var out sync.Mutex
	handler := func(ctx context.Context, m *bus.Message) error {
		start := time.Now()
		time.Sleep(work) // the handler's own work
		switch r := rand.Float64(); {
		case r < panicRate:
			panic("simulated handler bug")
		case r < panicRate+failRate:
			return errors.New("simulated failure")
		}
		out.Lock()
		defer out.Unlock()
		_, err := fmt.Fprintf(os.Stdout, "%s %s %d %d\n", name, m.Payload, m.Attempt, start.UnixNano())
		return err
	}
	_, err = b.Subscribe(ctx, topic, handler, bus.Group(group), bus.Concurrency(concurrency),
		bus.Retry(bus.RetryPolicy{MaxAttempts: 3, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, HoldInterval: 100 * time.Millisecond, Multiplier: 2}))
	if err != nil {
		return err
	}
	<-terminate
	closeCtx, cancel := context.WithTimeout(ctx, closeWithin)
	defer cancel()
	return b.Close(closeCtx)
}
