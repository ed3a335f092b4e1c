package driver

import "fmt"

// Size is what a message weighs against Capabilities.MaxMessageBytes: its
// payload, key, ID and header keys and values, in bytes.
func (m *Message) Size() int {
	n := len(m.Payload) + len(m.Key) + len(m.ID)
	for k, v := range m.Header {
		n += len(k) + len(v)
	}
	return n
}

// CheckSize returns an error wrapping ErrMessageTooLarge when m is larger
// than limit; a limit of 0 or less means none.
func CheckSize(m *Message, limit int) error {
	if size := m.Size(); limit > 0 && size > limit {
		return fmt.Errorf("%w: %d bytes, the backend takes at most %d", ErrMessageTooLarge, size, limit)
	}
	return nil
}
