package bus_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"sync/atomic"
	"time"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/codec"
)

// A Requester sends a request and waits for the reply that Reply sends
// back, matched by correlation ID.
func ExampleBus_NewRequester() {
	ctx := context.Background()
	b, err := bus.Open(ctx, "mem://")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close(ctx)

	_, err = b.Subscribe(ctx, "greet", func(ctx context.Context, m *bus.Message) error {
		return bus.Reply(ctx, b, m, &bus.Message{Payload: append([]byte("hello, "), m.Payload...)})
	}, bus.Group("greeter"))
	if err != nil {
		log.Fatal(err)
	}
	requester, err := b.NewRequester(ctx, bus.ReplyTimeout(10*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer requester.Close(ctx)
	reply, err := requester.Request(ctx, "greet", &bus.Message{Payload: []byte("Ada")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(reply.Payload))
	// Output: hello, Ada
}

// Quote is the reply of the typed request/reply example.
type Quote struct {
	OrderID string `json:"order_id"`
	Cents   int64  `json:"cents"`
}

// A RequestTopic types both sides: Serve answers decoded requests, Request
// returns the decoded reply.
func ExampleRequestTopic() {
	ctx := context.Background()
	b, err := bus.Open(ctx, "mem://")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close(ctx)

	quotes := bus.NewRequestTopic(bus.NewTopic("quote.requests", codec.JSON[OrderCreated]{}), codec.JSON[Quote]{})
	_, err = quotes.Serve(ctx, b, func(ctx context.Context, m *bus.Message, o OrderCreated) (Quote, error) {
		return Quote{OrderID: o.ID, Cents: o.Cents + 500}, nil // shipping included
	}, bus.Group("pricing"))
	if err != nil {
		log.Fatal(err)
	}
	requester, err := b.NewRequester(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer requester.Close(ctx)
	quote, _, err := quotes.Request(ctx, requester, "o-1", OrderCreated{ID: "o-1", Cents: 4200})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%+v\n", quote)
	// Output: {OrderID:o-1 Cents:4700}
}

// In a Transactional subscription, what the handler publishes with its
// ctx commits together with the acknowledgement of its message: a run
// that fails publishes nothing, so the retry that succeeds publishes the
// payment once.
func ExampleTransactional() {
	ctx := context.Background()
	b, err := bus.Open(ctx, "mem://")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close(ctx)

	var runs atomic.Int32
	_, err = b.Subscribe(ctx, "orders", func(ctx context.Context, m *bus.Message) error {
		payment := &bus.Message{Key: m.Key, Payload: []byte("paid " + m.Key)}
		if err := b.Publish(ctx, "payments", payment); err != nil { // buffered until the ack
			return err
		}
		if runs.Add(1) == 1 {
			return errors.New("ledger timeout") // the payment above is discarded
		}
		return nil
	}, bus.Group("billing"), bus.Transactional(),
		bus.Retry(bus.RetryPolicy{MaxAttempts: 3, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 10 * time.Millisecond}))
	if err != nil {
		log.Fatal(err)
	}
	payments := make(chan string, 2)
	_, err = b.Subscribe(ctx, "payments", func(ctx context.Context, m *bus.Message) error {
		payments <- string(m.Payload)
		return nil
	}, bus.Group("shipping"))
	if err != nil {
		log.Fatal(err)
	}
	if err := b.Publish(ctx, "orders", &bus.Message{Key: "o-1"}); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-payments)
	if err := b.Close(ctx); err != nil { // waits for both subscriptions
		log.Fatal(err)
	}
	fmt.Println("handler runs:", runs.Load(), "payments:", 1+len(payments))
	// Output:
	// paid o-1
	// handler runs: 2 payments: 1
}

// A message with a DeliverAt reaches no handler before then.
func ExampleMessage_deliverAt() {
	ctx := context.Background()
	b, err := bus.Open(ctx, "mem://")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close(ctx)

	due := time.Now().Add(100 * time.Millisecond)
	handled := make(chan time.Time)
	_, err = b.Subscribe(ctx, "reminders", func(ctx context.Context, m *bus.Message) error {
		handled <- time.Now()
		return nil
	}, bus.Group("reminder"))
	if err != nil {
		log.Fatal(err)
	}
	if err := b.Publish(ctx, "reminders", &bus.Message{Payload: []byte("pay the invoice"), DeliverAt: due}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("handled before it was due:", (<-handled).Before(due))
	// Output: handled before it was due: false
}

// RetryStages parks a failing message in delayed retry stage topics
// instead of holding back its key: it runs again after each stage's delay,
// and goes to the dead-letter topic after the last one.
func ExampleRetryStages() {
	ctx := context.Background()
	b, err := bus.Open(ctx, "mem://")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close(ctx)

	done := make(chan struct{})
	_, err = b.Subscribe(ctx, "webhooks", func(ctx context.Context, m *bus.Message) error {
		stage := m.Header[bus.HeaderRetryStage]
		fmt.Printf("run in stage %q\n", stage)
		if stage != "2" {
			return errors.New("endpoint down")
		}
		close(done)
		return nil
	},
		bus.Group("notifier"),
		bus.Retry(bus.RetryPolicy{MaxAttempts: 1}), // no retries in place
		bus.RetryStages(20*time.Millisecond, 50*time.Millisecond),
		bus.DeadLetter(),
	)
	if err != nil {
		log.Fatal(err)
	}
	if err := b.Publish(ctx, "webhooks", &bus.Message{Key: "hook-1"}); err != nil {
		log.Fatal(err)
	}
	<-done
	fmt.Println("stage topics:", bus.RetryStageTopic("webhooks", "notifier", 1), bus.RetryStageTopic("webhooks", "notifier", 2))
	// Output:
	// run in stage ""
	// run in stage "1"
	// run in stage "2"
	// stage topics: webhooks.notifier.retry.1 webhooks.notifier.retry.2
}

// DeadLetters lists a dead-letter topic without consuming it;
// ReplayDeadLetters publishes the letters back to their original topic,
// once each, also when a replay is interrupted and run again.
func ExampleBus_ReplayDeadLetters() {
	ctx := context.Background()
	b, err := bus.Open(ctx, "mem://")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close(ctx)

	var fixed atomic.Bool // the bug is fixed before the replay
	replayed := make(chan string)
	_, err = b.Subscribe(ctx, "invoices", func(ctx context.Context, m *bus.Message) error {
		if !fixed.Load() {
			return bus.Permanent(errors.New("unknown currency"))
		}
		replayed <- m.Key
		return nil
	}, bus.Group("billing"), bus.DeadLetter())
	if err != nil {
		log.Fatal(err)
	}
	deadLetterTopic := bus.DefaultDeadLetterTopic("invoices", "billing")
	landed := make(chan struct{})
	_, err = b.Subscribe(ctx, deadLetterTopic, func(ctx context.Context, m *bus.Message) error {
		close(landed)
		return nil
	}, bus.Group("alerts"))
	if err != nil {
		log.Fatal(err)
	}
	if err := b.Publish(ctx, "invoices", &bus.Message{Key: "inv-7", Payload: []byte("12 XYZ")}); err != nil {
		log.Fatal(err)
	}
	<-landed

	letters, err := b.DeadLetters(ctx, deadLetterTopic, bus.DeadLetterFilter{ErrorContains: "currency"}, 0)
	if err != nil {
		log.Fatal(err)
	}
	for _, l := range letters {
		fmt.Printf("%s from %s: %s\n", l.Key, l.OriginalTopic, l.Error)
	}
	fixed.Store(true)
	report, err := b.ReplayDeadLetters(ctx, deadLetterTopic, bus.ReplayOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("replayed", report.Replayed, "handled", <-replayed)
	again, err := b.ReplayDeadLetters(ctx, deadLetterTopic, bus.ReplayOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("replayed again", again.Replayed, "already replayed", again.AlreadyReplayed)
	// Output:
	// inv-7 from invoices: unknown currency
	// replayed 1 handled inv-7
	// replayed again 0 already replayed 1
}

// Health answers readiness and liveness probes; HealthHandler serves it
// over HTTP.
func ExampleBus_Health() {
	ctx := context.Background()
	b, err := bus.Open(ctx, "mem://")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close(ctx)

	_, err = b.Subscribe(ctx, "orders", func(ctx context.Context, m *bus.Message) error { return nil }, bus.Group("billing"))
	if err != nil {
		log.Fatal(err)
	}
	checkCtx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	report := b.Health(checkCtx)
	fmt.Println(report.Healthy, report.Backend)
	for _, s := range report.Subscriptions {
		fmt.Println(s.Topic, s.Group, s.Healthy, s.LagMessages)
	}
	if err := b.Close(ctx); err != nil {
		log.Fatal(err)
	}
	report = b.Health(checkCtx)
	fmt.Println(report.Healthy, strings.Contains(report.Error, "closed"))
	// Output:
	// true mem://
	// orders billing true 0
	// false true
}
