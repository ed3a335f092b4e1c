package main

import (
	"testing"

	"github.com/eventbus-go/eventbus/examples/internal/backends"
	"github.com/stretchr/testify/require"
)

func TestRun(t *testing.T) {
	backends.Each(t, run, func(t *testing.T, consumed []UserEvent, story string) {
		require.ElementsMatch(t, newUsers, consumed, "every user event consumed once\n%s", story)
	})
}
