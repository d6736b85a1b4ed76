package acme

import (
	"fmt"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"ftpsd/config"
)

// newDNSProvider builds the provider of [acme] dns_provider.
func newDNSProvider(a config.ACME, logger *zap.Logger) (certmagic.DNSProvider, error) {
	return nil, fmt.Errorf("acme.dns_provider: %q is not built in yet", a.DNSProvider)
}
