// Package example is what the example programs' main functions share:
// open the bus named by EVENTBUS_URL (mem:// when unset), run the example's
// flow, close the bus and exit.
package example

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/eventbus-go/eventbus/bus"

	// The backends the examples run on, chosen by EVENTBUS_URL. The kafka
	// driver needs cgo.
	_ "github.com/eventbus-go/eventbus/kafka"
	_ "github.com/eventbus-go/eventbus/memory"
	_ "github.com/eventbus-go/eventbus/pulsar"
)

// Flow is an example's story: it runs on b, narrates to out and returns
// what happened.
type Flow[O any] func(ctx context.Context, b *bus.Bus, out io.Writer) (O, error)

// Main runs flow on the bus EVENTBUS_URL names, for at most a minute or
// until SIGINT or SIGTERM, and exits with status 1 if it fails.
func Main[O any](flow Flow[O]) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	_, err := Run(ctx, cmp.Or(os.Getenv("EVENTBUS_URL"), "mem://"), flow, os.Stdout)
	cancel()
	stop()
	if err != nil {
		slog.Error("example failed", "err", err)
		os.Exit(1)
	}
}

// Run opens url, runs flow on it and closes the bus, giving in-flight
// handlers up to 30 seconds to finish even when ctx is done.
func Run[O any](ctx context.Context, url string, flow Flow[O], out io.Writer) (outcome O, err error) {
	b, err := bus.Open(ctx, url)
	if err != nil {
		return outcome, err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		err = errors.Join(err, b.Close(closeCtx))
	}()
	return flow(ctx, b, out)
}

// RunID returns a short random name suffix. Examples put it in their topic
// and group names so that runs against a real broker, whose topics outlive
// the program, never see an earlier run's events.
func RunID() string { return strings.ToLower(rand.Text()[:6]) }
