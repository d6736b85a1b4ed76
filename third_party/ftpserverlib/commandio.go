package ftpserver

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"sync"
)

// ConnLineReader is an optional interface of a control connection (the
// net.Conn a listener hands to the server): ReadLine returns the next
// command line, its line end included or not, in a slice the caller owns,
// or an error, never both.
// The lib then keeps no read buffer of its own for the session, which
// matters for sessions that wait for their next command: a connection
// that reads lines itself can hold no buffer while it waits.
type ConnLineReader interface {
	ReadLine() ([]byte, error)
}

// commandReader reads command lines from the control connection: through
// its ConnLineReader when it has one, else through a bufio.Reader of
// maxCommandSize.
type commandReader struct {
	lines    ConnLineReader
	buffered *bufio.Reader
}

func newCommandReader(conn net.Conn) *commandReader {
	if lines, ok := conn.(ConnLineReader); ok {
		return &commandReader{lines: lines}
	}

	return &commandReader{buffered: bufio.NewReaderSize(conn, maxCommandSize)}
}

// ReadLine is bufio.Reader's ReadLine: the line without its end, and
// isPrefix when the line did not fit maxCommandSize.
func (r *commandReader) ReadLine() ([]byte, bool, error) {
	if r.buffered != nil {
		return r.buffered.ReadLine() //nolint:wrapcheck // the caller sorts read errors
	}

	line, err := r.lines.ReadLine()
	if err != nil {
		return nil, false, err //nolint:wrapcheck // the caller sorts read errors
	}

	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))

	if len(line) > maxCommandSize {
		return line[:maxCommandSize], true, nil
	}

	return line, false, nil
}

// replyWriter gathers what the lib writes on the control connection and
// sends it in one write on Flush, as a bufio.Writer would; unlike one, it
// holds a buffer only from the first write to the flush, so a session
// waiting for its next command holds none.
type replyWriter struct {
	conn io.Writer
	buf  *[]byte // from replyBuffers, nil between replies
}

// replyBuffers are the reply writers' buffers; one that grew past
// maxReplyBuffer is left to the garbage collector.
var replyBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }} //nolint:gochecknoglobals // a pool

const maxReplyBuffer = 64 << 10

func newReplyWriter(conn io.Writer) *replyWriter { return &replyWriter{conn: conn} }

func (w *replyWriter) pending() *[]byte {
	if w.buf == nil {
		w.buf = replyBuffers.Get().(*[]byte) //nolint:forcetypeassert // the pool holds nothing else
	}

	return w.buf
}

// Write adds p to the reply; it never fails.
func (w *replyWriter) Write(p []byte) (int, error) {
	buf := w.pending()
	*buf = append(*buf, p...)

	return len(p), nil
}

// WriteByte adds b to the reply; it never fails.
func (w *replyWriter) WriteByte(b byte) error {
	buf := w.pending()
	*buf = append(*buf, b)

	return nil
}

// Flush sends what was written since the last Flush in one write, and
// lets go of the buffer.
func (w *replyWriter) Flush() error {
	if w.buf == nil {
		return nil
	}

	buf := w.buf
	w.buf = nil

	var err error
	if len(*buf) > 0 {
		_, err = w.conn.Write(*buf)
	}

	if cap(*buf) <= maxReplyBuffer {
		*buf = (*buf)[:0]
		replyBuffers.Put(buf)
	}

	return err //nolint:wrapcheck // the caller logs it
}
