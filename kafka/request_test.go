package kafka_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/bus/bustest"
)

// A Kafka bus that does not create topics refuses a requester whose reply
// topic is missing at once, naming the remedy, rather than letting every
// reply fail later.
func TestRequesterNeedsItsReplyTopic(t *testing.T) {
	be, _ := mockBackend(t)
	b := be.open(t)
	missing := fmt.Sprintf("eventbus-replies-%d", time.Now().UnixNano())
	_, err := b.NewRequester(t.Context(), bus.ReplyTopic(missing))
	require.ErrorIs(t, err, bus.ErrTopicNotFound)
	require.ErrorContains(t, err, missing)
	require.ErrorContains(t, err, "create_topics=true")

	// With the topic in place the same requester starts.
	be.createTopic(t, missing, 1)
	r, err := b.NewRequester(t.Context(), bus.ReplyTopic(missing))
	require.NoError(t, err)
	require.NoError(t, r.Close(t.Context()))
}

// go test -run '^$' -bench RequestReply -benchtime 1000x ./kafka/
//
// Real broker only: the mock cluster answers fetches in about 100 ms
// steps, which would measure the mock. With the default linger (none) and
// with 5 ms, paid on both hops.
func BenchmarkRequestReply(b *testing.B) {
	be := realBackend(b)
	for _, linger := range []string{"default", "5ms"} {
		params := []string{"create_topics=true"}
		if linger != "default" {
			params = append(params, "linger="+linger)
		}
		b.Run("linger="+linger, func(b *testing.B) {
			bustest.BenchmarkRequestReply(b,
				func(tb testing.TB) *bus.Bus { return be.open(tb, params...) },
				func(tb testing.TB) string { return be.topic(tb, 4) })
		})
	}
}
