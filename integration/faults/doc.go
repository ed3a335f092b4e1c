// Package faults is the process-level fault suite: consumer processes built
// from ./member are SIGKILLed and SIGTERMed mid-stream while they handle a
// keyed stream with random failures and panics, on real Kafka and Pulsar.
// The tests count lost messages (must be 0), duplicates by cause, per-key
// order violations of first handlings (must be 0) and failover time, and
// print them.
//
// Run it with the brokers up: `make test` does, or
//
//	scripts/brokers.sh run all -- go test -v ./integration/faults/
package faults
