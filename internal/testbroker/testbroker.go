// Package testbroker tells driver tests where the real test brokers are, and
// lets a test restart one of them.
//
// The brokers are single-node Apache Kafka and Apache Pulsar processes started
// by scripts/brokers.sh (`make brokers-up`); `make test` starts them and sets:
//
//	EVENTBUS_TEST_KAFKA        Kafka PLAINTEXT bootstrap servers, 127.0.0.1:9092
//	EVENTBUS_TEST_KAFKA_SASL   Kafka SASL_PLAINTEXT (PLAIN, SCRAM-SHA-256/512) bootstrap servers, 127.0.0.1:9093
//	EVENTBUS_TEST_KAFKA_TLS    Kafka SSL bootstrap servers, 127.0.0.1:9095
//	EVENTBUS_TEST_KAFKA_TLS_CA the CA certificate (PEM file) of the Kafka SSL listener
//	EVENTBUS_TEST_PULSAR       Pulsar service URL, pulsar://127.0.0.1:6650
//	EVENTBUS_TEST_PULSAR_ADMIN Pulsar admin URL, http://127.0.0.1:8080
//	EVENTBUS_TEST_KAFKA_TOOLS  folder of the jars of Kafka's command-line tools (console producer and consumer)
//
// The 3-node Kafka cluster for failover tests (`scripts/brokers.sh up
// kafka-cluster`, which `make test` starts only for the failover tests) sets
//
//	EVENTBUS_TEST_KAFKA_CLUSTER its bootstrap servers, 127.0.0.1:19092,127.0.0.1:19093,127.0.0.1:19094
//
// and scripts/postgres.sh, which `make test` also runs, sets:
//
//	EVENTBUS_TEST_POSTGRES     PostgreSQL connection URL, postgres://eventbus@127.0.0.1:55432/postgres?sslmode=disable
//
// A test asks for the broker it needs, e.g. `addr := testbroker.Kafka(t)`. When
// the variable is unset the test is skipped, so `go test ./...` works on a
// machine without brokers; under CI=true it fails instead, so CI can never
// pass by silently skipping every broker test.
//
// This package must not import the Kafka client: it is used by packages that
// build without cgo.
package testbroker

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// The SASL user of the Kafka SASL_PLAINTEXT listener, for the PLAIN,
// SCRAM-SHA-256 and SCRAM-SHA-512 mechanisms (scripts/config/kafka.properties
// and, for SCRAM, scripts/brokers.sh).
const (
	KafkaSASLUser     = "eventbus"
	KafkaSASLPassword = "eventbus-secret"
)

// Environment variables holding the broker addresses.
const (
	EnvKafka        = "EVENTBUS_TEST_KAFKA"
	EnvKafkaSASL    = "EVENTBUS_TEST_KAFKA_SASL"
	EnvKafkaTLS     = "EVENTBUS_TEST_KAFKA_TLS"
	EnvKafkaTLSCA   = "EVENTBUS_TEST_KAFKA_TLS_CA"
	EnvPulsar       = "EVENTBUS_TEST_PULSAR"
	EnvPulsarAdmin  = "EVENTBUS_TEST_PULSAR_ADMIN"
	EnvKafkaCluster = "EVENTBUS_TEST_KAFKA_CLUSTER"
	EnvKafkaTools   = "EVENTBUS_TEST_KAFKA_TOOLS"
	EnvPostgres     = "EVENTBUS_TEST_POSTGRES"
)

// Kafka returns the bootstrap servers of the PLAINTEXT listener.
func Kafka(t testing.TB) string {
	t.Helper()
	return lookup(t, EnvKafka)
}

// KafkaSASL returns the bootstrap servers of the SASL_PLAINTEXT listener, where
// KafkaSASLUser / KafkaSASLPassword authenticate with the PLAIN, SCRAM-SHA-256
// or SCRAM-SHA-512 mechanism.
func KafkaSASL(t testing.TB) string {
	t.Helper()
	return lookup(t, EnvKafkaSASL)
}

// KafkaTLS returns the bootstrap servers of the SSL listener and the CA
// certificate (PEM file) that signed its certificate. The certificate names
// the IP address 127.0.0.1 only: a client that checks host names must connect
// to that address. The listener does not ask for client certificates.
func KafkaTLS(t testing.TB) (addr, caFile string) {
	t.Helper()
	return lookup(t, EnvKafkaTLS), lookup(t, EnvKafkaTLSCA)
}

// KafkaTools returns the folder of the jars of Kafka's command-line tools,
// which scripts/brokers.sh resolves beside the broker: run a tool with
// `java -cp <folder>/* org.apache.kafka.tools.ConsoleProducer ...`.
func KafkaTools(t testing.TB) string {
	t.Helper()
	return lookup(t, EnvKafkaTools)
}

// Pulsar returns the Pulsar service URL (pulsar://host:port).
func Pulsar(t testing.TB) string {
	t.Helper()
	return lookup(t, EnvPulsar)
}

// PulsarAdmin returns the Pulsar admin REST URL (http://host:port).
func PulsarAdmin(t testing.TB) string {
	t.Helper()
	return lookup(t, EnvPulsarAdmin)
}

// Postgres returns the connection URL of the test PostgreSQL server, whose
// user may create schemas and tables.
func Postgres(t testing.TB) string {
	t.Helper()
	return lookup(t, EnvPostgres)
}

func lookup(t testing.TB, name string) string {
	t.Helper()
	if v := os.Getenv(name); v != "" {
		return v
	}
	script := "brokers"
	if name == EnvPostgres {
		script = "postgres"
	}
	if inCI() {
		t.Fatalf("%s is not set, and CI=true forbids skipping broker tests: run the tests with `make test`, or start the server with `scripts/%s.sh up` and export the variables `scripts/%s.sh env` prints", name, script, script)
	}
	t.Skipf("%s is not set: skipping a test that needs a real server (run `make test`, or `scripts/%s.sh up` and export what `scripts/%s.sh env` prints)", name, script, script)
	return ""
}

func inCI() bool {
	ci, _ := strconv.ParseBool(os.Getenv("CI"))
	return ci
}

// Restart kills broker ("kafka" or "pulsar") with SIGKILL, starts it again on
// the same ports and data, and returns once it serves again. Use it to test
// what clients do when a broker crashes. It fails the test if the broker
// cannot be restarted.
//
// The brokers are shared by every test of the run, including other packages
// that `go test ./...` runs in parallel: those see the outage too. Keep
// restart tests few, and make them tolerate (or skip on) a broker already
// being restarted.
func Restart(t testing.TB, broker string) {
	t.Helper()
	switch broker {
	case "kafka":
		lookup(t, EnvKafka)
	case "pulsar":
		lookup(t, EnvPulsar)
	default:
		t.Fatalf("testbroker.Restart: unknown broker %q, want \"kafka\" or \"pulsar\"", broker)
	}
	script, err := brokersScript()
	if err != nil {
		t.Fatalf("testbroker.Restart(%s): %v", broker, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	start := time.Now()
	out, err := exec.CommandContext(ctx, "bash", script, "restart", broker).CombinedOutput()
	if err != nil {
		t.Fatalf("testbroker.Restart(%s): %s restart %s: %v\n%s", broker, script, broker, err, out)
	}
	t.Logf("testbroker: restarted %s in %s", broker, time.Since(start).Round(time.Millisecond))
}

// RequireRestartOptIn skips t, or fails it under CI=true, unless the run
// asked for tests that restart the brokers every other test shares, as
// `make test` does after all other tests: EVENTBUS_TEST_RESTART=1.
func RequireRestartOptIn(t testing.TB) {
	t.Helper()
	if os.Getenv("EVENTBUS_TEST_RESTART") == "1" {
		return
	}
	if inCI() {
		t.Fatal("restarts a shared broker: run it as make test does, alone with EVENTBUS_TEST_RESTART=1")
	}
	t.Skip("restarts a shared broker; set EVENTBUS_TEST_RESTART=1 to run")
}

// KafkaCluster returns the bootstrap servers of the 3-node Kafka cluster,
// whose node ids are 1, 2 and 3.
func KafkaCluster(t testing.TB) string {
	t.Helper()
	return lookup(t, EnvKafkaCluster)
}

// KillKafkaClusterNode kills node (1, 2 or 3) of the Kafka cluster with
// SIGKILL and returns once the process is gone.
func KillKafkaClusterNode(t testing.TB, node int32) { clusterNode(t, "kill", node) }

// StartKafkaClusterNode starts node (1, 2 or 3) of the Kafka cluster again
// on its data and returns once it accepts connections.
func StartKafkaClusterNode(t testing.TB, node int32) { clusterNode(t, "start", node) }

func clusterNode(t testing.TB, command string, node int32) {
	t.Helper()
	lookup(t, EnvKafkaCluster)
	script, err := brokersScript()
	if err != nil {
		t.Fatalf("testbroker: %s kafka-cluster node %d: %v", command, node, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", script, command, "kafka-cluster", strconv.Itoa(int(node))).CombinedOutput()
	if err != nil {
		t.Fatalf("testbroker: %s %s kafka-cluster %d: %v\n%s", script, command, node, err, out)
	}
}

// brokersScript finds scripts/brokers.sh in the enclosing module, starting at
// the working directory (go test runs in the package directory).
func brokersScript() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		script := filepath.Join(dir, "scripts", "brokers.sh")
		if _, err := os.Stat(script); err == nil {
			return script, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("scripts/brokers.sh not found above the working directory")
		}
		dir = parent
	}
}
