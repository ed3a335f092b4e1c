package codec

import (
	"fmt"

	"google.golang.org/protobuf/proto"
)

// Protobuf encodes generated Protobuf messages in the binary wire format.
// T is the message's pointer type, such as *pb.SendEmail.
type Protobuf[T proto.Message] struct{}

// ContentType is "application/protobuf". The message's full name travels
// in the ce_type header that typed topics set.
func (Protobuf[T]) ContentType() string { return "application/protobuf" }

// Encode marshals v deterministically, so equal messages give equal bytes.
func (Protobuf[T]) Encode(v T) ([]byte, error) {
	return proto.MarshalOptions{Deterministic: true}.Marshal(v)
}

// Decode unmarshals data into a new T.
func (Protobuf[T]) Decode(data []byte) (T, error) {
	var zero T
	v, ok := zero.ProtoReflect().New().Interface().(T)
	if !ok {
		return zero, fmt.Errorf("codec: cannot make a new %T", zero)
	}
	if err := proto.Unmarshal(data, v); err != nil {
		return zero, err
	}
	return v, nil
}
