package bustest

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// FuzzURL fuzzes a driver's URL parser, parse, from seeds: it must not
// panic, every failure must wrap driver.ErrInvalidURL, and the value of
// secretParam, added to the query, must never show in an error.
//
//	func FuzzParseConfig(f *testing.F) {
//		bustest.FuzzURL(f, "password", seeds, func(u *url.URL) error { _, err := parseConfig(u); return err })
//	}
func FuzzURL(f *testing.F, secretParam string, seeds []string, parse func(u *url.URL) error) {
	for _, seed := range seeds {
		f.Add(seed, "Secret-42")
	}
	f.Fuzz(func(t *testing.T, raw, secret string) {
		u, err := url.Parse(raw)
		if err != nil {
			return
		}
		// A secret short enough to appear by chance, or one the URL holds
		// elsewhere, proves nothing.
		checkSecret := len(secret) >= 6 && !strings.Contains(raw, secret)
		if checkSecret {
			u.RawQuery += "&" + secretParam + "=" + url.QueryEscape(secret)
		}
		err = parse(u)
		if err == nil {
			return
		}
		if !errors.Is(err, driver.ErrInvalidURL) {
			t.Fatalf("%q: %v does not wrap ErrInvalidURL", raw, err)
		}
		if checkSecret && strings.Contains(err.Error(), secret) {
			t.Fatalf("%q: the %s shows in %v", raw, secretParam, err)
		}
	})
}
