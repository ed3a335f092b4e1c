// Command eventbus publishes, reads and inspects events on any eventbus
// backend, with the same URLs as bus.Open:
//
//	eventbus --url kafka://127.0.0.1:9092 publish orders '{"id":1}' --key order-1
//	eventbus tail orders --from-start
//	eventbus dlq list orders.billing.dlq
//	eventbus dlq replay orders.billing.dlq --error "timeout" --rate 50
//	eventbus topics create orders --partitions 6
//	eventbus lag orders --group billing
//
// The URL comes from --url or the EVENTBUS_URL environment variable. Install
// it with
//
//	go install github.com/eventbus-go/eventbus/cmd/eventbus@latest
//
// Exit codes: 0 success, 1 the operation failed, 2 the command line is wrong.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// run executes one command line and returns its exit code.
func run(ctx context.Context, args []string, stdin *os.File, stdout, stderr *os.File) int {
	cmd := newRootCommand(&app{stdin: stdin, stdout: stdout, stderr: stderr})
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	err := cmd.ExecuteContext(ctx)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, new(usageError)):
		fmt.Fprintf(stderr, "eventbus: %v\nRun 'eventbus --help' for usage.\n", err)
		return exitUsage
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		return exitOK // interrupted by the user, as tail is meant to be
	default:
		// The library's errors name their origin ("eventbus: ...",
		// "kafka: ...") already.
		fmt.Fprintln(stderr, err)
		return exitFail
	}
}

// usageError is a mistake on the command line.
type usageError struct{ error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }
