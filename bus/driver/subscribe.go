package driver

import (
	"crypto/rand"
	"fmt"
)

// UnknownOption is the error for a driver option, passed through
// bus.DriverOption, that the driver does not take: it names the option's
// type, such as another driver's option, and wraps ErrUnsupported.
func UnknownOption(opt any) error {
	return fmt.Errorf("unknown driver option %T: %w", opt, ErrUnsupported)
}

// EphemeralGroup names the backend group (or subscription) that stands
// for a subscription without a group: unique to it, and recognisable as
// eventbus's in the backend's tools.
func EphemeralGroup() string { return "eventbus-ephemeral-" + rand.Text() }
