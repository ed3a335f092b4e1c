package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// Message is what every contender publishes: a key and a payload.
type Message struct {
	Key     string
	Payload []byte
}

// A Client is one contender's library, connected to one backend. Each
// contender turns Message into its own record type, as its users would.
type Client interface {
	// Publish sends msgs to topic and returns once the backend has
	// acknowledged every one of them. It keeps no reference to msgs, which
	// the caller may reuse.
	Publish(ctx context.Context, topic string, msgs []Message) error
	// Subscribe consumes topic as a member of group (a new group starts
	// at the earliest message), calling handle for each message and
	// acknowledging it when handle returns. It returns once consuming has
	// started; the returned function stops it.
	Subscribe(ctx context.Context, topic, group string, handle func(payload []byte)) (stop func() error, err error)
	// Close releases the client.
	Close() error
}

// Contender is a library under measurement on one backend.
type Contender struct {
	// Backend is kafka, pulsar or memory.
	Backend string
	// Name names the library (and its configuration, where a library runs
	// twice).
	Name string
	// Settings says how the contender is configured, for the report's
	// list of what is not equal between contenders.
	Settings string
	open     func(ctx context.Context, cfg Config) (Client, error)
	// only limits the contender to these scenarios; empty means all of
	// its backend's.
	only []string
}

// ID is backend/name.
func (c Contender) ID() string { return c.Backend + "/" + c.Name }

// Runs reports whether the contender takes part in scenario.
func (c Contender) Runs(scenario string) bool {
	if len(c.only) == 0 {
		return true
	}
	for _, s := range c.only {
		if s == scenario {
			return true
		}
	}
	return false
}

// Contenders lists every contender, eventbus first on each backend.
func Contenders() []Contender {
	var all []Contender
	all = append(all, kafkaContenders()...)
	all = append(all, pulsarContenders()...)
	all = append(all, memoryContenders()...)
	return all
}

// FindContender returns the contender with the given ID.
func FindContender(id string) (Contender, error) {
	for _, c := range Contenders() {
		if c.ID() == id {
			return c, nil
		}
	}
	return Contender{}, fmt.Errorf("bench: unknown contender %q", id)
}

// Config holds the brokers' addresses and the size of every scenario.
type Config struct {
	// Kafka is the Kafka bootstrap address (host:port).
	Kafka string `json:"kafka,omitempty"`
	// Pulsar is the Pulsar service URL (pulsar://host:port).
	Pulsar string `json:"pulsar,omitempty"`
	// PulsarAdmin is Pulsar's admin REST URL (http://host:port).
	PulsarAdmin string `json:"pulsar_admin,omitempty"`
	// Duration is how long a publish scenario publishes.
	Duration time.Duration `json:"duration"`
	// Rate is the fixed rate of the latency scenario, messages per second.
	Rate int `json:"rate"`
	// LowRate and LowRateDuration are the rate and length of the
	// low-rate latency scenario.
	LowRate         int           `json:"low_rate"`
	LowRateDuration time.Duration `json:"low_rate_duration"`
	// ConsumeMessages is how many messages the consume scenario reads.
	ConsumeMessages int `json:"consume_messages"`
	// Publishers is the number of goroutines of the concurrent scenario.
	Publishers int `json:"publishers"`
	// Batch is the number of messages per Publish of the batch scenario.
	Batch int `json:"batch"`
	// Partitions is the number of partitions of every benchmark topic but
	// those of the subscriptions scenario.
	Partitions int `json:"partitions"`
	// PayloadBytes is the size of every payload.
	PayloadBytes int `json:"payload_bytes"`
	// Keys is the number of distinct keys messages cycle through.
	Keys int `json:"keys"`
	// Timeout bounds any one scenario run.
	Timeout time.Duration `json:"timeout"`
}

// DefaultConfig returns the default sizes, with the brokers' addresses
// from the EVENTBUS_TEST_* variables that scripts/brokers.sh env prints.
func DefaultConfig() Config {
	return Config{
		Kafka:           os.Getenv("EVENTBUS_TEST_KAFKA"),
		Pulsar:          os.Getenv("EVENTBUS_TEST_PULSAR"),
		PulsarAdmin:     os.Getenv("EVENTBUS_TEST_PULSAR_ADMIN"),
		Duration:        2 * time.Second,
		Rate:            2000,
		LowRate:         50,
		LowRateDuration: 4 * time.Second,
		ConsumeMessages: 300000,
		Publishers:      64,
		Batch:           1000,
		Partitions:      6,
		PayloadBytes:    256,
		Keys:            100,
		Timeout:         2 * time.Minute,
	}
}

// HasBackend reports whether cfg reaches backend.
func (cfg Config) HasBackend(backend string) bool {
	switch backend {
	case "kafka":
		return cfg.Kafka != ""
	case "pulsar":
		return cfg.Pulsar != "" && cfg.PulsarAdmin != ""
	}
	return true
}

// Validate reports the sizes that are not positive, by their names.
func (cfg Config) Validate() error {
	var errs []error
	for _, size := range []struct {
		name  string
		value int64
	}{
		{"duration", int64(cfg.Duration)}, {"rate", int64(cfg.Rate)}, {"consume", int64(cfg.ConsumeMessages)},
		{"low-rate", int64(cfg.LowRate)}, {"low-rate-duration", int64(cfg.LowRateDuration)},
		{"publishers", int64(cfg.Publishers)}, {"batch", int64(cfg.Batch)}, {"partitions", int64(cfg.Partitions)},
		{"payload", int64(cfg.PayloadBytes)}, {"keys", int64(cfg.Keys)}, {"timeout", int64(cfg.Timeout)},
	} {
		if size.value <= 0 {
			errs = append(errs, fmt.Errorf("bench: %s must be positive", size.name))
		}
	}
	return errors.Join(errs...)
}
