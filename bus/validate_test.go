package bus_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/memory"
)

func TestPublishRejectsHeadersThatAreNotUTF8(t *testing.T) {
	b := memBus(t, newBroker(t, memory.Options{}))
	defer b.Close(t.Context())
	tests := []struct {
		name    string
		msg     *bus.Message
		mention string
	}{
		{"value", &bus.Message{Header: map[string]string{"ok": "fine", "tenant": "ac\xffme"}}, `header "tenant": value is not valid UTF-8`},
		{"name", &bus.Message{Header: map[string]string{"bad\xc3": "x"}}, `header name "bad\xc3" is not valid UTF-8`},
		{"ID", &bus.Message{ID: "\xed\xa0\x80"}, "the ID is not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := b.Publish(t.Context(), "topic", &bus.Message{Payload: []byte("first")}, tt.msg)
			require.Error(t, err)
			assert.ErrorIs(t, err, bus.ErrInvalidMessage)
			assert.Contains(t, err.Error(), tt.mention)
			assert.Contains(t, err.Error(), "message 1")
		})
	}
	require.NoError(t, b.Publish(t.Context(), "topic", &bus.Message{Header: map[string]string{"grüße": "日本語 ✓"}}))
}
