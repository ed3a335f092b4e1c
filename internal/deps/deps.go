package deps
import (
 _ "github.com/confluentinc/confluent-kafka-go/v2/kafka"
 _ "github.com/apache/pulsar-client-go/pulsar"
 _ "google.golang.org/protobuf/proto"
 _ "github.com/stretchr/testify/require"
 _ "github.com/google/uuid"
)
