package driver

import (
	"strings"
	"time"
)

// CloudEvents binary-mode header names. ID and Time travel as ce_id and
// ce_time; every other header travels as it is, so a CloudEvents-aware
// consumer reads our events and we read theirs.
const (
	HeaderID          = "ce_id"
	HeaderTime        = "ce_time"
	HeaderSpecVersion = "ce_specversion"
	HeaderType        = "ce_type"
	HeaderSource      = "ce_source"
	HeaderContentType = "content-type"
	// HeaderDeliverAt carries Message.DeliverAt, in TimeFormat. It is an
	// eventbus extension, not a CloudEvents attribute.
	HeaderDeliverAt = "eventbus-deliver-at"

	// SpecVersion is the CloudEvents version written on publish.
	SpecVersion = "1.0"
	// DefaultType and DefaultSource fill the required CloudEvents
	// attributes when a message does not set them. They are implied: a
	// delivery whose ce_type or ce_source equals them does not show them in
	// its Header, so headers round-trip exactly.
	DefaultType   = "eventbus.message"
	DefaultSource = "eventbus"
)

// TimeFormat is the layout of ce_time values.
const TimeFormat = time.RFC3339Nano

// ParseTime parses a CloudEvents time: RFC 3339, whose "T" and "Z" may be
// written in lower case (RFC 3339, section 5.6), with or without fractional
// seconds.
func ParseTime(value string) (time.Time, bool) {
	t, err := time.Parse(TimeFormat, value)
	if err != nil && strings.ContainsAny(value, "tz") {
		t, err = time.Parse(TimeFormat, strings.ToUpper(value))
	}
	return t, err == nil
}

// EncodeHeaders calls add for every wire header of m: the CloudEvents
// attributes, then m.Header.
func EncodeHeaders(m *Message, add func(key, value string)) {
	EncodeHeadersTime(m, add, func(key string, t time.Time) { add(key, t.Format(TimeFormat)) })
}

// EncodeHeadersTime is EncodeHeaders that leaves formatting ce_time (in
// TimeFormat) to addTime, so a driver can format it into its own buffer, or
// once for a batch of messages that share a time.
//
// A message in structured mode (see WriteStructured) carries its attributes
// in its payload: only its headers are written.
func EncodeHeadersTime(m *Message, add func(key, value string), addTime func(key string, t time.Time)) {
	if IsStructured(m.Header) {
		for k, v := range m.Header {
			add(k, v)
		}
		return
	}
	add(HeaderSpecVersion, SpecVersion)
	add(HeaderID, m.ID)
	addTime(HeaderTime, m.Time)
	if !m.DeliverAt.IsZero() {
		add(HeaderDeliverAt, m.DeliverAt.Format(TimeFormat))
	}
	if len(m.Header) == 0 {
		add(HeaderType, DefaultType)
		add(HeaderSource, DefaultSource)
		return
	}
	if _, ok := m.Header[HeaderType]; !ok {
		add(HeaderType, DefaultType)
	}
	if _, ok := m.Header[HeaderSource]; !ok {
		add(HeaderSource, DefaultSource)
	}
	for k, v := range m.Header {
		switch k {
		case HeaderSpecVersion, HeaderID, HeaderTime, HeaderDeliverAt:
			// Written above from the message's own fields.
		default:
			add(k, v)
		}
	}
}

// DecodeHeader applies one wire header to m, the inverse of EncodeHeaders.
// A ce_time that does not parse is kept in Header rather than lost. A
// value given as bytes is copied only when m keeps it, so the constant
// attributes every record carries cost a driver no allocation.
func DecodeHeader[V string | []byte](m *Message, key string, value V) {
	switch key {
	case HeaderSpecVersion:
		return
	case HeaderID:
		m.ID = string(value)
		return
	case HeaderTime:
		if t, ok := ParseTime(string(value)); ok {
			m.Time = t
			return
		}
	case HeaderDeliverAt:
		if t, err := time.Parse(TimeFormat, string(value)); err == nil {
			m.DeliverAt = t
			return
		}
	case HeaderType:
		if string(value) == DefaultType {
			return
		}
	case HeaderSource:
		if string(value) == DefaultSource {
			return
		}
	}
	if m.Header == nil {
		m.Header = make(map[string]string)
	}
	m.Header[key] = string(value)
}
