package kafka

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"time"
)

// errMisconfigured marks a probe finding that no waiting will change: the
// listener speaks another security protocol than the URL asks for.
var errMisconfigured = errors.New("the security settings do not fit the listener")

// Kafka protocol numbers the probe uses.
const (
	apiSaslHandshake            = 17
	errUnsupportedSaslMechanism = 33
	errIllegalSaslState         = 34
	tlsAlertRecord              = 0x15
)

// probe speaks just enough of the Kafka protocol to one broker address to
// tell why a connection could not work with the URL's security settings,
// which librdkafka only reports as a transport failure once its timeout
// ends: a TLS listener spoken to in plaintext or the reverse, a SASL
// listener without credentials, a plaintext one with them, a SASL
// mechanism the listener does not enable. It sends a SaslHandshake
// request, which a SASL listener answers with its mechanisms and any
// other listener with ILLEGAL_SASL_STATE. Findings wrap errMisconfigured;
// a dial failure is returned as it is; nil means nothing was found wrong.
func probe(ctx context.Context, addr string, c *config) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer raw.Close()
	stop := context.AfterFunc(ctx, func() { raw.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	conn := raw
	if c.tls {
		host, _, _ := net.SplitHostPort(addr)
		// Certificates are librdkafka's to verify, with its own messages:
		// the probe only asks whether the listener speaks TLS at all.
		tc := tls.Client(raw, &tls.Config{ServerName: host, InsecureSkipVerify: true})
		if err := tc.HandshakeContext(ctx); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
				return fmt.Errorf("%w: %s closed the connection during the TLS handshake: it is a plaintext listener, so drop tls and the tls_* parameters or use the broker's TLS port", errMisconfigured, addr)
			}
			return nil // a TLS listener that dislikes us: librdkafka tells why
		}
		conn = tc
	}
	mechanism := c.saslMechanism
	if mechanism == "" {
		mechanism = "PLAIN"
	}
	if _, err := conn.Write(saslHandshakeRequest(mechanism)); err != nil {
		return nil
	}
	r := bufio.NewReader(conn)
	if !c.tls {
		if first, err := r.Peek(1); err == nil && first[0] == tlsAlertRecord {
			return fmt.Errorf("%w: %s answered with a TLS alert: it is a TLS listener, so set tls=true (and tls_ca) or use the broker's plaintext port", errMisconfigured, addr)
		}
	}
	code, mechanisms, err := readSaslHandshakeResponse(r)
	if err != nil {
		return nil // a listener we cannot read: librdkafka tells why
	}
	switch {
	case code == errIllegalSaslState && c.saslMechanism != "":
		return fmt.Errorf("%w: %s is not a SASL listener, yet the URL gives SASL credentials: drop them or use the broker's SASL port", errMisconfigured, addr)
	case code != errIllegalSaslState && c.saslMechanism == "":
		return fmt.Errorf("%w: %s is a SASL listener (mechanisms %s) and the URL gives no credentials: use kafka://user:password@%s or sasl_username and sasl_password", errMisconfigured, addr, strings.Join(mechanisms, ", "), addr)
	case code == errUnsupportedSaslMechanism:
		return fmt.Errorf("%w: %s does not enable SASL mechanism %s, only %s: set sasl_mechanism to one of them", errMisconfigured, addr, c.saslMechanism, strings.Join(mechanisms, ", "))
	}
	return nil
}

func isReset(err error) bool {
	return strings.Contains(err.Error(), "connection reset")
}

// saslHandshakeRequest is a SaslHandshake v1 request: size, request header
// v1 (api key, version, correlation id, client id) and the mechanism.
func saslHandshakeRequest(mechanism string) []byte {
	const clientID = "eventbus-probe"
	b := make([]byte, 4, 64)
	b = binary.BigEndian.AppendUint16(b, apiSaslHandshake)
	b = binary.BigEndian.AppendUint16(b, 1)
	b = binary.BigEndian.AppendUint32(b, 1)
	b = binary.BigEndian.AppendUint16(b, uint16(len(clientID)))
	b = append(b, clientID...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(mechanism)))
	b = append(b, mechanism...)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// readSaslHandshakeResponse reads a SaslHandshake v1 response: size,
// correlation id, error code and the enabled mechanisms.
func readSaslHandshakeResponse(r io.Reader) (code int16, mechanisms []string, err error) {
	var size uint32
	if err := binary.Read(r, binary.BigEndian, &size); err != nil {
		return 0, nil, err
	}
	if size < 10 || size > 4096 {
		return 0, nil, fmt.Errorf("response of %d bytes is not a SaslHandshake response", size)
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, err
	}
	code = int16(binary.BigEndian.Uint16(body[4:]))
	n := int(int32(binary.BigEndian.Uint32(body[6:])))
	rest := body[10:]
	for range max(n, 0) {
		if len(rest) < 2 {
			return 0, nil, errors.New("truncated mechanism list")
		}
		l := int(binary.BigEndian.Uint16(rest))
		if len(rest) < 2+l {
			return 0, nil, errors.New("truncated mechanism name")
		}
		mechanisms = append(mechanisms, string(rest[2:2+l]))
		rest = rest[2+l:]
	}
	slices.Sort(mechanisms)
	return code, mechanisms, nil
}
