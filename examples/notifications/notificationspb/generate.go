// Package notificationspb holds the Protobuf messages of the notifications
// example, generated from notifications.proto.
//
// To regenerate notifications.pb.go after editing the .proto, install the
// compiler and the Go plugin once:
//
//	apt-get update && apt-get install -y protobuf-compiler
//	go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
//
// then run `go generate ./examples/notifications/...`.
package notificationspb

//go:generate protoc --go_out=. --go_opt=paths=source_relative notifications.proto
