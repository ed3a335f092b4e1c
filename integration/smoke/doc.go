// Package smoke proves the test broker infrastructure on its own: its tests
// produce and consume with the raw confluent-kafka-go and pulsar-client-go
// clients, no eventbus code, against the brokers scripts/brokers.sh runs.
// When a driver test fails, a green smoke test rules out the brokers.
//
// Run them with `make test`, or after `make brokers-up` with the variables
// `scripts/brokers.sh env` prints:
//
//	go test ./integration/smoke/
package smoke
