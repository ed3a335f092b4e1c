// Package backends runs an example's flow in tests on every backend: the
// in-memory bus always, Kafka and Pulsar when the test brokers are there
// (see internal/testbroker, which skips or, under CI=true, fails without
// them).
package backends

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/examples/internal/example"
	"github.com/eventbus-go/eventbus/internal/testbroker"
	"github.com/eventbus-go/eventbus/internal/testdb"
	"github.com/eventbus-go/eventbus/outbox"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for testdb
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", for testdb

	// The backends the tests run every example on, whatever drivers the
	// example's main imports. The kafka driver needs cgo.
	_ "github.com/eventbus-go/eventbus/kafka"
	_ "github.com/eventbus-go/eventbus/memory"
	_ "github.com/eventbus-go/eventbus/pulsar"
)

// Run opens url, runs flow on it and closes the bus, as an example's main
// does, giving in-flight handlers up to 30 seconds to finish even when ctx
// is done.
func Run[O any](ctx context.Context, url string, flow example.Flow[O], out io.Writer) (outcome O, err error) {
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

// Each runs an example's flow as a subtest per backend, named "memory",
// "kafka" and "pulsar", and hands check the outcome and the story printed.
// A flow that fails, or a bus that does not close cleanly, fails the test.
func Each[O any](t *testing.T, flow example.Flow[O], check func(t *testing.T, outcome O, story string)) {
	t.Helper()
	for _, backend := range []struct {
		name string
		url  func(t *testing.T) string
	}{
		{"memory", func(*testing.T) string { return "mem://" }},
		{"kafka", KafkaURL},
		{"pulsar", PulsarURL},
	} {
		t.Run(backend.name, func(t *testing.T) {
			url := backend.url(t)
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			var story bytes.Buffer
			outcome, err := Run(ctx, url, flow, &story)
			require.NoError(t, err, story.String())
			check(t, outcome, story.String())
		})
	}
}

// KafkaURL is the URL of the test Kafka broker. The examples' topics are
// new on every run, so the driver creates them, with a few partitions so
// that groups really spread the work.
func KafkaURL(t *testing.T) string {
	t.Helper()
	return "kafka://" + testbroker.Kafka(t) + "?create_topics=true&partitions=3"
}

// PulsarURL is the URL of the test Pulsar broker.
func PulsarURL(t *testing.T) string {
	t.Helper()
	return testbroker.Pulsar(t)
}

// EachDatabase runs Each on every kind of database the outbox supports
// (a subtest each, see internal/testdb), with a fresh, migrated database
// handed to flow.
func EachDatabase[O any](t *testing.T, flow func(db *sql.DB) example.Flow[O], check func(t *testing.T, outcome O, story string)) {
	t.Helper()
	testdb.Each(t, outbox.SQLiteDSN, func(t *testing.T, db testdb.DB) {
		require.NoError(t, outbox.Migrate(t.Context(), db.DB))
		Each(t, flow(db.DB), check)
	})
}

// NoSetup runs flow as `go run` does with nothing configured: in memory,
// with DATABASE_URL unset.
func NoSetup[O any](t *testing.T, flow example.Flow[O], check func(t *testing.T, outcome O, story string)) {
	t.Helper()
	t.Setenv("DATABASE_URL", "")
	var story bytes.Buffer
	outcome, err := Run(t.Context(), "mem://", flow, &story)
	require.NoError(t, err, story.String())
	check(t, outcome, story.String())
}
