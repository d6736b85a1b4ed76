package acme

import (
	"fmt"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"ftpsd/acme/dnsprovider"
	"ftpsd/config"
)

// newDNS01Solver builds the DNS-01 solver of [acme]: the provider of
// dns_provider, wrapped so that the CA is told to validate only once every
// authoritative server of the zone (or every one of dns_resolvers) serves
// the record, within propagation_timeout. certmagic's own check, which is
// satisfied by the first server, is off.
func newDNS01Solver(a config.ACME, logger *zap.Logger) (*certmagic.DNS01Solver, error) {
	var provider dnsprovider.Provider
	switch a.DNSProvider {
	case config.DNSRFC2136:
		r := a.RFC2136
		secret, err := dnsprovider.CheckSecretFile(r.TSIGSecretFile)
		if err != nil {
			return nil, fmt.Errorf("acme.rfc2136.tsig_secret_file: %w", err)
		}
		if provider, err = dnsprovider.NewRFC2136(dnsprovider.RFC2136Options{
			Nameserver: r.Nameserver, Zone: r.Zone, KeyName: r.TSIGKeyName, Algorithm: r.TSIGAlgorithm, Secret: secret,
		}); err != nil {
			return nil, fmt.Errorf("acme.rfc2136: %w", err)
		}
	case config.DNSExec:
		p, err := dnsprovider.NewExec(dnsprovider.ExecOptions{Command: a.Exec.Command, Logger: logger.Named("exec")})
		if err != nil {
			return nil, fmt.Errorf("acme.exec.command: %w", err)
		}
		provider = p
	default:
		return nil, fmt.Errorf("acme.dns_provider: %q is not one of \"rfc2136\", \"exec\"", a.DNSProvider)
	}
	provider = dnsprovider.WaitPropagated(provider, dnsprovider.PropagationOptions{
		Servers: a.DNSResolvers, Timeout: a.PropagationTimeout.Std(), Logger: logger.Named("propagation"),
	})
	return &certmagic.DNS01Solver{DNSManager: certmagic.DNSManager{
		DNSProvider:        provider,
		Resolvers:          a.DNSResolvers,
		PropagationTimeout: -1, // WaitPropagated's check instead
		Logger:             logger.Named("certmagic"),
	}}, nil
}
