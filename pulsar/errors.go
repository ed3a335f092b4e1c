package pulsar

import (
	"errors"
	"fmt"
	"strings"

	"github.com/apache/pulsar-client-go/pulsar"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// mapError wraps a pulsar-client-go error onto the driver's sentinel that
// means the same, so errors.Is works as on every backend.
func mapError(err error) error {
	var perr *pulsar.Error
	if errors.As(err, &perr) {
		switch perr.Result() {
		case pulsar.MessageTooBig:
			return fmt.Errorf("%w: %w", driver.ErrMessageTooLarge, err)
		case pulsar.TopicNotFound:
			return fmt.Errorf("%w: %w", driver.ErrTopicNotFound, err)
		case pulsar.InvalidTopicName:
			return fmt.Errorf("%w: %w", driver.ErrInvalidTopic, err)
		case pulsar.ProducerClosed, pulsar.ConsumerClosed:
			return fmt.Errorf("%w: %w", driver.ErrClosed, err)
		}
	}
	// A batch beyond the broker's limit fails in the client's framing,
	// with an error of its internal package.
	if strings.Contains(err.Error(), "exceeds MaxMessageSize") {
		return fmt.Errorf("%w: %w", driver.ErrMessageTooLarge, err)
	}
	return err
}

// frameHeadroom is what the broker's maxMessageSize leaves beyond the
// maxMessageBytes parameter for framing and metadata.
const frameHeadroom = 64 << 10

// brokerMaxMessageSize is the broker's maxMessageSize the maxMessageBytes
// parameter was chosen for.
func (c *config) brokerMaxMessageSize() int { return c.maxMessageBytes + frameHeadroom }

// wireSize bounds what pulsar-client-go counts against the broker's
// maxMessageSize for pm. With batching, the first message of a batch has
// its key and properties in the batch's metadata and again in its own, so
// they count twice (a message of four 1 MiB headers is 8 MiB to the
// client); each key and value carries a few bytes of protobuf framing.
func wireSize(pm *pulsar.ProducerMessage, batching bool) int {
	meta := len(pm.Key) + 8
	for k, v := range pm.Properties {
		meta += len(k) + len(v) + 12
	}
	if batching {
		meta *= 2
	}
	return len(pm.Payload) + meta + 512
}
