package driver

import (
	"fmt"
	"net/url"
)

// URLShape is what a driver's URLs hold before the query: a host list or
// none, user info or none, and never a path.
type URLShape struct {
	// Host requires one or more comma-separated addresses; without it the
	// URL must have none.
	Host bool
	// User allows user info (user:password@), which the driver then
	// treats as a secret.
	User bool
	// Want is the form to show in errors, such as
	// "kafka://host:port[,host:port...]".
	Want string
}

// Check returns an error wrapping ErrInvalidURL that names the first part
// of u the shape does not take. It never shows user info.
func (s URLShape) Check(u *url.URL) error {
	switch {
	case s.Host && u.Host == "":
		return fmt.Errorf("%w: %s://: no host (want %s)", ErrInvalidURL, u.Scheme, s.Want)
	case !s.Host && u.Host != "":
		return fmt.Errorf("%w: %s://: takes no host, got %q (want %s)", ErrInvalidURL, u.Scheme, u.Host, s.Want)
	case !s.User && u.User != nil:
		return fmt.Errorf("%w: %s://: user info is not supported (want %s)", ErrInvalidURL, u.Scheme, s.Want)
	case u.Path != "" && u.Path != "/":
		return fmt.Errorf("%w: %s://%s: unexpected path %q (want %s)", ErrInvalidURL, u.Scheme, u.Host, u.Path, s.Want)
	}
	return nil
}
