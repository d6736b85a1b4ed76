package metrics

import "github.com/prometheus/client_golang/prometheus"

// RegisterBuildInfo adds ftpsd_build_info, a gauge of 1 whose labels say
// which build runs: its version, the commit it was built from and the Go
// version. Prometheus joins it to other series to tell the nodes of a
// rolling upgrade apart.
func (m *Metrics) RegisterBuildInfo(version, commit, goVersion string) {
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "ftpsd_build_info",
		Help:        "Always 1; the labels name the running build (version, commit, go_version).",
		ConstLabels: prometheus.Labels{"version": version, "commit": commit, "go_version": goVersion},
	})
	g.Set(1)
	m.reg.MustRegister(g)
}
