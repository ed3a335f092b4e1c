package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/codec"
	"github.com/eventbus-go/eventbus/examples/internal/example"
	"github.com/eventbus-go/eventbus/examples/internal/exampledb"
	"github.com/eventbus-go/eventbus/examples/internal/story"
	"github.com/eventbus-go/eventbus/outbox"
)

// OrderCreated is published by the order service when a customer places an
// order. Its key is the order ID, so all events of one order are handled
// one at a time, in order.
type OrderCreated struct {
	OrderID     string `json:"order_id"`
	Customer    string `json:"customer"`
	AmountCents int64  `json:"amount_cents"`
}

// PaymentCompleted is published by the payment service once an order is
// paid, keyed by order ID.
type PaymentCompleted struct {
	OrderID     string `json:"order_id"`
	PaymentID   string `json:"payment_id"`
	AmountCents int64  `json:"amount_cents"`
}

// Outcome is how a run ended.
type Outcome struct {
	// Shipped lists the orders the shipping service shipped, sorted.
	Shipped []string
	// DeadLetters lists the orders the payment service gave up on.
	DeadLetters []DeadLetter
}

// DeadLetter is a message found in the dead-letter topic.
type DeadLetter struct {
	Key    string // the order ID
	Reason string // the eventbus-dlq-error header
}

// The orders the order service places; brokenOrder's payload gets mangled,
// and rejectedOrder fails a check after it was written, so its transaction
// rolls back.
var orders = []OrderCreated{
	{OrderID: "o-1001", Customer: "alice", AmountCents: 4200},
	{OrderID: "o-1002", Customer: "bob", AmountCents: 1999},
	{OrderID: "o-1003", Customer: "carol", AmountCents: 9900},
	{OrderID: "o-1004", Customer: "dave", AmountCents: 550},
	{OrderID: "o-1006", Customer: "mallory", AmountCents: -100},
	{OrderID: "o-1005", Customer: "erin", AmountCents: 12000},
}

const (
	brokenOrder   = "o-1003"
	rejectedOrder = "o-1006"
)

// errRejected reports an order that failed the order service's checks.
var errRejected = errors.New("order rejected")

// placeOrder saves o and writes its OrderCreated event to the outbox, in one
// transaction.
func placeOrder(ctx context.Context, db *sql.DB, runID string, orderCreated bus.Topic[OrderCreated], o OrderCreated, tell *story.Teller) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if _, err := tx.ExecContext(ctx, `INSERT INTO example_orders (run_id, id, customer, amount_cents) VALUES ($1, $2, $3, $4)`,
		runID, o.OrderID, o.Customer, o.AmountCents); err != nil {
		return err
	}
	m, err := orderCreated.Message(o.OrderID, o)
	if err != nil {
		return err
	}
	if o.OrderID == brokenOrder {
		m.Payload = m.Payload[:len(m.Payload)/2] // a bug truncates this payload
	}
	if err := outbox.Publish(ctx, tx, orderCreated.Name(), m); err != nil {
		return err
	}
	if o.AmountCents <= 0 {
		tell.Say("orders", "rejected order %s for %s: amount %s; rolled back, nothing published", o.OrderID, o.Customer, dollars(o.AmountCents))
		return errRejected // the deferred Rollback drops the order and its event
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	if o.OrderID == brokenOrder {
		tell.Say("orders", "placed order %s for %s, but its payload went out broken", o.OrderID, o.Customer)
	} else {
		tell.Say("orders", "placed order %s for %s, %s", o.OrderID, o.Customer, dollars(o.AmountCents))
	}
	return nil
}

// run places the orders, saving them in the database DATABASE_URL names
// (a new SQLite file when unset), and returns once every readable order is
// shipped and the broken one is in the dead-letter topic, or ctx is done.
var run = exampledb.Flow(runOn)

// runOn is run on the database db.
func runOn(db *sql.DB) example.Flow[Outcome] {
	return func(ctx context.Context, b *bus.Bus, out io.Writer) (Outcome, error) {
		return runFlow(ctx, db, b, out)
	}
}

func runFlow(ctx context.Context, db *sql.DB, b *bus.Bus, out io.Writer) (_ Outcome, err error) {
	runID := example.RunID()
	var (
		orderCreated     = bus.NewTopic("orders.created."+runID, codec.JSON[OrderCreated]{})
		paymentCompleted = bus.NewTopic("payments.completed."+runID, codec.JSON[PaymentCompleted]{})
		paymentsGroup    = "payments." + runID
	)
	tell := story.New(out)

	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS example_orders (
	run_id TEXT NOT NULL, id TEXT NOT NULL, customer TEXT NOT NULL, amount_cents BIGINT NOT NULL,
	PRIMARY KEY (run_id, id))`); err != nil {
		return Outcome{}, fmt.Errorf("create the orders table: %w", err)
	}

	// The shipping service ships every paid order.
	shipping := newTracker(len(orders) - 2)
	_, err = paymentCompleted.Subscribe(ctx, b, func(ctx context.Context, m *bus.Message, p PaymentCompleted) error {
		tell.Say("shipping", "order %s is paid (%s): parcel handed to the carrier", p.OrderID, p.PaymentID)
		shipping.add(p.OrderID, "")
		return nil
	}, bus.Group("shipping."+runID))
	if err != nil {
		return Outcome{}, fmt.Errorf("start shipping service: %w", err)
	}

	// The payment service charges each order and reports the payment. An
	// order it cannot read fails permanently, without retries, and goes to
	// the dead-letter topic "<topic>.<group>.dlq".
	_, err = orderCreated.Subscribe(ctx, b, func(ctx context.Context, m *bus.Message, o OrderCreated) error {
		paymentID := "pay-" + strings.TrimPrefix(o.OrderID, "o-")
		tell.Say("payments", "charged %s to %s for order %s", dollars(o.AmountCents), o.Customer, o.OrderID)
		return paymentCompleted.Publish(ctx, b, o.OrderID, PaymentCompleted{OrderID: o.OrderID, PaymentID: paymentID, AmountCents: o.AmountCents})
	}, bus.Group(paymentsGroup), bus.Concurrency(4), bus.DeadLetter())
	if err != nil {
		return Outcome{}, fmt.Errorf("start payment service: %w", err)
	}

	// Operations watch the payment service's dead-letter topic.
	deadLetters := newTracker(1)
	_, err = b.Subscribe(ctx, bus.DefaultDeadLetterTopic(orderCreated.Name(), paymentsGroup), func(ctx context.Context, m *bus.Message) error {
		reason := m.Header[bus.HeaderDeadLetterError]
		tell.Say("ops", "order %s is in the dead-letter topic: %s", m.Key, reason)
		deadLetters.add(m.Key, reason)
		return nil
	}, bus.Group("ops."+runID))
	if err != nil {
		return Outcome{}, fmt.Errorf("start dead-letter watch: %w", err)
	}

	// The order service saves each order and its OrderCreated event in one
	// transaction (the transactional outbox), so the event goes out if and
	// only if the order is saved; the relay publishes what committed.
	relay, err := outbox.NewRelay(db, b)
	if err != nil {
		return Outcome{}, err
	}
	relayCtx, stopRelay := context.WithCancel(ctx)
	relayDone := make(chan error, 1)
	go func() { relayDone <- relay.Run(relayCtx) }()
	defer func() {
		stopRelay()
		err = errors.Join(err, <-relayDone)
	}()
	for _, o := range orders {
		if err := placeOrder(ctx, db, runID, orderCreated, o, tell); err != nil && !errors.Is(err, errRejected) {
			return Outcome{}, fmt.Errorf("place order %s: %w", o.OrderID, err)
		}
	}

	if err := shipping.wait(ctx); err != nil {
		return Outcome{}, fmt.Errorf("wait for the orders to ship: %w", err)
	}
	if err := deadLetters.wait(ctx); err != nil {
		return Outcome{}, fmt.Errorf("wait for the broken order's dead letter: %w", err)
	}
	outcome := Outcome{Shipped: slices.Sorted(maps.Keys(shipping.seen()))}
	for key, reason := range deadLetters.seen() {
		outcome.DeadLetters = append(outcome.DeadLetters, DeadLetter{Key: key, Reason: reason})
	}
	tell.Say("done", "%d orders shipped, %d in the dead-letter topic", len(outcome.Shipped), len(outcome.DeadLetters))
	return outcome, nil
}

// tracker collects what a service handled, by key, and tells when it has
// seen as many keys as expected. A redelivered message counts once.
type tracker struct {
	mu     sync.Mutex
	values map[string]string
	want   int
	done   chan struct{}
}

func newTracker(want int) *tracker {
	return &tracker{values: make(map[string]string), want: want, done: make(chan struct{})}
}

func (t *tracker) add(key, value string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, seen := t.values[key]; seen {
		return
	}
	t.values[key] = value
	if len(t.values) == t.want {
		close(t.done)
	}
}

func (t *tracker) wait(ctx context.Context) error {
	select {
	case <-t.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("saw %d of %d: %w", len(t.seen()), t.want, ctx.Err())
	}
}

// seen returns a copy of what was added, by key.
func (t *tracker) seen() map[string]string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return maps.Clone(t.values)
}

func dollars(cents int64) string { return fmt.Sprintf("$%d.%02d", cents/100, cents%100) }
