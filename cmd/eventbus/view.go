package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/eventbus-go/eventbus/bus"
)

// printer writes messages for a person or, with jsonLines, one JSON
// object per line for programs.
type printer struct {
	w         io.Writer
	jsonLines bool
}

// jsonMessage is the JSON-lines form of a message, after the CloudEvents
// JSON format: data is the payload as JSON when it is JSON, else text, else
// data_base64.
type jsonMessage struct {
	Topic      string            `json:"topic"`
	ID         string            `json:"id"`
	Key        string            `json:"key,omitempty"`
	Time       time.Time         `json:"time"`
	Partition  *int32            `json:"partition,omitempty"`
	Offset     *int64            `json:"offset,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"`
	Data       json.RawMessage   `json:"data,omitempty"`
	DataBase64 []byte            `json:"data_base64,omitempty"`
}

func (p printer) print(m *bus.Message) error {
	if p.jsonLines {
		return p.printJSON(m)
	}
	return p.printText(m)
}

func (p printer) printJSON(m *bus.Message) error {
	jm := jsonMessage{Topic: m.Topic, ID: m.ID, Key: m.Key, Time: m.Time, Headers: m.Header}
	if part, offset := m.Position(); part >= 0 || offset >= 0 {
		jm.Partition, jm.Offset = &part, &offset
	}
	switch {
	case json.Valid(m.Payload) && len(m.Payload) > 0:
		jm.Data = m.Payload
	case utf8.Valid(m.Payload):
		jm.Data, _ = json.Marshal(string(m.Payload))
	default:
		jm.DataBase64 = m.Payload
	}
	line, err := json.Marshal(jm)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(p.w, "%s\n", line)
	return err
}

// printText shows a message the way a person reads it: where and when,
// its CloudEvents attributes, its other headers, then the payload.
func (p printer) printText(m *bus.Message) error {
	var b strings.Builder
	fmt.Fprintf(&b, "── %s", m.Topic)
	if part, offset := m.Position(); part >= 0 {
		fmt.Fprintf(&b, " [%d]", part)
		if offset >= 0 {
			fmt.Fprintf(&b, "@%d", offset)
		}
	}
	if m.Key != "" {
		fmt.Fprintf(&b, "  key=%s", m.Key)
	}
	fmt.Fprintf(&b, "  id=%s  %s\n", m.ID, m.Time.UTC().Format(time.RFC3339Nano))
	names := slices.Sorted(maps.Keys(m.Header))
	for _, name := range names {
		fmt.Fprintf(&b, "   %s: %s\n", name, m.Header[name])
	}
	if utf8.Valid(m.Payload) {
		for line := range strings.Lines(string(m.Payload)) {
			fmt.Fprintf(&b, "   %s\n", strings.TrimRight(line, "\n"))
		}
	} else {
		fmt.Fprintf(&b, "   (%d bytes of binary data)\n", len(m.Payload))
	}
	_, err := io.WriteString(p.w, b.String())
	return err
}
