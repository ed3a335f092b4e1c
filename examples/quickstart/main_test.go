package main

import (
	"testing"

	"github.com/eventbus-go/eventbus/examples/internal/backends"
	"github.com/stretchr/testify/assert"
)

func TestRun(t *testing.T) {
	backends.Each(t, run, func(t *testing.T, o Outcome, story string) {
		assert.ElementsMatch(t, []string{"Ada", "Grace", "Linus", "Flaky"}, o.Greeted, story)
		assert.Equal(t, []string{"Flaky"}, o.Retried, story)
		assert.Equal(t, map[string]string{`{"name":"Poison"}`: "cannot greet Poison: no such person"}, o.DeadLetters, story)
	})
}
