package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/eventbus-go/eventbus/bus"
	_ "github.com/eventbus-go/eventbus/kafka"
	_ "github.com/eventbus-go/eventbus/memory"
	_ "github.com/eventbus-go/eventbus/pulsar"
)

// app is what every command shares: the streams and the global flags.
type app struct {
	stdin          *os.File
	stdout, stderr *os.File
	url            string
	connectTimeout time.Duration
	verbose        bool
}

func newRootCommand(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "eventbus",
		Short: "Publish, read and inspect events on Kafka, Pulsar or memory",
		Long: `eventbus publishes, reads and inspects events on any eventbus backend.

The backend is a URL, as for bus.Open: kafka://host:9092?..., pulsar://host:6650?...
It comes from --url or the EVENTBUS_URL environment variable.`,
		Example: `  export EVENTBUS_URL=kafka://127.0.0.1:9092
  eventbus publish orders '{"id":1}' --key order-1 --content-type application/json
  eventbus tail orders --from-start
  eventbus dlq list orders.billing.dlq --error timeout
  eventbus dlq replay orders.billing.dlq --rate 50
  eventbus topics create orders --partitions 6
  eventbus lag orders --group billing`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	flags := root.PersistentFlags()
	// Not the flag's default: help would print the URL, and it may hold a secret.
	flags.StringVar(&a.url, "url", "", "the backend URL (default $EVENTBUS_URL)")
	flags.DurationVar(&a.connectTimeout, "connect-timeout", 30*time.Second, "how long to wait for the backend")
	flags.BoolVarP(&a.verbose, "verbose", "v", false, "log what the client does")
	root.AddCommand(newPublishCommand(a), newTailCommand(a), newDLQCommand(a), newTopicsCommand(a), newLagCommand(a))
	return root
}

// open connects to the backend of --url.
func (a *app) open(ctx context.Context) (*bus.Bus, error) {
	if a.url == "" {
		a.url = os.Getenv("EVENTBUS_URL")
	}
	if a.url == "" {
		return nil, usagef("no backend URL: give --url or set EVENTBUS_URL")
	}
	// Failures come back as errors, which run prints; the client's own
	// log is for --verbose.
	logger := slog.New(slog.DiscardHandler)
	if a.verbose {
		logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithTimeout(ctx, a.connectTimeout)
	defer cancel()
	return bus.Open(ctx, a.url, bus.Logger(logger))
}

// withBus opens the bus, runs fn and closes the bus.
func (a *app) withBus(ctx context.Context, fn func(*bus.Bus) error) error {
	b, err := a.open(ctx)
	if err != nil {
		return err
	}
	err = fn(b)
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.connectTimeout)
	defer cancel()
	if cerr := b.Close(closeCtx); cerr != nil && err == nil {
		err = fmt.Errorf("close: %w", cerr)
	}
	return err
}

// exactArgs is cobra.ExactArgs as a usage error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %d argument(s), got %d", cmd.CommandPath(), n, len(args))
		}
		return nil
	}
}
