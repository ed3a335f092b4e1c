package kafka_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/internal/testbroker"
)

// TestSecurityMismatchReal opens each listener of the real broker with the
// security settings of another: each fails at once, saying what is wrong,
// instead of a transport failure when the connect wait ends.
func TestSecurityMismatchReal(t *testing.T) {
	plain := testbroker.Kafka(t)
	sasl := testbroker.KafkaSASL(t)
	tlsAddr, ca := testbroker.KafkaTLS(t)
	logger := slog.New(slog.DiscardHandler)
	creds := testbroker.KafkaSASLUser + ":" + testbroker.KafkaSASLPassword + "@"
	for _, tc := range []struct{ name, url, want string }{
		{"NoCredentialsOnSASLPort", "kafka://" + sasl, sasl + " is a SASL listener (mechanisms PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) and the URL gives no credentials"},
		{"CredentialsOnPlainPort", "kafka://" + creds + plain, plain + " is not a SASL listener, yet the URL gives SASL credentials"},
		{"PlaintextToTLSPort", "kafka://" + tlsAddr, tlsAddr + " answered with a TLS alert: it is a TLS listener, so set tls=true"},
		{"TLSToPlainPort", "kafka://" + plain + "?tls_ca=" + url.QueryEscape(ca), plain + " closed the connection during the TLS handshake: it is a plaintext listener"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			start := time.Now()
			eb, err := bus.Open(ctx, tc.url, bus.Logger(logger))
			if eb != nil {
				_ = eb.Close(ctx)
			}
			require.Error(t, err)
			require.NoError(t, ctx.Err(), "Open failed only when its context ended: %v", err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), testbroker.KafkaSASLPassword)
			t.Logf("%s: failed after %v: %v", tc.name, time.Since(start).Round(time.Millisecond), err)
		})
	}
}

// TestUnreachableBrokerNamesTheAddress: nothing listens, so Open fails when
// its ctx ends, naming the address it could not reach.
func TestUnreachableBrokerNamesTheAddress(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	_, err = bus.Open(ctx, "kafka://"+addr, bus.Logger(slog.New(slog.DiscardHandler)))
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "dial tcp "+addr)
	assert.Less(t, time.Since(start), 3*time.Second, "Open returns within its ctx and a second")
}

func TestURLErrorsNameTheProblem(t *testing.T) {
	for _, tc := range []struct{ url, want string }{
		{"kafka://127.0.0.1:1?acks=all;idempotent=true", "malformed query: invalid semicolon separator"},
		{"kafka://127.0.0.1:1?client_id=%zz", `malformed query: invalid URL escape "%zz"`},
		{"kafka://127.0.0.1:1?tls_ca=/nonexistent/ca.pem", `parameter "tls_ca": cannot read file: open /nonexistent/ca.pem`},
		{"kafka://127.0.0.1:1?tls_cert=/nonexistent/c.pem&tls_key=/nonexistent/k.pem", `parameter "tls_cert": cannot read file: open /nonexistent/c.pem`},
		{"kafka://user@127.0.0.1:1", `SASL user "user" has no password`},
		{"kafka://127.0.0.1:1?sasl_username=user", `SASL user "user" has no password`},
	} {
		_, err := bus.Open(context.Background(), tc.url)
		require.True(t, errors.Is(err, bus.ErrInvalidURL), "%s: %v", tc.url, err)
		assert.ErrorContains(t, err, tc.want, tc.url)
	}
}
