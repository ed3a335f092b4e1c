package main

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/examples/internal/backends"
	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	backends.Each(t, func(t *testing.T, url string) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		var out bytes.Buffer
		outcome, err := run(ctx, url, &out)
		require.NoError(t, err, out.String())

		require.Equal(t, []string{"o-1001", "o-1002", "o-1004", "o-1005"}, outcome.Shipped, "every order but the broken one ships")
		require.Len(t, outcome.DeadLetters, 1)
		require.Equal(t, brokenOrder, outcome.DeadLetters[0].Key)
		require.Contains(t, outcome.DeadLetters[0].Reason, bus.ErrDecode.Error(), "the dead letter says why")
		require.Contains(t, out.String(), "4 orders shipped, 1 in the dead-letter topic")
	})
}
