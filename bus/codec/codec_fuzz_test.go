package codec_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/eventbus-go/eventbus/bus/codec"
)

// FuzzJSONDecode decodes arbitrary payloads: no panic, and what decodes
// encodes to bytes that decode and encode to the same bytes again.
func FuzzJSONDecode(f *testing.F) {
	for _, seed := range []string{`{"id":"s-1","weight":2.5,"items":["a"],"labels":{"k":"v"},"express":true}`,
		`{}`, `null`, `{"id":1}`, `{"id":"x"} trailing`, `{"items":[`, "\xff", `{"labels":{"k":null}}`} {
		f.Add([]byte(seed))
	}
	c := codec.JSON[shipment]{}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := c.Decode(data)
		if err != nil {
			return
		}
		encoded, err := c.Encode(v)
		require.NoError(t, err)
		w, err := c.Decode(encoded)
		require.NoError(t, err)
		again, err := c.Encode(w)
		require.NoError(t, err)
		require.Equal(t, string(encoded), string(again))
	})
}

// FuzzProtobufDecode decodes arbitrary payloads into a message with nested
// and repeated fields: no panic, and what decodes round-trips.
func FuzzProtobufDecode(f *testing.F) {
	seed, err := structpb.NewStruct(map[string]any{"id": "s-1", "n": 2.5, "items": []any{"a", true, nil}, "nested": map[string]any{"k": "v"}})
	require.NoError(f, err)
	good, err := proto.Marshal(seed)
	require.NoError(f, err)
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0xff})
	f.Add(good[:len(good)/2])
	c := codec.Protobuf[*structpb.Struct]{}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := c.Decode(data)
		if err != nil {
			return
		}
		again, err := c.Encode(v)
		require.NoError(t, err)
		w, err := c.Decode(again)
		require.NoError(t, err)
		require.True(t, proto.Equal(v, w))
	})
}
