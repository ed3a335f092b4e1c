// Package codec holds the codecs typed topics use: JSON for any Go type and
// Protobuf for generated messages. Each implements bus.Codec[T] without
// importing package bus, so it can be used on its own.
package codec
