// Command transform is the transactional service of the fault suite
// (package integration/faults): in one group it turns every message of an
// input topic into one output message (same key, payload "out/<payload>")
// with bus.Transactional, its name in the output's header "member", fails
// some handler runs after publishing, and prints one line per successful
// handler run on stdout:
//
//	<name> <payload> <start unix nanos>
//
// On SIGTERM it closes the bus gracefully and exits 0.
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
)

func main() {
	var (
		url         = flag.String("url", "", "the bus URL")
		in          = flag.String("in", "", "the input topic")
		out         = flag.String("out", "", "the output topic")
		group       = flag.String("group", "", "the consumer group")
		name        = flag.String("name", "transform", "this member's name in the output")
		failRate    = flag.Float64("fail", 0.05, "share of handler runs that fail after publishing")
		work        = flag.Duration("work", time.Millisecond, "time each handler run takes")
		concurrency = flag.Int("concurrency", 8, "handlers running at once")
	)
	flag.Parse()
	level := slog.LevelWarn
	if os.Getenv("EVENTBUS_TEST_DEBUG") != "" {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if err := run(*url, *in, *out, *group, *name, *failRate, *work, *concurrency, logger); err != nil {
		fmt.Fprintln(os.Stderr, "transform:", err)
		os.Exit(1)
	}
}

func run(url, in, out, group, name string, failRate float64, work time.Duration, concurrency int, logger *slog.Logger) error {
	terminate := make(chan os.Signal, 1)
	signal.Notify(terminate, syscall.SIGTERM)
	ctx := context.Background()
	b, err := bus.Open(ctx, url, bus.Logger(logger))
	if err != nil {
		return err
	}
	var stdout sync.Mutex
	handler := func(ctx context.Context, m *bus.Message) error {
		start := time.Now()
		output := &bus.Message{Key: m.Key, Payload: append([]byte("out/"), m.Payload...), Header: map[string]string{"member": name}}
		if err := b.Publish(ctx, out, output); err != nil {
			return err
		}
		time.Sleep(work) // the handler's own work
		if rand.Float64() < failRate {
			return errors.New("simulated failure after publishing")
		}
		stdout.Lock()
		defer stdout.Unlock()
		_, err := fmt.Fprintf(os.Stdout, "%s %s %d\n", name, m.Payload, start.UnixNano())
		return err
	}
	_, err = b.Subscribe(ctx, in, handler, bus.Group(group), bus.Concurrency(concurrency), bus.Transactional(),
		bus.Retry(bus.RetryPolicy{MaxAttempts: 5, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, HoldInterval: 100 * time.Millisecond, Multiplier: 2}))
	if err != nil {
		return err
	}
	<-terminate
	closeCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	return b.Close(closeCtx)
}
