// Command brokercheck waits until test brokers really serve: it retries a
// produce followed by a consume of that same message, with the raw clients,
// until one round trip succeeds or the timeout expires. An open port is not
// enough: Kafka accepts connections before its metadata is ready, and Pulsar
// opens its ports before the bookie and namespaces are usable.
//
// scripts/brokers.sh runs it after starting a broker:
//
//	brokercheck -kafka 127.0.0.1:9092 -kafka-sasl 127.0.0.1:9093 \
//	  -kafka-tls 127.0.0.1:9095 -kafka-tls-ca .brokers/kafka/tls/ca.pem -pid 1234
//	brokercheck -pulsar pulsar://127.0.0.1:6650 -pulsar-admin http://127.0.0.1:8080
//
// With -pid it gives up as soon as that process has exited, so a broker that
// crashes on start fails in seconds rather than at the timeout.
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/apache/pulsar-client-go/pulsar"
	pulsarlog "github.com/apache/pulsar-client-go/pulsar/log"
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/eventbus-go/eventbus/internal/testbroker"
)

const checkTopic = "eventbus-brokercheck"

func main() {
	kafkaAddr := flag.String("kafka", "", "Kafka PLAINTEXT bootstrap servers to check")
	kafkaSASLAddr := flag.String("kafka-sasl", "", "Kafka SASL_PLAINTEXT bootstrap servers to check (test user, PLAIN and SCRAM)")
	kafkaTLSAddr := flag.String("kafka-tls", "", "Kafka SSL bootstrap servers to check (needs -kafka-tls-ca)")
	kafkaTLSCA := flag.String("kafka-tls-ca", "", "CA certificate (PEM) of the Kafka SSL listener")
	pulsarURL := flag.String("pulsar", "", "Pulsar service URL to check (pulsar://host:port)")
	pulsarAdmin := flag.String("pulsar-admin", "", "Pulsar admin URL to check (http://host:port)")
	pid := flag.Int("pid", 0, "give up as soon as this process has exited")
	timeout := flag.Duration("timeout", 2*time.Minute, "how long to keep trying")
	flag.Parse()

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	type check struct {
		name string
		run  func(context.Context) error
	}
	var checks []check
	if *kafkaAddr != "" {
		checks = append(checks, check{"kafka " + *kafkaAddr, func(ctx context.Context) error {
			return kafkaRoundTrip(ctx, kafka.ConfigMap{"bootstrap.servers": *kafkaAddr})
		}})
	}
	if *kafkaSASLAddr != "" {
		// SCRAM credentials come from the storage format, PLAIN's from the
		// broker configuration: check every mechanism the tests use.
		for _, mechanism := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
			checks = append(checks, check{"kafka SASL " + mechanism + " " + *kafkaSASLAddr, func(ctx context.Context) error {
				return kafkaRoundTrip(ctx, kafka.ConfigMap{
					"bootstrap.servers": *kafkaSASLAddr,
					"security.protocol": "SASL_PLAINTEXT",
					"sasl.mechanisms":   mechanism,
					"sasl.username":     testbroker.KafkaSASLUser,
					"sasl.password":     testbroker.KafkaSASLPassword,
				})
			}})
		}
	}
	if *kafkaTLSAddr != "" {
		if *kafkaTLSCA == "" {
			fmt.Fprintln(os.Stderr, "brokercheck: -kafka-tls needs -kafka-tls-ca")
			os.Exit(2)
		}
		checks = append(checks, check{"kafka TLS " + *kafkaTLSAddr, func(ctx context.Context) error {
			return kafkaRoundTrip(ctx, kafka.ConfigMap{
				"bootstrap.servers":                     *kafkaTLSAddr,
				"security.protocol":                     "SSL",
				"ssl.ca.location":                       *kafkaTLSCA,
				"ssl.endpoint.identification.algorithm": "https",
			})
		}})
	}
	if *pulsarAdmin != "" {
		checks = append(checks, check{"pulsar admin " + *pulsarAdmin, func(ctx context.Context) error {
			return pulsarAdminReady(ctx, *pulsarAdmin)
		}})
	}
	if *pulsarURL != "" {
		checks = append(checks, check{"pulsar " + *pulsarURL, func(ctx context.Context) error {
			return pulsarRoundTrip(ctx, *pulsarURL)
		}})
	}
	if len(checks) == 0 {
		fmt.Fprintln(os.Stderr, "brokercheck: nothing to check; pass -kafka, -kafka-sasl, -kafka-tls, -pulsar or -pulsar-admin")
		os.Exit(2)
	}

	for _, c := range checks {
		if err := retry(ctx, *pid, c.run); err != nil {
			fmt.Fprintf(os.Stderr, "brokercheck: %s: not serving after %s: %v\n", c.name, *timeout, err)
			os.Exit(1)
		}
	}
}

// retry runs attempt until it succeeds, ctx expires or process pid is gone.
// Each attempt gets its own bounded context so one hung call cannot eat the
// whole budget.
func retry(ctx context.Context, pid int, attempt func(context.Context) error) error {
	var last error
	for {
		if pid > 0 && !alive(pid) {
			return fmt.Errorf("process %d exited (last error: %v)", pid, last)
		}
		attemptCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
		last = attempt(attemptCtx)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return last
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// alive reports whether pid is a running process. A process that exited but
// was not yet reaped by its parent (a zombie) counts as gone.
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return !os.IsNotExist(err)
	}
	// Format: "pid (comm) state ..."; comm may contain spaces and parentheses.
	rest := stat[bytes.LastIndexByte(stat, ')')+1:]
	return !strings.HasPrefix(strings.TrimSpace(string(rest)), "Z")
}

// kafkaRoundTrip produces one message and reads it back by partition and
// offset (no consumer group, so no rebalance wait).
func kafkaRoundTrip(ctx context.Context, config kafka.ConfigMap) error {
	deadline, _ := ctx.Deadline()
	timeoutMs := int(time.Until(deadline).Milliseconds())
	value := fmt.Appendf(nil, "brokercheck %d", time.Now().UnixNano())

	producerConfig := kafka.ConfigMap{
		"message.timeout.ms": timeoutMs,
		"log_level":          2, // connection refused while the broker starts is expected, not news
	}
	for k, v := range config {
		producerConfig[k] = v
	}
	producer, err := kafka.NewProducer(&producerConfig)
	if err != nil {
		return err
	}
	defer producer.Close()

	topic := checkTopic
	delivered := make(chan kafka.Event, 1)
	if err := producer.Produce(&kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny},
		Value:          value,
	}, delivered); err != nil {
		return fmt.Errorf("produce: %w", err)
	}
	var at kafka.TopicPartition
	select {
	case e := <-delivered:
		at = e.(*kafka.Message).TopicPartition
		if at.Error != nil {
			return fmt.Errorf("produce: %w", at.Error)
		}
	case <-ctx.Done():
		return fmt.Errorf("produce: %w", ctx.Err())
	}

	consumerConfig := kafka.ConfigMap{
		"group.id":           "eventbus-brokercheck", // required by the client; Assign does not join it
		"enable.auto.commit": false,
		"log_level":          2,
	}
	for k, v := range config {
		consumerConfig[k] = v
	}
	consumer, err := kafka.NewConsumer(&consumerConfig)
	if err != nil {
		return err
	}
	defer consumer.Close()
	if err := consumer.Assign([]kafka.TopicPartition{at}); err != nil {
		return fmt.Errorf("assign: %w", err)
	}
	for ctx.Err() == nil {
		m, err := consumer.ReadMessage(time.Second)
		if err != nil {
			var kerr kafka.Error
			if errors.As(err, &kerr) && kerr.IsTimeout() {
				continue
			}
			return fmt.Errorf("consume: %w", err)
		}
		if bytes.Equal(m.Value, value) {
			return nil
		}
	}
	return fmt.Errorf("consume: %w", ctx.Err())
}

// pulsarRoundTrip produces one message and reads it back with a reader
// positioned on it (a reader leaves no durable subscription behind).
func pulsarRoundTrip(ctx context.Context, url string) error {
	client, err := pulsar.NewClient(pulsar.ClientOptions{
		URL:               url,
		ConnectionTimeout: 5 * time.Second,
		OperationTimeout:  10 * time.Second,
		Logger:            pulsarlog.DefaultNopLogger(),
	})
	if err != nil {
		return err
	}
	defer client.Close()

	topic := "persistent://public/default/" + checkTopic
	producer, err := client.CreateProducer(pulsar.ProducerOptions{Topic: topic})
	if err != nil {
		return fmt.Errorf("create producer: %w", err)
	}
	defer producer.Close()
	value := fmt.Appendf(nil, "brokercheck %d", time.Now().UnixNano())
	id, err := producer.Send(ctx, &pulsar.ProducerMessage{Payload: value})
	if err != nil {
		return fmt.Errorf("produce: %w", err)
	}

	reader, err := client.CreateReader(pulsar.ReaderOptions{
		Topic:                   topic,
		StartMessageID:          id,
		StartMessageIDInclusive: true,
	})
	if err != nil {
		return fmt.Errorf("create reader: %w", err)
	}
	defer reader.Close()
	m, err := reader.Next(ctx)
	if err != nil {
		return fmt.Errorf("consume: %w", err)
	}
	if !bytes.Equal(m.Payload(), value) {
		return fmt.Errorf("consume: read %q, want %q", m.Payload(), value)
	}
	return nil
}

// pulsarAdminReady checks the admin REST API answers and knows the cluster.
func pulsarAdminReady(ctx context.Context, adminURL string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(adminURL, "/")+"/admin/v2/clusters", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /admin/v2/clusters: %s", resp.Status)
	}
	return nil
}
