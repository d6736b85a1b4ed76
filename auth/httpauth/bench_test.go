package httpauth_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"ftpsd/auth"
	"ftpsd/auth/httpauth"
	"ftpsd/internal/authtest"
)

// BenchmarkChainHTTP: password checks through the chain of one HTTP
// source (a real TLS service on loopback, connections kept alive), with
// cache_ttl off and on, without FTP around them; reports checks/s.
func BenchmarkChainHTTP(b *testing.B) {
	for _, ttl := range []time.Duration{0, time.Minute} {
		b.Run(fmt.Sprintf("cache_ttl=%v", ttl), func(b *testing.B) {
			svc := authtest.Start(b)
			svc.Set("bob", "bob-pw", nil)
			opts, err := httpauth.FromConfig(svc.Config())
			if err != nil {
				b.Fatal(err)
			}
			chain := auth.NewChain([]auth.Source{httpauth.New(opts)}, auth.Options{CacheTTL: ttl})
			defer chain.Close()
			req := auth.Request{User: "bob", Password: "bob-pw"}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := chain.Authenticate(context.Background(), req); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "checks/s")
		})
	}
}
