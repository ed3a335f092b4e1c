//go:build kafka

package main

// kafka:// URLs (go run -tags kafka); the Kafka driver needs cgo.
import _ "github.com/eventbus-go/eventbus/kafka"
