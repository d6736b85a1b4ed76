package metrics

import "github.com/prometheus/client_golang/prometheus"

// Results of ftpsd_acme_renewals_total.
const (
	ACMESuccess = "success"
	ACMEFailure = "failure"
)

// RegisterACMERenewals adds ftpsd_acme_renewals_total{result}, both
// results at 0, and returns the function that counts one attempt to
// obtain or renew a certificate from the ACME CA (ACMESuccess or
// ACMEFailure).
func (m *Metrics) RegisterACMERenewals() func(result string) {
	renewals := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ftpsd_acme_renewals_total",
		Help: "Attempts to obtain or renew a certificate from the ACME CA, by result (success, failure).",
	}, []string{"result"})
	m.reg.MustRegister(renewals)
	for _, r := range []string{ACMESuccess, ACMEFailure} {
		renewals.WithLabelValues(r)
	}
	return func(result string) { renewals.WithLabelValues(result).Inc() }
}
