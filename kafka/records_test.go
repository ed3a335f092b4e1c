package kafka

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus/driver"
)

func TestNewRecordsSharesBuffersAndFormatsEachTime(t *testing.T) {
	t1 := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	t2 := t1.Add(time.Second)
	msgs := []driver.Message{
		{ID: "a", Key: "k1", Payload: []byte("p1"), Time: t1},
		{ID: "b", Payload: []byte("p2"), Time: t1, Header: map[string]string{"x": "y", driver.HeaderType: "t"}},
		{ID: "c", Key: "k3", Time: t2},
		{ID: "d", Time: t1.In(time.FixedZone("X", 3600))},
	}
	records := newRecords("topic", msgs)
	require.Len(t, records, len(msgs))
	for i, r := range records {
		m := msgs[i]
		require.Equal(t, "topic", *r.TopicPartition.Topic)
		require.Equal(t, i, *r.Opaque.(*int))
		require.Equal(t, m.Payload, r.Value)
		require.True(t, r.Timestamp.IsZero(), "the record timestamp is the produce time, set by librdkafka")
		if m.Key == "" {
			require.Nil(t, r.Key)
		} else {
			require.Equal(t, m.Key, string(r.Key))
		}
		want := map[string]string{}
		driver.EncodeHeaders(&m, func(k, v string) { want[k] = v })
		got := map[string]string{}
		for _, h := range r.Headers {
			got[h.Key] = string(h.Value)
		}
		require.Equal(t, want, got)
		require.Len(t, r.Headers, len(want))
	}
	require.Equal(t, "2026-01-02T04:04:05.000000006+01:00", string(records[3].Headers[2].Value))
}
