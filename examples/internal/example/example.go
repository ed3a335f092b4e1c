// Package example holds what the flows of the example programs share: the
// shape of a flow, which their tests run on every backend (package
// backends), and run IDs. It opens no bus and imports no driver: each
// program's main opens its own bus and imports its own drivers.
package example

import (
	"context"
	"crypto/rand"
	"io"
	"strings"

	"github.com/eventbus-go/eventbus/bus"
)

// Flow is an example's story: it runs on b, narrates to out and returns
// what happened.
type Flow[O any] func(ctx context.Context, b *bus.Bus, out io.Writer) (O, error)

// RunID returns a short random name suffix. Examples put it in their topic
// and group names so that runs against a real broker, whose topics outlive
// the program, never see an earlier run's events.
func RunID() string { return strings.ToLower(rand.Text()[:6]) }
