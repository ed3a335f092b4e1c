// Command quickstart is eventbus in one page: publish events, handle them in
// a consumer group with concurrency, see a failed handler retried and a
// poison message land in the dead-letter topic with its reason.
//
// It is one file you can copy into a module of your own. It runs in memory
// with no setup and no cgo:
//
//	go run ./examples/quickstart
//	CGO_ENABLED=0 go run ./examples/quickstart
//
// The URL picks the backend (-url, or EVENTBUS_URL); a backend's driver
// joins by blank import. This file imports only the memory driver; the
// build tags kafka and pulsar add those drivers (kafka.go, pulsar.go; Kafka
// needs cgo), as one import line would in your copy:
//
//	go run -tags kafka ./examples/quickstart -url 'kafka://127.0.0.1:9092?create_topics=true'
//	go run -tags pulsar ./examples/quickstart -url pulsar://127.0.0.1:6650
package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/codec"

	_ "github.com/eventbus-go/eventbus/memory" // mem://, the in-process bus
)

// Greeting is the event: someone to greet.
type Greeting struct {
	Name string `json:"name"`
}

// Outcome is what happened, for the test to check.
type Outcome struct {
	Greeted     []string          // names handled successfully
	Retried     []string          // names whose handler failed once and then succeeded
	DeadLetters map[string]string // dead-lettered payloads, with the reason
}

var names = []string{"Ada", "Grace", "Linus", "Flaky", "Poison"}

func main() {
	url := flag.String("url", cmp.Or(os.Getenv("EVENTBUS_URL"), "mem://"),
		"the bus: mem://, kafka://host:port?create_topics=true (-tags kafka), pulsar://host:port (-tags pulsar)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()

	b, err := bus.Open(ctx, *url)
	if err != nil {
		log.Fatal(err)
	}
	_, err = run(ctx, b, os.Stdout)
	// Close lets running handlers finish, commits, and flushes producers;
	// it gets time of its own even when ctx is done.
	closeCtx, cancelClose := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancelClose()
	if err := errors.Join(err, b.Close(closeCtx)); err != nil {
		log.Fatal(err)
	}
}

// run publishes the greetings on b and handles them, telling out what
// happens.
func run(ctx context.Context, b *bus.Bus, out io.Writer) (Outcome, error) {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	// New names on every run: on Kafka and Pulsar topics outlive the
	// program, and a run must not see an earlier run's events.
	runID := strings.ToLower(rand.Text()[:6])
	greetings := bus.NewTopic("greetings."+runID, codec.JSON[Greeting]{})
	group := "greeter." + runID
	var outMu sync.Mutex // handlers run concurrently
	say := func(format string, args ...any) {
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(out, format+"\n", args...)
	}
	say("bus %s, topic %s, group %s", b, greetings.Name(), group)

	var (
		mu      sync.Mutex
		outcome = Outcome{DeadLetters: map[string]string{}}
		failed  = map[string]bool{}
	)
	done := make(chan struct{}, len(names))
	handle := func(ctx context.Context, m *bus.Message, g Greeting) error {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case g.Name == "Poison":
			return bus.Permanent(errors.New("cannot greet Poison: no such person"))
		case g.Name == "Flaky" && !failed[g.Name]:
			failed[g.Name] = true
			say("%s failed on attempt %d, will be retried", g.Name, m.Attempt)
			return errors.New("greeting service briefly unavailable")
		}
		if failed[g.Name] {
			outcome.Retried = append(outcome.Retried, g.Name)
		}
		outcome.Greeted = append(outcome.Greeted, g.Name)
		say("hello, %s! (key %s, attempt %d)", g.Name, m.Key, m.Attempt)
		done <- struct{}{}
		return nil
	}
	_, err := greetings.Subscribe(ctx, b, handle,
		bus.Group(group),   // durable; a new group starts at the earliest event
		bus.Concurrency(4), // four handlers at once, one per key at a time
		bus.Retry(bus.RetryPolicy{MaxAttempts: 3, InitialBackoff: 50 * time.Millisecond, MaxBackoff: time.Second}),
		bus.DeadLetter(), // exhausted or permanent failures go to <topic>.<group>.dlq
	)
	if err != nil {
		return outcome, err
	}

	deadLetters := make(chan *bus.Message, 1)
	_, err = b.Subscribe(ctx, bus.DefaultDeadLetterTopic(greetings.Name(), group), func(_ context.Context, m *bus.Message) error {
		deadLetters <- m
		return nil
	}, bus.Group("dead-letter-reader."+runID))
	if err != nil {
		return outcome, err
	}

	for _, name := range names {
		if err := greetings.Publish(ctx, b, name, Greeting{Name: name}); err != nil {
			return outcome, err
		}
	}
	say("published %d greetings", len(names))

	for range len(names) - 1 {
		select {
		case <-done:
		case <-ctx.Done():
			return outcome, fmt.Errorf("waiting for greetings: %w", ctx.Err())
		}
	}
	select {
	case m := <-deadLetters:
		reason := m.Header[bus.HeaderDeadLetterError]
		say("dead letter: %s after %s attempt(s): %s", m.Payload, m.Header[bus.HeaderDeadLetterAttempts], reason)
		mu.Lock()
		outcome.DeadLetters[string(m.Payload)] = reason
		mu.Unlock()
	case <-ctx.Done():
		return outcome, fmt.Errorf("waiting for the dead letter: %w", ctx.Err())
	}
	mu.Lock()
	defer mu.Unlock()
	say("greeted %d, retried %d, dead-lettered %d; closing the bus drains handlers and flushes producers",
		len(outcome.Greeted), len(outcome.Retried), len(outcome.DeadLetters))
	return outcome, nil
}
