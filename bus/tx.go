package bus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// Transactional makes every Publish the handler makes with its ctx (or a
// context derived from it) part of the handler run: the messages are not
// sent when Publish returns, but committed together with the
// acknowledgement of the handled message, atomically. Consumers that read
// only committed data see the outputs of a message if and only if its
// acknowledgement committed, so a crash or a rebalance never duplicates
// them. A failed run's outputs are discarded, so retries publish afresh; a
// dead letter is committed with the acknowledgement the same way.
//
// Publish with any other context, or on another Bus, sends at once, as
// usual. A backend
// without transactions fails Subscribe with an error wrapping
// ErrUnsupported; see the backend's documentation for when exactly-once
// holds (on Kafka: input and outputs in the same cluster, consumers of the
// outputs with read_committed isolation).
func Transactional() SubscribeOption {
	return func(c *subscribeConfig) error {
		c.transactional = true
		return nil
	}
}

// errRunEnded reports a Publish through the context of a transactional
// handler run that has returned.
var errRunEnded = errors.New("the transactional handler run this context belongs to has ended")

// runOutputs collects what one transactional handler run publishes on its
// subscription's bus.
type runOutputs struct {
	bus     *Bus
	mu      sync.Mutex
	ended   bool
	outputs []driver.Output
}

type runOutputsKey struct{}

// withRunOutputs returns ctx with a fresh output buffer for one handler
// run on b.
func withRunOutputs(ctx context.Context, b *Bus) (context.Context, *runOutputs) {
	o := &runOutputs{bus: b}
	return context.WithValue(ctx, runOutputsKey{}, o), o
}

// runOutputsOf returns the buffer of the transactional handler run ctx
// belongs to, if it runs on b: a Publish on another bus sends at once.
func runOutputsOf(ctx context.Context, b *Bus) *runOutputs {
	if o, _ := ctx.Value(runOutputsKey{}).(*runOutputs); o != nil && o.bus == b {
		return o
	}
	return nil
}

// add buffers msgs, copied: the caller may reuse them once Publish returns,
// as it may after a Publish that sent.
func (o *runOutputs) add(topic string, msgs []driver.Message) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ended {
		return fmt.Errorf("eventbus: publish to %q: %w", topic, errRunEnded)
	}
	for _, m := range msgs {
		m.Payload = bytes.Clone(m.Payload)
		m.Header = maps.Clone(m.Header)
		o.outputs = append(o.outputs, driver.Output{Topic: topic, Message: m})
	}
	return nil
}

// end seals the buffer when the run returns and hands back its outputs.
func (o *runOutputs) end() []driver.Output {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.ended = true
	return o.outputs
}
