package bus

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestDeadLetterIsAlwaysACloudEvent(t *testing.T) {
	first := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	last := first.Add(time.Second)
	m := &Message{Key: "k", Payload: []byte("p"), Topic: "t", Attempt: 1}
	letter := deadLetterMessage(m, "g", errors.New("boom"), first, last)
	assert.NotEmpty(t, letter.ID, "a message that arrived without an ID gets one")
	assert.True(t, last.Equal(letter.Time), "a message that arrived without a time gets the failure's")
	assert.Equal(t, "boom", letter.Header[HeaderDeadLetterError])

	m.ID, m.Time = "orders/0/7", first.Add(-time.Hour)
	letter = deadLetterMessage(m, "g", errors.New("boom"), first, last)
	assert.Equal(t, "orders/0/7", letter.ID)
	assert.True(t, m.Time.Equal(letter.Time))
	assert.Equal(t, []byte("p"), letter.Payload)
	assert.Equal(t, "k", letter.Key)
}
