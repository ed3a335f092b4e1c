package pulsar

import (
	"fmt"

	"github.com/apache/pulsar-client-go/pulsaradmin"

	"github.com/eventbus-go/eventbus/bus/driver"
)

// newAdmin returns a client of the admin REST API at c.adminURL,
// authenticated like the broker client, or nil when there is none.
func (c *config) newAdmin() (pulsaradmin.Client, error) {
	if c.adminURL == "" {
		return nil, nil
	}
	admin, err := pulsaradmin.NewClient(&pulsaradmin.Config{
		WebServiceURL:                 c.adminURL,
		Token:                         c.token,
		TokenFile:                     c.tokenFile,
		TLSTrustCertsFilePath:         c.tlsTrustCertsFile,
		TLSAllowInsecureConnection:    c.tlsAllowInsecureConnection,
		TLSEnableHostnameVerification: c.tlsValidateHostname,
		TLSCertFile:                   c.tlsCertFile,
		TLSKeyFile:                    c.tlsKeyFile,
	})
	if err != nil {
		// The error may repeat the configuration: say only what failed.
		return nil, fmt.Errorf("%w: pulsar: cannot make the admin client for adminURL (%T)", driver.ErrInvalidURL, err)
	}
	return admin, nil
}
