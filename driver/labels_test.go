package driver_test

import (
	"testing"

	"ftpsd/control"
	"ftpsd/metrics"
)

// TestRefusalLabels: the reasons control reports for refused connections
// are the label values the metrics pre-register.
func TestRefusalLabels(t *testing.T) {
	if control.CapMaxConnections != metrics.RefusedMaxConnections || control.CapMaxPerIP != metrics.RefusedMaxPerIP {
		t.Fatalf("control reports %q/%q, metrics label %q/%q", control.CapMaxConnections, control.CapMaxPerIP,
			metrics.RefusedMaxConnections, metrics.RefusedMaxPerIP)
	}
}
