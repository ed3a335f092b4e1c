package middleware_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/middleware"
	_ "github.com/eventbus-go/eventbus/memory"
)

// Dedup skips a message whose handler already succeeded: here a producer
// published the same event (the same ID) twice. A Store that outlives the
// process, such as outbox.DedupStore, remembers across restarts.
func ExampleDedup() {
	ctx := context.Background()
	b, err := bus.Open(ctx, "mem://")
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close(ctx)

	skipped := make(chan string)
	dedup, err := middleware.Dedup(middleware.NewMemoryStore(),
		middleware.DedupTTL(time.Hour),
		middleware.DedupOnDuplicate(func(ctx context.Context, m *bus.Message) { skipped <- m.ID }),
	)
	if err != nil {
		log.Fatal(err)
	}
	_, err = b.Subscribe(ctx, "emails", func(ctx context.Context, m *bus.Message) error {
		fmt.Printf("sending %s (%s)\n", m.Payload, m.ID)
		return nil
	}, bus.Group("mailer"), bus.Use(dedup))
	if err != nil {
		log.Fatal(err)
	}
	for range 2 {
		m := &bus.Message{ID: "email-1", Key: "ada@example.com", Payload: []byte("welcome mail")}
		if err := b.Publish(ctx, "emails", m); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("skipped", <-skipped)
	// Output:
	// sending welcome mail (email-1)
	// skipped email-1
}

// An invalid option fails Dedup at once, naming the option.
func ExampleDedup_invalidOption() {
	_, err := middleware.Dedup(middleware.NewMemoryStore(), middleware.DedupLease(0))
	fmt.Println(err)
	// Output: dedup: DedupLease: 0s is not positive
}
