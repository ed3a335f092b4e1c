// Command userevents publishes USER_REGISTERED events and consumes them in
// a consumer group: the Go version of the usual Node.js snippets
// (kafkajs producer.send and consumer.run, pulsar-client send and
// receive). It is whole on purpose, so you can copy it.
//
//	go run ./examples/userevents                                  # in memory
//	EVENTBUS_URL='kafka://127.0.0.1:9092?create_topics=true' go run ./examples/userevents
//	EVENTBUS_URL=pulsar://127.0.0.1:6650 go run ./examples/userevents
package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/codec"

	// Drivers join by blank import; the URL picks one. kafka needs cgo.
	_ "github.com/eventbus-go/eventbus/kafka"
	_ "github.com/eventbus-go/eventbus/memory"
	_ "github.com/eventbus-go/eventbus/pulsar"
)

// UserEvent is an event about a user, as JSON:
// {"type":"USER_REGISTERED","user_id":"u-1","email":"ada@example.com"}.
type UserEvent struct {
	Type   string `json:"type"`
	UserID string `json:"user_id"`
	Email  string `json:"email"`
}

var newUsers = []UserEvent{
	{Type: "USER_REGISTERED", UserID: "u-1", Email: "ada@example.com"},
	{Type: "USER_REGISTERED", UserID: "u-2", Email: "grace@example.com"},
	{Type: "USER_REGISTERED", UserID: "u-3", Email: "linus@example.com"},
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Like new Kafka({ brokers }) or new Pulsar.Client({ serviceUrl }).
	b, err := bus.Open(ctx, cmp.Or(os.Getenv("EVENTBUS_URL"), "mem://"))
	if err != nil {
		log.Fatal(err)
	}
	_, err = run(ctx, b, os.Stdout)
	// Close drains the consumer and flushes the producer.
	if err := errors.Join(err, b.Close(ctx)); err != nil {
		log.Fatal(err)
	}
}

// run publishes newUsers and returns the events the group consumed.
func run(ctx context.Context, b *bus.Bus, out io.Writer) ([]UserEvent, error) {
	ctx, stop := context.WithCancel(ctx)
	defer stop() // also ends the subscription

	// The run ID keeps each run's topic and group new on a real broker.
	runID := strings.ToLower(rand.Text()[:6])
	userEvents := bus.NewTopic("user-events."+runID, codec.JSON[UserEvent]{})

	// Produce, keyed by user ID: one user's events stay in order.
	for _, e := range newUsers {
		if err := userEvents.Publish(ctx, b, e.UserID, e); err != nil {
			return nil, err
		}
		fmt.Fprintf(out, "published %s %s\n", e.Type, e.UserID)
	}

	// Consume in a group; a new group starts at the earliest event.
	consumed := make(chan UserEvent)
	_, err := userEvents.Subscribe(ctx, b, func(_ context.Context, m *bus.Message, e UserEvent) error {
		if e.Type != "USER_REGISTERED" {
			return nil // not ours: acknowledge and move on
		}
		select {
		case consumed <- e:
			return nil // nil acknowledges; an error retries
		case <-ctx.Done():
			return ctx.Err()
		}
	}, bus.Group("welcome-mailer."+runID))
	if err != nil {
		return nil, err
	}

	var got []UserEvent
	for len(got) < len(newUsers) {
		select {
		case e := <-consumed:
			fmt.Fprintf(out, "consumed  %s %s <%s>\n", e.Type, e.UserID, e.Email)
			got = append(got, e)
		case <-ctx.Done():
			return got, fmt.Errorf("consumed %d of %d events: %w", len(got), len(newUsers), ctx.Err())
		}
	}
	return got, nil
}
