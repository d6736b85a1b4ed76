package ldapauth_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"ftpsd/auth"
	"ftpsd/internal/ldaptest"
)

// BenchmarkChainLDAP: password checks through the chain of the LDAP
// source alone (slapd on loopback over ldaps), one at a time, with
// cache_ttl off and on; reports logins/s.
func BenchmarkChainLDAP(b *testing.B) {
	srv := ldaptest.New(b)
	for _, ttl := range []time.Duration{0, time.Minute} {
		b.Run(fmt.Sprintf("cache_ttl=%v", ttl), func(b *testing.B) {
			s, _ := source(b, options(srv))
			chain := auth.NewChain([]auth.Source{s}, auth.Options{CacheTTL: ttl})
			req := auth.Request{User: "alice", Password: ldaptest.Password("alice")}
			if _, err := chain.Authenticate(context.Background(), req); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := chain.Authenticate(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "logins/s")
		})
	}
}
