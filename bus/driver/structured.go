package driver

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"mime"
	"strings"
	"unicode/utf8"
)

// Media types of the CloudEvents JSON event format: one event in structured
// mode, and a batch of events.
const (
	MediaTypeStructured = "application/cloudevents+json"
	MediaTypeBatch      = "application/cloudevents-batch+json"
)

// ErrUnreadableEvent reports a message in a CloudEvents mode or format
// eventbus does not read (batch mode, an event format other than JSON), or
// a structured-mode event that is not valid. Retrying cannot fix it.
var ErrUnreadableEvent = errors.New("unreadable CloudEvents message")

// MediaType returns the media type of a content-type value, lower case and
// without parameters: "Application/JSON; charset=utf-8" gives
// "application/json".
func MediaType(contentType string) string {
	mediaType, _, err := mime.ParseMediaType(contentType)
	if mediaType == "" || err != nil && !errors.Is(err, mime.ErrInvalidMediaParameter) {
		mediaType, _, _ = strings.Cut(contentType, ";")
		mediaType = strings.ToLower(strings.TrimSpace(mediaType))
	}
	return mediaType
}

// IsStructured reports whether the content-type in header says the message
// is in CloudEvents structured mode (of any event format, or a batch), which
// ReadStructured turns into a binary-mode one.
func IsStructured(header map[string]string) bool {
	return isCloudEventsFormat(header[HeaderContentType])
}

// isCloudEventsFormat reports whether a content-type is a CloudEvents
// event format (application/cloudevents...). It is checked for every
// message published and delivered: no allocation.
func isCloudEventsFormat(contentType string) bool {
	const prefix = "application/cloudevents"
	ct := strings.TrimLeft(contentType, " \t")
	return len(ct) >= len(prefix) && strings.EqualFold(ct[:len(prefix)], prefix)
}

// ReadStructured turns a CloudEvents structured-mode message (content-type
// application/cloudevents+json, the whole event in the payload) into the
// binary-mode message it stands for, as DecodeHeader would have built it:
// id to ID, time to Time, datacontenttype to the content-type header, data
// (a JSON value, or a string when datacontenttype is not JSON) or
// data_base64 to Payload, and every other attribute, extensions included,
// to a ce_<name> header. An event without an id or time keeps m's ID and
// Time (the driver's fallbacks). Other headers are kept.
//
// A message that is not structured is left alone. Batch mode, other event
// formats and invalid events return an error wrapping ErrUnreadableEvent
// and leave m unchanged.
func ReadStructured(m *Message) error {
	if !IsStructured(m.Header) {
		return nil
	}
	switch mediaType := MediaType(m.Header[HeaderContentType]); mediaType {
	case MediaTypeStructured:
	case MediaTypeBatch:
		return fmt.Errorf("%w: content-type %s is CloudEvents batch mode, which eventbus does not read: publish one event per message",
			ErrUnreadableEvent, MediaTypeBatch)
	default:
		return fmt.Errorf("%w: content-type %s is a CloudEvents event format eventbus does not read: use binary mode or %s",
			ErrUnreadableEvent, mediaType, MediaTypeStructured)
	}
	var event map[string]json.RawMessage
	if err := json.Unmarshal(m.Payload, &event); err != nil {
		return fmt.Errorf("%w: structured-mode payload is not a JSON object: %w", ErrUnreadableEvent, err)
	}
	if v, err := attributeString(event, "specversion"); err != nil || v != SpecVersion {
		return fmt.Errorf("%w: structured-mode event has specversion %q, eventbus reads %q", ErrUnreadableEvent, v, SpecVersion)
	}
	out := Message{ID: m.ID, Key: m.Key, Time: m.Time, Header: maps.Clone(m.Header)}
	delete(out.Header, HeaderContentType)
	data, hasData := event["data"]
	data64, hasData64 := event["data_base64"]
	hasData, hasData64 = hasData && !isNull(data), hasData64 && !isNull(data64)
	for name, raw := range event {
		switch name {
		case "data", "data_base64":
			continue
		}
		value, err := attributeString(event, name)
		if err != nil {
			return err
		}
		if value == "" && isNull(raw) {
			continue
		}
		if name == "datacontenttype" {
			if isCloudEventsFormat(value) {
				return fmt.Errorf("%w: structured-mode event has datacontenttype %s, itself a CloudEvents format", ErrUnreadableEvent, value)
			}
			out.Header[HeaderContentType] = value
			continue
		}
		DecodeHeader(&out, "ce_"+name, value)
	}
	switch {
	case hasData && hasData64:
		return fmt.Errorf("%w: structured-mode event has both data and data_base64", ErrUnreadableEvent)
	case hasData64:
		var encoded string
		if err := json.Unmarshal(data64, &encoded); err != nil {
			return fmt.Errorf("%w: structured-mode event's data_base64 is not a string", ErrUnreadableEvent)
		}
		payload, err := base64.StdEncoding.DecodeString(encoded)
		if err != nil {
			return fmt.Errorf("%w: structured-mode event's data_base64: %w", ErrUnreadableEvent, err)
		}
		out.Payload = payload
	case hasData:
		contentType, ok := out.Header[HeaderContentType]
		if !ok {
			// The JSON event format's default for data.
			contentType = "application/json"
			out.Header[HeaderContentType] = contentType
		}
		out.Payload = data
		if !isJSON(MediaType(contentType)) && data[0] == '"' {
			// Text data travels as a JSON string.
			var text string
			if err := json.Unmarshal(data, &text); err != nil {
				return fmt.Errorf("%w: structured-mode event's data: %w", ErrUnreadableEvent, err)
			}
			out.Payload = []byte(text)
		}
	}
	if len(out.Header) == 0 {
		out.Header = nil
	}
	*m = out
	return nil
}

// WriteStructured turns m into a CloudEvents structured-mode message, the
// inverse of ReadStructured: its payload becomes the JSON event (id, time,
// specversion, type and source with their defaults, every ce_<name> header
// as an attribute, content-type as datacontenttype, and the payload as data:
// the JSON value itself when content-type is JSON, the text when it is text,
// data_base64 otherwise), and its headers are the others plus content-type
// application/cloudevents+json. EncodeHeaders then writes no ce_* headers
// for it. A message already structured is left alone.
func WriteStructured(m *Message) error {
	if IsStructured(m.Header) {
		return nil
	}
	var b bytes.Buffer
	b.WriteString(`{"specversion":"` + SpecVersion + `"`)
	attribute := func(name, value string) {
		b.WriteString(`,`)
		writeJSONString(&b, name)
		b.WriteString(`:`)
		writeJSONString(&b, value)
	}
	header := make(map[string]string, len(m.Header)+1)
	attribute("id", m.ID)
	if !m.Time.IsZero() {
		attribute("time", m.Time.Format(TimeFormat))
	}
	if _, ok := m.Header[HeaderType]; !ok {
		attribute("type", DefaultType)
	}
	if _, ok := m.Header[HeaderSource]; !ok {
		attribute("source", DefaultSource)
	}
	contentType, hasContentType := m.Header[HeaderContentType]
	for k, v := range m.Header {
		name, isAttribute := strings.CutPrefix(k, "ce_")
		switch {
		case k == HeaderContentType:
			attribute("datacontenttype", v)
		case !isAttribute:
			header[k] = v
		case k == HeaderSpecVersion || k == HeaderID || k == HeaderTime:
			// From the message's own fields, as in binary mode.
		case name == "" || name == "data" || name == "data_base64" || name == "datacontenttype":
			return fmt.Errorf("structured mode: header %q cannot be a CloudEvents attribute", k)
		default:
			attribute(name, v)
		}
	}
	mediaType := MediaType(contentType)
	switch {
	case len(m.Payload) == 0:
	case hasContentType && isJSON(mediaType) && json.Valid(m.Payload):
		b.WriteString(`,"data":`)
		b.Write(m.Payload)
	case hasContentType && strings.HasPrefix(mediaType, "text/") && utf8.Valid(m.Payload):
		b.WriteString(`,"data":`)
		writeJSONString(&b, string(m.Payload))
	default:
		b.WriteString(`,"data_base64":"`)
		b.WriteString(base64.StdEncoding.EncodeToString(m.Payload))
		b.WriteString(`"`)
	}
	b.WriteString("}")
	header[HeaderContentType] = MediaTypeStructured
	m.Payload, m.Header = b.Bytes(), header
	return nil
}

// writeJSONString writes s as a JSON string.
func writeJSONString(b *bytes.Buffer, s string) {
	v, _ := json.Marshal(s) // a string always marshals
	b.Write(v)
}

// attributeString returns a context attribute as the string its binary-mode
// header carries: a string as it is, a number or boolean as its JSON text,
// null as "".
func attributeString(event map[string]json.RawMessage, name string) (string, error) {
	raw := event[name]
	switch {
	case len(raw) == 0 || isNull(raw):
		return "", nil
	case raw[0] == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", fmt.Errorf("%w: structured-mode attribute %q: %w", ErrUnreadableEvent, name, err)
		}
		return s, nil
	case raw[0] == '{' || raw[0] == '[':
		return "", fmt.Errorf("%w: structured-mode attribute %q is not a string, number or boolean", ErrUnreadableEvent, name)
	default:
		return string(raw), nil
	}
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(raw, []byte("null")) }

// isJSON reports whether a media type is JSON: application/json, text/json or
// any +json suffix.
func isJSON(mediaType string) bool {
	return mediaType == "application/json" || mediaType == "text/json" || strings.HasSuffix(mediaType, "+json")
}
