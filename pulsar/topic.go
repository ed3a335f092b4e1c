package pulsar

import (
	"fmt"
	"strings"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// fullTopicName maps a topic as users write it to Pulsar's full name: a
// bare name goes to persistent://<tenant>/<namespace>/<name>,
// "<tenant>/<namespace>/<name>" to persistent://, and a full
// "persistent://" or "non-persistent://" name stays as it is.
func fullTopicName(topic, tenant, namespace string) (string, error) {
	invalid := func(why string) error {
		return fmt.Errorf("%w: %q: %s", driver.ErrInvalidTopic, topic, why)
	}
	if topic == "" {
		return "", invalid("empty")
	}
	domain, rest, full := strings.Cut(topic, "://")
	if full {
		if domain != "persistent" && domain != "non-persistent" {
			return "", invalid("the domain must be persistent:// or non-persistent://")
		}
	} else {
		domain, rest = "persistent", topic
		if !strings.Contains(topic, "/") {
			rest = tenant + "/" + namespace + "/" + topic
		}
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 {
		return "", invalid("want a bare name, tenant/namespace/name or a full topic name")
	}
	for _, p := range parts {
		if p == "" {
			return "", invalid("empty tenant, namespace or name")
		}
	}
	return domain + "://" + rest, nil
}
