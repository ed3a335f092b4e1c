package pulsar_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	pulsarlog "github.com/apache/pulsar-client-go/pulsar/log"
	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/internal/testbroker"
	"github.com/stretchr/testify/require"

	_ "github.com/eventbus-go/eventbus/pulsar"
)

// waitTimeout bounds every wait on the broker.
const waitTimeout = 30 * time.Second

// openBus opens a new connection to the test broker with extra URL
// parameters ("tenant=x&namespace=y") and closes it when the test ends.
func openBus(t testing.TB, params string) *bus.Bus {
	t.Helper()
	b := openUnmanagedBus(t, params)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		require.NoError(t, b.Close(ctx))
	})
	return b
}

// openUnmanagedBus is openBus for callers that close the bus themselves.
func openUnmanagedBus(t testing.TB, params string) *bus.Bus {
	t.Helper()
	return openBusWith(t, params)
}

// openBusWith is openUnmanagedBus with bus options.
func openBusWith(t testing.TB, params string, opts ...bus.OpenOption) *bus.Bus {
	t.Helper()
	// The test broker's admin API, which need not be on the default port.
	url := testbroker.Pulsar(t) + "?adminURL=" + testbroker.PulsarAdmin(t)
	if params != "" {
		url += "&" + params
	}
	b, err := bus.Open(context.Background(), url, append([]bus.OpenOption{bus.Logger(testLogger(t))}, opts...)...)
	require.NoError(t, err)
	return b
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9-]+`)

// newTopic returns a fresh topic name, unique per run.
func newTopic(t testing.TB) string {
	return strings.ToLower(unsafeChars.ReplaceAllString(t.Name(), "-")) + "-" + strings.ToLower(rand.Text()[:10])
}

// adminPut calls the Pulsar admin REST API and fails the test on any
// status but 2xx or 409 (already exists).
func adminPut(t testing.TB, path, contentType, body string) {
	t.Helper()
	adminCall(t, http.MethodPut, path, contentType, body)
}

// adminCall is adminPut with another method.
func adminCall(t testing.TB, method, path, contentType, body string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, testbroker.PulsarAdmin(t)+path, bytes.NewBufferString(body))
	require.NoError(t, err)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	require.Truef(t, resp.StatusCode/100 == 2 || resp.StatusCode == http.StatusConflict,
		"%s %s: %s: %s", method, path, resp.Status, out)
}

// receive waits for the next value on ch.
func receive[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		require.FailNow(t, fmt.Sprintf("timed out waiting for %s", what))
		panic("unreachable")
	}
}

func closeSub(t testing.TB, s *bus.Subscription) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	require.NoError(t, s.Close(ctx))
}

func quietPulsarLogger() pulsarlog.Logger {
	return pulsarlog.NewLoggerWithSlog(slog.New(slog.DiscardHandler))
}

// subscribeChan subscribes a handler that hands every message to the
// returned channel and succeeds; the subscription closes with the test.
func subscribeChan(t testing.TB, b *bus.Bus, topic string, opts ...bus.SubscribeOption) <-chan *bus.Message {
	t.Helper()
	got := make(chan *bus.Message, 16)
	sub, err := b.Subscribe(context.Background(), topic, func(_ context.Context, m *bus.Message) error {
		got <- m
		return nil
	}, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { closeSub(t, sub) })
	return got
}
