package bus_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"sync"
	"time"

	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/codec"
	_ "github.com/eventbus-go/eventbus/memory" // the mem:// driver
)

// Open picks the backend by the URL's scheme; its driver joins by blank
// import, like a database/sql driver. An unknown scheme or parameter is
// an error that names it.
func ExampleOpen() {
	ctx := context.Background()
	b, err := bus.Open(ctx, "mem://")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close(ctx)
	fmt.Println(b)

	_, err = bus.Open(ctx, "mem://?retension=5")
	fmt.Println(errors.Is(err, bus.ErrInvalidURL), err)
	// Output:
	// mem://
	// true eventbus: invalid URL: mem://: unknown parameter "retension" (known: max_message_bytes, retention)
}

// Publish returns once the backend holds the messages durably; it fills
// an empty ID and Time in place.
func ExampleBus_Publish() {
	ctx := context.Background()
	b, err := bus.Open(ctx, "mem://")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close(ctx)

	m := &bus.Message{Key: "order-1", Payload: []byte(`{"total":42}`),
		Header: map[string]string{"source-system": "web"}}
	if err := b.Publish(ctx, "orders", m); err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.ID != "", !m.Time.IsZero())
	// Output: true true
}

// A handler returns nil to acknowledge a message, or an error for the
// subscription's error policy.
func ExampleBus_Subscribe() {
	ctx := context.Background()
	b, err := bus.Open(ctx, "mem://")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close(ctx)

	done := make(chan struct{})
	_, err = b.Subscribe(ctx, "orders", func(ctx context.Context, m *bus.Message) error {
		fmt.Printf("%s on %s in group %s: %s\n", m.Key, m.Topic, m.Group, m.Payload)
		close(done)
		return nil
	}, bus.Group("billing"))
	if err != nil {
		log.Fatal(err)
	}
	if err := b.Publish(ctx, "orders", &bus.Message{Key: "order-1", Payload: []byte("created")}); err != nil {
		log.Fatal(err)
	}
	<-done
	// Output: order-1 on orders in group billing: created
}

// Every group gets every message; the members of one group share them.
func ExampleGroup() {
	ctx := context.Background()
	b, err := bus.Open(ctx, "mem://")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close(ctx)

	const orders = 10
	var (
		mu      sync.Mutex
		handled = map[string]int{}
		all     sync.WaitGroup
	)
	all.Add(3 * orders) // three groups, each gets every order
	count := func(group string) bus.Handler {
		return func(ctx context.Context, m *bus.Message) error {
			mu.Lock()
			handled[group]++
			mu.Unlock()
			all.Done()
			return nil
		}
	}
	// audit has two members, which split its orders between them.
	for _, group := range []string{"billing", "shipping", "audit", "audit"} {
		if _, err := b.Subscribe(ctx, "orders", count(group), bus.Group(group)); err != nil {
			log.Fatal(err)
		}
	}
	for i := range orders {
		m := &bus.Message{Key: fmt.Sprint("order-", i), Payload: []byte("created")}
		if err := b.Publish(ctx, "orders", m); err != nil {
			log.Fatal(err)
		}
	}
	all.Wait()
	fmt.Println(handled)
	// Output: map[audit:10 billing:10 shipping:10]
}

// With Concurrency(n), n handlers run at once; messages with the same Key
// still run one at a time, in publish order.
func ExampleConcurrency() {
	ctx := context.Background()
	b, err := bus.Open(ctx, "mem://")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close(ctx)

	var (
		mu    sync.Mutex
		order = map[string][]string{}
		all   sync.WaitGroup
	)
	all.Add(9)
	_, err = b.Subscribe(ctx, "accounts", func(ctx context.Context, m *bus.Message) error {
		mu.Lock()
		order[m.Key] = append(order[m.Key], string(m.Payload))
		mu.Unlock()
		all.Done()
		return nil
	}, bus.Group("ledger"), bus.Concurrency(8))
	if err != nil {
		log.Fatal(err)
	}
	for _, step := range []string{"open", "deposit", "close"} {
		for _, account := range []string{"alice", "bob", "carol"} {
			if err := b.Publish(ctx, "accounts", &bus.Message{Key: account, Payload: []byte(step)}); err != nil {
				log.Fatal(err)
			}
		}
	}
	all.Wait()
	for _, account := range []string{"alice", "bob", "carol"} {
		fmt.Println(account, order[account])
	}
	// Output:
	// alice [open deposit close]
	// bob [open deposit close]
	// carol [open deposit close]
}

// OrderCreated is the event of the typed-topic examples.
type OrderCreated struct {
	ID    string `json:"id"`
	Cents int64  `json:"cents"`
}

// A Topic[T] encodes and decodes with its codec; a handler gets the
// decoded value. A message that does not decode fails with ErrDecode,
// which is Permanent: it goes to the dead-letter topic without retries.
func ExampleTopic() {
	ctx := context.Background()
	b, err := bus.Open(ctx, "mem://")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close(ctx)

	orders := bus.NewTopic("orders", codec.JSON[OrderCreated]{}).WithEventType("com.example.order.created")
	done := make(chan struct{})
	_, err = orders.Subscribe(ctx, b, func(ctx context.Context, m *bus.Message, o OrderCreated) error {
		fmt.Printf("%s: %d cents, %s, %s\n", o.ID, o.Cents, m.Header["content-type"], m.Header["ce_type"])
		close(done)
		return nil
	}, bus.Group("billing"))
	if err != nil {
		log.Fatal(err)
	}
	if err := orders.Publish(ctx, b, "o-1", OrderCreated{ID: "o-1", Cents: 4200}); err != nil {
		log.Fatal(err)
	}
	<-done
	// Output: o-1: 4200 cents, application/json, com.example.order.created
}

// The Protobuf codec takes a generated message's pointer type.
func ExampleTopic_protobuf() {
	ctx := context.Background()
	b, err := bus.Open(ctx, "mem://")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close(ctx)

	names := bus.NewTopic("names", codec.Protobuf[*wrapperspb.StringValue]{})
	done := make(chan struct{})
	_, err = names.Subscribe(ctx, b, func(ctx context.Context, m *bus.Message, v *wrapperspb.StringValue) error {
		fmt.Println(v.GetValue(), m.Header["content-type"])
		close(done)
		return nil
	}, bus.Group("greeter"))
	if err != nil {
		log.Fatal(err)
	}
	if err := names.Publish(ctx, b, "", wrapperspb.String("Ada")); err != nil {
		log.Fatal(err)
	}
	<-done
	// Output: Ada application/protobuf
}

// Retry runs a failing handler again with backoff; once its attempts are
// used up, DeadLetter moves the message to the dead-letter topic with the
// failure in its headers, and acknowledges it only then.
func ExampleRetry() {
	ctx := context.Background()
	b, err := bus.Open(ctx, "mem://")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close(ctx)

	_, err = b.Subscribe(ctx, "payments", func(ctx context.Context, m *bus.Message) error {
		fmt.Println("attempt", m.Attempt)
		return errors.New("card service unavailable")
	},
		bus.Group("billing"),
		bus.Retry(bus.RetryPolicy{MaxAttempts: 3, InitialBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}),
		bus.DeadLetter(), // to "payments.billing.dlq"
	)
	if err != nil {
		log.Fatal(err)
	}
	deadLetters := make(chan *bus.Message)
	_, err = b.Subscribe(ctx, bus.DefaultDeadLetterTopic("payments", "billing"), func(ctx context.Context, m *bus.Message) error {
		deadLetters <- m
		return nil
	}, bus.Group("operations"))
	if err != nil {
		log.Fatal(err)
	}
	if err := b.Publish(ctx, "payments", &bus.Message{Key: "order-1", Payload: []byte("charge")}); err != nil {
		log.Fatal(err)
	}
	letter, _ := bus.ParseDeadLetter(<-deadLetters)
	fmt.Printf("dead letter %s from %s after %d attempts: %s\n", letter.Key, letter.OriginalTopic, letter.Attempts, letter.Error)
	// Output:
	// attempt 1
	// attempt 2
	// attempt 3
	// dead letter order-1 from payments after 3 attempts: card service unavailable
}

// Permanent marks a failure that retrying cannot fix: the message goes to
// the dead-letter topic at once. Without a dead-letter topic it would stay,
// running again every HoldInterval.
func ExamplePermanent() {
	ctx := context.Background()
	b, err := bus.Open(ctx, "mem://")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close(ctx)

	_, err = b.Subscribe(ctx, "signups", func(ctx context.Context, m *bus.Message) error {
		fmt.Println("attempt", m.Attempt)
		return bus.Permanent(fmt.Errorf("email %q is not valid", m.Payload))
	}, bus.Group("mailer"), bus.Retry(bus.DefaultRetryPolicy()), bus.DeadLetter())
	if err != nil {
		log.Fatal(err)
	}
	deadLetters := make(chan *bus.Message)
	_, err = b.Subscribe(ctx, bus.DefaultDeadLetterTopic("signups", "mailer"), func(ctx context.Context, m *bus.Message) error {
		deadLetters <- m
		return nil
	}, bus.Group("operations"))
	if err != nil {
		log.Fatal(err)
	}
	if err := b.Publish(ctx, "signups", &bus.Message{Payload: []byte("not-an-address")}); err != nil {
		log.Fatal(err)
	}
	letter, _ := bus.ParseDeadLetter(<-deadLetters)
	fmt.Println(letter.Permanent, letter.Error)
	// Output:
	// attempt 1
	// true email "not-an-address" is not valid
}
