package control

import (
	"bytes"
	"encoding/binary"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"
)

// scriptConn is a net.Conn whose reads come from a script, in the chunks
// given, and whose writes are kept.
type scriptConn struct {
	chunks [][]byte
	out    bytes.Buffer
	writes []string // each Write, in order
}

func (c *scriptConn) Read(p []byte) (int, error) {
	for len(c.chunks) > 0 && len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
	}
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	return n, nil
}

func (c *scriptConn) Write(p []byte) (int, error) {
	c.writes = append(c.writes, string(p))
	return c.out.Write(p)
}
func (c *scriptConn) Close() error        { return nil }
func (c *scriptConn) LocalAddr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 21} }
func (c *scriptConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *scriptConn) SetDeadline(time.Time) error      { return nil }
func (c *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (c *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// record builds one TLS-shaped record with a body of n bytes.
func record(typ byte, body []byte) []byte {
	r := []byte{typ, 3, 3, 0, 0}
	binary.BigEndian.PutUint16(r[3:], uint16(len(body)))
	return append(r, body...)
}

// split cuts data into chunks at the given points.
func split(data []byte, cuts []int) [][]byte {
	var chunks [][]byte
	prev := 0
	for _, c := range cuts {
		if c > prev && c < len(data) {
			chunks = append(chunks, data[prev:c])
			prev = c
		}
	}
	return append(chunks, data[prev:])
}

// checkRecordReader reads records through the reader with reads of
// random sizes and checks that no read crosses a record boundary and that
// what follows the records stays in the wire.
func checkRecordReader(t *testing.T, records [][]byte, tail []byte, cuts []int, seed uint64) {
	t.Helper()
	stream := bytes.Join(append(append([][]byte{}, records...), tail), nil)
	w := &wire{conn: &scriptConn{chunks: split(stream, cuts)}}
	r := &recordReader{w: w}
	rng := rand.New(rand.NewPCG(seed, 1))
	for i, rec := range records {
		var got []byte
		for len(got) < len(rec) {
			p := make([]byte, 1+rng.IntN(len(rec)+8))
			n, err := r.Read(p)
			if err != nil {
				t.Fatalf("record %d: read after %d bytes: %v", i, len(got), err)
			}
			got = append(got, p[:n]...)
		}
		if !bytes.Equal(got, rec) {
			t.Fatalf("record %d: got %x, want %x", i, got, rec)
		}
	}
	// Whatever follows the last record must be left for the clear-text reader.
	for len(w.buf) < len(tail) {
		if err := w.fill(); err != nil {
			break
		}
	}
	if !bytes.Equal(w.buf, tail) {
		t.Fatalf("after records the wire holds %q, want %q", w.buf, tail)
	}
}

func TestRecordReaderStopsAtRecordBoundary(t *testing.T) {
	alert := record(21, []byte{1, 0}) // close_notify
	cases := []struct {
		name    string
		records [][]byte
		tail    []byte
		cuts    []int
	}{
		{"one segment", [][]byte{alert}, []byte("PBSZ 0\r\n"), nil},
		{"header split", [][]byte{alert}, []byte("PWD\r\n"), []int{2, 4}},
		{"two records then text", [][]byte{record(23, bytes.Repeat([]byte{7}, 300)), alert}, []byte("PASV\r\n"), []int{100, 305}},
		{"empty body", [][]byte{record(23, nil), alert}, []byte("NOOP\r\n"), []int{5}},
		{"byte by byte", [][]byte{alert}, []byte("LIST\r\n"), []int{1, 2, 3, 4, 5, 6, 7, 8}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkRecordReader(t, tc.records, tc.tail, tc.cuts, 1)
		})
	}
}

func FuzzRecordReader(f *testing.F) {
	f.Add([]byte{23, 1, 2, 3}, []byte("PASV\r\n"), uint16(3), uint64(1))
	f.Add([]byte{}, []byte("QUIT\r\n"), uint16(1), uint64(2))
	f.Add(bytes.Repeat([]byte{0xaa}, 600), []byte{}, uint16(200), uint64(3))
	f.Fuzz(func(t *testing.T, bodies, tail []byte, step uint16, seed uint64) {
		// Turn the bodies into records of lengths taken from the data.
		var records [][]byte
		for len(bodies) > 0 {
			n := int(bodies[0]) % (len(bodies))
			records = append(records, record(23, bodies[1:1+n]))
			bodies = bodies[1+n:]
		}
		total := len(tail)
		for _, r := range records {
			total += len(r)
		}
		var cuts []int
		for c := 1 + int(step)%17; c < total; c += 1 + int(step)%17 {
			cuts = append(cuts, c)
		}
		checkRecordReader(t, records, tail, cuts, seed)
	})
}
