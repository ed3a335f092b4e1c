//go:build pulsar

package main

// pulsar:// URLs (go run -tags pulsar).
import _ "github.com/eventbus-go/eventbus/pulsar"
