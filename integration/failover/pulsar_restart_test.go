package failover

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus"
	"github.com/eventbus-go/eventbus/internal/testbroker"
	_ "github.com/eventbus-go/eventbus/pulsar"
)

// TestPulsarRestartMidStream publishes a keyed stream and consumes it in a
// group while the Pulsar broker is killed with SIGKILL and started again:
// publisher and consumer go on by themselves, and every acknowledged
// message is handled, in per-key order.
//
// It restarts the broker every other test shares, so it runs only when
// asked, as `make test` does after all other tests: EVENTBUS_TEST_RESTART=1.
func TestPulsarRestartMidStream(t *testing.T) {
	testbroker.RequireRestartOptIn(t)
	serviceURL := testbroker.Pulsar(t)
	topic := fmt.Sprintf("failover-%d", time.Now().UnixNano())
	url := serviceURL + "?sendTimeout=20s"
	publisher, consumer := openBus(t, url), openBus(t, url)
	s := newStream(t, topic, 12)
	_, err := consumer.Subscribe(t.Context(), topic, s.handle, bus.Group("failover"), bus.Concurrency(4))
	require.NoError(t, err)
	go s.publish(publisher)
	s.waitAcked(600, time.Minute)

	faultAt := time.Now()
	testbroker.Restart(t, "pulsar")
	t.Logf("restarted Pulsar after %d messages, in %v", s.ackCount(), time.Since(faultAt).Round(time.Millisecond))
	s.waitAcked(600, 2*time.Minute)
	s.finish(2*time.Minute, faultAt)
}
