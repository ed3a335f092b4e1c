package driver_test

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/eventbus-go/eventbus/bus/driver"
)

func TestMediaType(t *testing.T) {
	for in, want := range map[string]string{
		"application/json":                       "application/json",
		"Application/JSON; charset=utf-8":        "application/json",
		"application/cloudevents+json;charset=x": "application/cloudevents+json",
		"application/json; charset":              "application/json", // a malformed parameter
		"  text/plain ; q":                       "text/plain",
		"":                                       "",
		"not a media type":                       "not a media type",
	} {
		assert.Equal(t, want, driver.MediaType(in), "%q", in)
	}
}

func TestParseTimeLowerCase(t *testing.T) {
	want := time.Date(2024, 2, 29, 23, 59, 59, 120000000, time.UTC)
	for _, in := range []string{"2024-02-29T23:59:59.12Z", "2024-02-29t23:59:59.12z", "2024-03-01t01:59:59.12+02:00"} {
		got, ok := driver.ParseTime(in)
		require.True(t, ok, in)
		assert.True(t, want.Equal(got), "%s gave %v", in, got)
	}
	_, ok := driver.ParseTime("yesterday")
	assert.False(t, ok)
}

func structured(payload string, header map[string]string) *driver.Message {
	h := map[string]string{driver.HeaderContentType: driver.MediaTypeStructured}
	for k, v := range header {
		h[k] = v
	}
	return &driver.Message{ID: "fallback", Key: "k", Payload: []byte(payload), Header: h, Time: time.Unix(100, 0)}
}

func TestReadStructured(t *testing.T) {
	m := structured(`{"specversion":"1.0","id":"e1","source":"/s","type":"com.x","time":"2020-01-02T03:04:05Z",
		"subject":"sub","datacontenttype":"application/vnd.x+json","ext":"v","n":1.5,"b":false,"nothing":null,
		"data":{"a":[1,2]}}`, map[string]string{"tenant": "acme", "traceparent": "00-1-2-01"})
	require.NoError(t, driver.ReadStructured(m))
	assert.Equal(t, "e1", m.ID)
	assert.Equal(t, "k", m.Key)
	assert.True(t, time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC).Equal(m.Time))
	assert.JSONEq(t, `{"a":[1,2]}`, string(m.Payload))
	assert.Equal(t, map[string]string{
		"ce_source": "/s", "ce_type": "com.x", "ce_subject": "sub", "ce_ext": "v", "ce_n": "1.5", "ce_b": "false",
		"content-type": "application/vnd.x+json", "tenant": "acme", "traceparent": "00-1-2-01",
	}, m.Header)
}

func TestReadStructuredDefaultsAndText(t *testing.T) {
	m := structured(`{"specversion":"1.0","source":"eventbus","type":"eventbus.message","data":"plain"}`, nil)
	require.NoError(t, driver.ReadStructured(m))
	assert.Equal(t, "fallback", m.ID, "no id: the driver's fallback stays")
	assert.True(t, time.Unix(100, 0).Equal(m.Time), "no time: the driver's fallback stays")
	assert.Equal(t, `"plain"`, string(m.Payload), "JSON data (the default content type) stays JSON")
	assert.Equal(t, map[string]string{"content-type": "application/json"}, m.Header)

	m = structured(`{"specversion":"1.0","id":"t","source":"/s","type":"x","datacontenttype":"text/plain","data":"héllo \"q\""}`, nil)
	require.NoError(t, driver.ReadStructured(m))
	assert.Equal(t, `héllo "q"`, string(m.Payload), "text data travels as a JSON string")

	m = structured(`{"specversion":"1.0","id":"n","source":"/s","type":"x"}`, nil)
	require.NoError(t, driver.ReadStructured(m))
	assert.Nil(t, m.Payload)
	assert.Equal(t, map[string]string{"ce_source": "/s", "ce_type": "x"}, m.Header, "no data, no content-type")

	m = structured(`{"specversion":"1.0","id":"z","source":"/s","type":"x","data_base64":"AAH/"}`, nil)
	require.NoError(t, driver.ReadStructured(m))
	assert.Equal(t, []byte{0, 1, 0xff}, m.Payload)
}

func TestReadStructuredLeavesOthersAlone(t *testing.T) {
	for _, h := range []map[string]string{nil, {"content-type": "application/json"}, {"ce_id": "x"}} {
		m := &driver.Message{ID: "a", Payload: []byte("{"), Header: h}
		require.NoError(t, driver.ReadStructured(m))
		assert.Equal(t, &driver.Message{ID: "a", Payload: []byte("{"), Header: h}, m)
	}
}

func TestReadStructuredErrors(t *testing.T) {
	tests := []struct {
		name, contentType, payload, want string
	}{
		{"batch", driver.MediaTypeBatch, `[]`, "application/cloudevents-batch+json is CloudEvents batch mode"},
		{"other format", "application/cloudevents+avro", `x`, "application/cloudevents+avro is a CloudEvents event format"},
		{"not JSON", driver.MediaTypeStructured, `{"specversion":`, "not a JSON object"},
		{"array", driver.MediaTypeStructured, `[1]`, "not a JSON object"},
		{"no specversion", driver.MediaTypeStructured, `{"id":"x"}`, `specversion ""`},
		{"old specversion", driver.MediaTypeStructured, `{"specversion":"0.3","id":"x"}`, `specversion "0.3"`},
		{"both data", driver.MediaTypeStructured, `{"specversion":"1.0","data":1,"data_base64":"AA=="}`, "both data and data_base64"},
		{"bad base64", driver.MediaTypeStructured, `{"specversion":"1.0","data_base64":"!!"}`, "data_base64"},
		{"object attribute", driver.MediaTypeStructured, `{"specversion":"1.0","ext":{"a":1}}`, `attribute "ext" is not a string`},
		{"nested event", driver.MediaTypeStructured, `{"specversion":"1.0","datacontenttype":"application/cloudevents+json","data":{}}`, "itself a CloudEvents format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := structured(tt.payload, map[string]string{driver.HeaderContentType: tt.contentType})
			before := *m
			err := driver.ReadStructured(m)
			require.Error(t, err)
			assert.True(t, errors.Is(err, driver.ErrUnreadableEvent), "%v", err)
			assert.Contains(t, err.Error(), tt.want)
			assert.Equal(t, before, *m, "an error leaves the message unchanged")
		})
	}
}

func TestWriteStructuredRoundTrip(t *testing.T) {
	at := time.Date(2027, 4, 5, 6, 7, 8, 9, time.FixedZone("X", 3600))
	for _, in := range []driver.Message{
		{ID: "json", Time: at, Payload: []byte(`{"a": [1, 2]}`),
			Header: map[string]string{"content-type": "application/json; charset=utf-8", "ce_type": "com.x", "ce_source": "/s", "ce_subject": "sub", "tenant": "acme"}},
		{ID: "text", Time: at, Payload: []byte("héllo \"world\"\n"), Header: map[string]string{"content-type": "text/plain"}},
		{ID: "binary", Time: at, Payload: []byte{0, 1, 0xff}, Header: map[string]string{"content-type": "application/protobuf"}},
		{ID: "json that is not", Time: at, Payload: []byte(`{"a":`), Header: map[string]string{"content-type": "application/json"}},
		{ID: "no content-type", Time: at, Payload: []byte(`{"a":1}`)},
		{ID: "empty", Time: at},
	} {
		t.Run(in.ID, func(t *testing.T) {
			m := in
			require.NoError(t, driver.WriteStructured(&m))
			assert.Equal(t, driver.MediaTypeStructured, m.Header["content-type"])
			for k := range m.Header {
				assert.NotContains(t, k, "ce_", "attributes travel in the payload")
			}
			var event map[string]any
			require.NoError(t, json.Unmarshal(m.Payload, &event), "%s", m.Payload)
			assert.Equal(t, "1.0", event["specversion"])
			assert.Equal(t, in.ID, event["id"])
			assert.NotEmpty(t, event["type"])
			assert.NotEmpty(t, event["source"])

			wire := wireMap(t, encode(&m))
			assert.Equal(t, m.Header, wire, "EncodeHeaders writes only the headers of a structured message")

			out := driver.Message{Payload: m.Payload, Header: m.Header}
			require.NoError(t, driver.ReadStructured(&out))
			assert.Equal(t, in.ID, out.ID)
			assert.True(t, in.Time.Equal(out.Time))
			assert.Equal(t, string(in.Payload), string(out.Payload))
			assert.Equal(t, in.Header, out.Header)
		})
	}
}

func TestWriteStructuredRefusesReservedNames(t *testing.T) {
	m := driver.Message{ID: "x", Header: map[string]string{"ce_data": "y"}}
	err := driver.WriteStructured(&m)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"ce_data"`)
}

func TestIsStructured(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/cloudevents+json":                 true,
		" Application/CloudEvents+JSON; charset=utf-8": true,
		"application/cloudevents-batch+json":           true,
		"application/json":                             false,
		"application/cloudevent":                       false,
		"":                                             false,
	} {
		assert.Equal(t, want, driver.IsStructured(map[string]string{driver.HeaderContentType: ct}), "%q", ct)
	}
	assert.False(t, driver.IsStructured(nil))
	header := map[string]string{driver.HeaderContentType: "application/json; charset=utf-8"}
	assert.Zero(t, testing.AllocsPerRun(100, func() { driver.IsStructured(header) }), "checked for every message: no allocation")
}
