package pulsar

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// reach checks, within ctx (bounded by the connection timeout when ctx has
// no deadline), that a broker of the service URL can be reached the way
// the URL says: a TCP connection, and for pulsar+ssl:// a TLS handshake.
// pulsar-client-go connects only on first use and then retries for its
// operation timeout, ignoring the caller's ctx; this makes a wrong address
// or a plaintext port given as pulsar+ssl:// fail Open at once, naming the
// address. Certificates are the client's to verify: the handshake only
// asks whether the listener speaks TLS.
func (c *config) reach(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.connectionTimeout)
		defer cancel()
	}
	scheme, hosts, _ := strings.Cut(c.serviceURL, "://")
	var errs []error
	for {
		errs = errs[:0]
		for _, addr := range strings.Split(hosts, ",") {
			err := reachOne(ctx, addr, scheme == "pulsar+ssl")
			if err == nil {
				return nil
			}
			var wrong *wrongProtocolError
			if errors.As(err, &wrong) {
				return err
			}
			errs = append(errs, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no broker reached before %w: %w", ctx.Err(), errors.Join(errs...))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// wrongProtocolError reports a listener that speaks plaintext where the URL
// asks for TLS.
type wrongProtocolError struct{ addr string }

func (e *wrongProtocolError) Error() string {
	return fmt.Sprintf("%s closed the connection during the TLS handshake: it is a plaintext port; use pulsar:// for it, or the broker's TLS port (brokerServicePortTls, 6651 by default) with pulsar+ssl://", e.addr)
}

func reachOne(ctx context.Context, addr string, useTLS bool) error {
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	if !useTLS {
		return nil
	}
	host, _, _ := net.SplitHostPort(addr)
	// Only asks whether the port speaks TLS: verifying is the client's job.
	tc := tls.Client(conn, &tls.Config{ServerName: host, InsecureSkipVerify: true})
	switch err := tc.HandshakeContext(ctx); {
	case err == nil:
		return nil
	case errors.Is(err, io.EOF) || strings.Contains(err.Error(), "connection reset"):
		return &wrongProtocolError{addr}
	case ctx.Err() != nil:
		return fmt.Errorf("%s: TLS handshake: %w", addr, err)
	}
	return nil // a TLS listener that dislikes us: the client tells why
}
