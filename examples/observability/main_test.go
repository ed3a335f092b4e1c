package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/examples/internal/backends"
	"github.com/eventbus-go/eventbus/internal/testbroker"
)

func TestObservability(t *testing.T) {
	for _, backend := range []struct {
		name, system string
		url          func(t *testing.T) string
	}{
		{"memory", "memory", func(*testing.T) string { return "mem://" }},
		{"kafka", "kafka", backends.KafkaURL},
		{"pulsar", "pulsar", func(t *testing.T) string {
			return backends.PulsarURL(t) + "?adminURL=" + testbroker.PulsarAdmin(t)
		}},
	} {
		t.Run(backend.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			var out bytes.Buffer
			require.NoError(t, run(ctx, backend.url(t), "127.0.0.1:0", false, &out), out.String())
			story := out.String()
			// Three requests, each one trace: two orders paid and shipped,
			// one dead-lettered.
			assert.Equal(t, 3, bytes.Count(out.Bytes(), []byte("\n  POST /orders [server]")), story)
			assert.Equal(t, 2, bytes.Count(out.Bytes(), []byte("          process payments-")), "shipping is four hops below the request:\n%s", story)
			assert.Contains(t, story, "eventbus.dead_letter=true", story)
			assert.Contains(t, story, `messaging_client_sent_messages_total{messaging_destination_name="orders-`, story)
			assert.Contains(t, story, `eventbus_dead_letters_total{messaging_consumer_group_name="payments"`, story)
			assert.Contains(t, story, `messaging_system="`+backend.system+`"`, story)
		})
	}
}
