package control

import (
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestActiveAddressIsCheckedAndCanonical: PORT and EPRT reach the lib only
// with an address the policy parsed, written one way, so that the lib's
// own parser (PORT bytes up to 999, EPRT split on "|" only) cannot read
// another port than the one checked.
func TestActiveAddressIsCheckedAndCanonical(t *testing.T) {
	s := startEcho(t, false)
	c := dial(t, s.addr)
	cmd(t, c, "PORT 127,0,0,1,0,999", "501") // the lib read port 999
	cmd(t, c, "PORT 127,0,0,1,3,255", "504") // 1023
	cmd(t, c, "PORT 127,0,0,1,4,0", "200 got PORT 127,0,0,1,4,0")
	cmd(t, c, "PORT 127,0,0,1,+4,1", "200 got PORT 127,0,0,1,4,1")
	cmd(t, c, "EPRT !|2|::1|80|!127.0.0.1!2000!", "200 got EPRT |1|127.0.0.1|2000|") // the lib read [::1]:80
	cmd(t, c, "EPRT |2|::1|2000|", "522")                                            // IPv6 on an IPv4 control connection (FuzzActiveAddress writes IPv6 ones)
	cmd(t, c, "EPRT |2|fe80::1%eth0|2000|", "501")
	cmd(t, c, "EPRT |1|127.0.0.1|80|", "504")
}

// libActive models how ftpserverlib v0.32.3 reads PORT and EPRT
// (parsePORTAddr, parseEPRTAddr in its transfer_active.go), without the
// DNS lookup its net.ResolveTCPAddr would make of a host that is not an
// IP address (reported as ok = false here).
func libActive(verb, param string) (ip net.IP, port int, ok bool) {
	if verb == "PORT" {
		if !libPORTRegex.MatchString(param) {
			return nil, 0, false
		}
		p := strings.Split(param, ",")
		hi, err1 := strconv.Atoi(p[4])
		lo, err2 := strconv.Atoi(p[5])
		ip = net.ParseIP(strings.Join(p[0:4], "."))
		port = hi<<8 + lo
		return ip, port, err1 == nil && err2 == nil && ip != nil && port <= 65535
	}
	p := strings.Split(param, "|")
	if len(p) != 5 || (p[1] != "1" && p[1] != "2") {
		return nil, 0, false
	}
	port, err := strconv.Atoi(p[3])
	ip = net.ParseIP(p[2])
	return ip, port, err == nil && port > 0 && port <= 65535 && ip != nil
}

var libPORTRegex = regexp.MustCompile(`^([0-9]{1,3},){5}[0-9]{1,3}$`)

// FuzzActiveAddress: whatever the client writes, a PORT or EPRT the policy
// lets through reaches the lib as a line the lib reads as the same address
// and port, at or above minActivePort.
func FuzzActiveAddress(f *testing.F) {
	for _, seed := range []string{
		"PORT 127,0,0,1,4,0", "PORT 127,0,0,1,0,999", "PORT 1,2,3,4,5,6", "PORT 127, 0,0,1,4,0",
		"EPRT |1|127.0.0.1|2000|", "EPRT |2|::1|2000|", "EPRT !|2|::1|80|!127.0.0.1!2000!",
		"EPRT |2|::ffff:127.0.0.1|2000|", "EPRT ||||", "PORT +1,2,3,4,5,6",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, command string) {
		verb, param := splitCommand([]byte(command))
		if verb != "PORT" && verb != "EPRT" {
			return
		}
		ap, ok := parseActive(verb, param)
		if !ok || ap.Port() < minActivePort {
			return // answered 501 or 504 by the conn
		}
		line := strings.TrimSuffix(string(activeLine(verb, ap)), "\r\n")
		libVerb, libParam := splitCommand([]byte(line))
		ip, port, libOK := libActive(libVerb, libParam)
		if !libOK {
			t.Fatalf("%q passed as %q, which the lib does not read", command, line)
		}
		got, _ := netip.AddrFromSlice(ip)
		if got.Unmap() != ap.Addr() || port != int(ap.Port()) {
			t.Fatalf("%q checked as %v, the lib reads %q as %v:%d", command, ap, line, got, port)
		}
		if again, ok := parseActive(libVerb, libParam); !ok || again != ap {
			t.Fatalf("%q: the canonical %q parses to %v, %v", command, line, again, ok)
		}
	})
}
