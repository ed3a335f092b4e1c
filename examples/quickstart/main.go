// Command quickstart is eventbus in one page: publish events, handle them in
// a consumer group with concurrency, see a failed handler retried and a
// poison message land in the dead-letter topic with its reason.
//
//	go run ./examples/quickstart                                 # in memory, no setup
//	EVENTBUS_URL='kafka://127.0.0.1:9092?create_topics=true' go run ./examples/quickstart
//	EVENTBUS_URL=pulsar://127.0.0.1:6650 go run ./examples/quickstart
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/codec"
	"github.com/eventbus-go/eventbus/examples/internal/example"
	"github.com/eventbus-go/eventbus/examples/internal/story"
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

func main() { example.Main(run) }

func run(ctx context.Context, b *bus.Bus, out io.Writer) (Outcome, error) {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	runID := example.RunID()
	greetings := bus.NewTopic("greetings."+runID, codec.JSON[Greeting]{})
	group := "greeter." + runID
	tell := story.New(out)
	tell.Say("quickstart", "bus %s, topic %s, group %s", b, greetings.Name(), group)

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
			tell.Say("handler", "%s failed on attempt %d, will be retried", g.Name, m.Attempt)
			return errors.New("greeting service briefly unavailable")
		}
		if failed[g.Name] {
			outcome.Retried = append(outcome.Retried, g.Name)
		}
		outcome.Greeted = append(outcome.Greeted, g.Name)
		tell.Say("handler", "hello, %s! (key %s, attempt %d)", g.Name, m.Key, m.Attempt)
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
	tell.Say("quickstart", "published %d greetings", len(names))

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
		tell.Say("dead letters", "%s after %s attempt(s): %s", m.Payload, m.Header[bus.HeaderDeadLetterAttempts], reason)
		mu.Lock()
		outcome.DeadLetters[string(m.Payload)] = reason
		mu.Unlock()
	case <-ctx.Done():
		return outcome, fmt.Errorf("waiting for the dead letter: %w", ctx.Err())
	}
	mu.Lock()
	defer mu.Unlock()
	tell.Say("quickstart", "greeted %d, retried %d, dead-lettered %d; closing the bus drains handlers and flushes producers",
		len(outcome.Greeted), len(outcome.Retried), len(outcome.DeadLetters))
	return outcome, nil
}
