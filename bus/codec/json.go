package codec

import "encoding/json"

// JSON encodes T with encoding/json. Decoding rejects trailing data but
// accepts unknown fields, so producers can add fields first.
type JSON[T any] struct{}

// ContentType is "application/json".
func (JSON[T]) ContentType() string { return "application/json" }

// Encode marshals v.
func (JSON[T]) Encode(v T) ([]byte, error) { return json.Marshal(v) }

// Decode unmarshals data into a new T.
func (JSON[T]) Decode(data []byte) (T, error) {
	var v T
	err := json.Unmarshal(data, &v)
	return v, err
}
