package control

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/zap"
)

// readAll drives Conn.Read on a scripted clear-text stream the way the lib
// does and returns the lines handed out.
func readAll(t *testing.T, chunks [][]byte) ([][]byte, *scriptConn) {
	raw := &scriptConn{chunks: chunks}
	c, _ := newConn(raw, &Options{Registry: NewRegistry(), Logger: zap.NewNop()})
	var lines [][]byte
	var cur []byte
	buf := make([]byte, 7) // small reads: a line may take several calls
	for {
		n, err := c.Read(buf)
		cur = append(cur, buf[:n]...)
		for {
			i := bytes.IndexByte(cur, '\n')
			if i < 0 {
				break
			}
			lines = append(lines, cur[:i+1])
			cur = cur[i+1:]
		}
		if err != nil {
			break
		}
	}
	if len(cur) != 0 {
		t.Fatalf("Read handed out a partial line %q", cur)
	}
	return lines, raw
}

// expectedLines is what the conn must pass on: complete, well-formed lines
// that are not its own commands, up to the first fatal one.
func expectedLines(data []byte) [][]byte {
	var want [][]byte
	bad := 0
	epsvAll := false
	for {
		if len(data) > 0 && data[0] == recordTypeHandshake {
			return want // a TLS record on the clear port: dropped
		}
		i := bytes.IndexByte(data, '\n')
		if i < 0 || i+1 > MaxLineLength {
			return want
		}
		line := data[:i+1]
		data = data[i+1:]
		if !validLine(line) {
			if bad++; bad >= maxBadLines {
				return want
			}
			continue
		}
		bad = 0
		verb, param := splitCommand(line)
		switch verb {
		case "AUTH":
			return want // the stream is not TLS: the handshake fails
		case "PBSZ", "PROT":
			continue // refused with 503
		case "CCC":
			continue // answered by the conn (533 on a clear channel)
		}
		out, answered := dataSetupModel(verb, param, &epsvAll)
		if answered {
			continue
		}
		if out != nil {
			line = out
		}
		want = append(want, line)
	}
}

// dataSetupModel is what the conn does, before login and from an IPv4
// client (scriptConn), with a data command: it answers EPSV ALL, an EPSV
// of another or no protocol, PASV/PORT/EPRT after EPSV ALL, and a
// PORT/EPRT whose address does not parse, is not IPv4 or names a port
// below 1024 (answered reports those); it hands the lib a PORT/EPRT it
// accepts rewritten to the address it checked (out).
func dataSetupModel(verb, param string, epsvAll *bool) (out []byte, answered bool) {
	switch verb {
	case "EPSV":
		if strings.EqualFold(param, "ALL") {
			*epsvAll = true
			return nil, true
		}
		return nil, param != "" && !isNumber(param, protocolIPv4)
	case "PASV":
		return nil, *epsvAll
	case "PORT", "EPRT":
		ap, ok := parseActive(verb, param)
		if *epsvAll || !ok || netProtocol(ap.Addr()) != protocolIPv4 || ap.Port() < minActivePort {
			return nil, true
		}
		return activeLine(verb, ap), false
	}
	return nil, false
}

// isNumber reports whether param reads as n the way the conn reads it
// (strconv.Atoi: "1", "01", "+1").
func isNumber(param string, n int) bool {
	v, err := strconv.Atoi(param)
	return err == nil && v == n
}

func FuzzControlLineReader(f *testing.F) {
	f.Add([]byte("USER alice\r\nPASS x\r\nPWD\r\n"), uint8(3))
	f.Add([]byte("NOOP\r\nPBSZ 0\r\nPROT P\r\nLIST\r\n"), uint8(1))
	f.Add([]byte("NO\x00OP\r\nQUIT\r\n"), uint8(5))
	f.Add([]byte("\x16\x03\x01\x00\x05hello"), uint8(2))
	f.Add(append(bytes.Repeat([]byte("A"), MaxLineLength), '\n'), uint8(200))
	f.Fuzz(func(t *testing.T, data []byte, step uint8) {
		if len(data) > 3*MaxLineLength {
			return
		}
		var cuts []int
		for c := 1 + int(step); c < len(data); c += 1 + int(step) {
			cuts = append(cuts, c)
		}
		got, _ := readAll(t, split(data, cuts))
		want := expectedLines(data)
		if len(got) != len(want) {
			t.Fatalf("got %d lines, want %d", len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("line %d: got %.80q, want %.80q", i, got[i], want[i])
			}
		}
	})
}
