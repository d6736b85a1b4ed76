package probe

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Verdict is the outcome of one step.
type Verdict string

// The verdicts. Only Fail makes the report fail.
const (
	OK      Verdict = "ok"
	Warn    Verdict = "warn"
	Fail    Verdict = "fail"
	Skipped Verdict = "skipped"
)

// The steps, in the order they run and are reported.
const (
	StepTCP         = "tcp"         // TCP reach of the control port and the 220 greeting
	StepTLS         = "tls"         // AUTH TLS (explicit) or the handshake (implicit)
	StepCertificate = "certificate" // chain, name, days to expiry
	StepLogin       = "login"       // USER and PASS
	StepProtection  = "protection"  // PBSZ 0 and PROT P
	StepEPSV        = "epsv"        // EPSV: the port announced
	StepPASV        = "pasv"        // PASV: the address announced against the one connected to
	StepData        = "data"        // a listing over a data connection to the announced port
	StepResumption  = "resumption"  // TLS session resumption on the data connection
	StepTransfer    = "transfer"    // upload and download with checksums (-path)
	StepCCC         = "ccc"         // CCC, when FEAT offers it
	StepCCCData     = "ccc_data"    // a PASV data connection after CCC
)

// stepOrder lists every step in report order.
var stepOrder = []string{StepTCP, StepTLS, StepCertificate, StepLogin, StepProtection, StepEPSV, StepPASV,
	StepData, StepResumption, StepTransfer, StepCCC, StepCCCData}

// Step is the verdict of one step, what was seen and, unless it is ok,
// what to do about it.
type Step struct {
	Name    string  `json:"step"`
	Verdict Verdict `json:"verdict"`
	Detail  string  `json:"detail"`
	Remedy  string  `json:"remedy,omitempty"`
}

// Report is the outcome of a probe.
type Report struct {
	// Target is the server probed, as given (without the password).
	Target string `json:"target"`
	// Address is the address the control connection reached.
	Address string `json:"address,omitempty"`
	// Insecure is set when -insecure accepted any certificate.
	Insecure bool   `json:"insecure"`
	Steps    []Step `json:"steps"`
}

// Failed reports whether a step failed.
func (r *Report) Failed() bool {
	for _, s := range r.Steps {
		if s.Verdict == Fail {
			return true
		}
	}
	return false
}

// Step returns the step named name (the zero Step when absent).
func (r *Report) Step(name string) Step {
	for _, s := range r.Steps {
		if s.Name == name {
			return s
		}
	}
	return Step{}
}

// WriteJSON writes the report as one indented JSON document.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(r); err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	return nil
}

// WriteText writes the report for a person: one line a step, its detail
// and remedy indented below, and a summary.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "ftpsd probe %s", r.Target)
	if r.Address != "" {
		fmt.Fprintf(&b, " (%s)", r.Address)
	}
	b.WriteString("\n")
	if r.Insecure {
		b.WriteString("WARNING: -insecure: the certificate is accepted whatever it is; the password may go to an impostor.\n")
	}
	counts := map[Verdict]int{}
	for _, s := range r.Steps {
		counts[s.Verdict]++
		fmt.Fprintf(&b, "%-9s %-11s %s\n", "["+string(s.Verdict)+"]", s.Name, s.Detail)
		if s.Remedy != "" {
			fmt.Fprintf(&b, "%-21s remedy: %s\n", "", s.Remedy)
		}
	}
	fmt.Fprintf(&b, "%d ok, %d warn, %d fail, %d skipped\n", counts[OK], counts[Warn], counts[Fail], counts[Skipped])
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write the report: %w", err)
	}
	return nil
}
