package ftpserver

// Patched in (see PATCHES.md): the lines of LIST, NLST and MLSD are
// formatted by appending to one buffer per listing, which is written to
// the data connection when it holds listBufSize bytes, instead of one
// fmt.Fprintf (one write, one TLS record) per line. The lines are the
// release's, byte for byte.

import (
	"io"
	"io/fs"
	"os"
	"strconv"
	"sync"
)

// listBufSize is how much of a listing is written to the data connection
// at once: one full TLS record (the data connection gathers records into
// larger socket writes, see tlsconf/recordbatch); a stalled listing holds
// no more than that besides its TLS buffers.
const listBufSize = 16 << 10

// listBufs holds the buffers of the listings in progress.
var listBufs = sync.Pool{New: func() any { b := make([]byte, 0, listBufSize+1024); return &b }} //nolint:gochecknoglobals

// listWriter gathers the lines of a listing and writes them to w
// listBufSize bytes at a time.
type listWriter struct {
	w   io.Writer
	bp  *[]byte
	buf []byte
}

func newListWriter(w io.Writer) *listWriter {
	bp, _ := listBufs.Get().(*[]byte)

	return &listWriter{w: w, bp: bp, buf: (*bp)[:0]}
}

// line ends the line appended to l.buf and writes the buffer when it is
// full.
func (l *listWriter) line() error {
	l.buf = append(l.buf, '\r', '\n')
	if len(l.buf) < listBufSize {
		return nil
	}

	return l.flush()
}

// flush writes what the buffer holds.
func (l *listWriter) flush() error {
	if len(l.buf) == 0 {
		return nil
	}

	_, err := l.w.Write(l.buf)
	l.buf = l.buf[:0]

	return err
}

// release returns the buffer to the pool (a buffer grown by a very long
// name is dropped).
func (l *listWriter) release() {
	if cap(l.buf) <= 2*listBufSize {
		*l.bp = l.buf[:0]
		listBufs.Put(l.bp)
	}

	l.bp, l.buf = nil, nil
}

// writeListing writes the lines of files, each formatted by appendLine,
// to writer through a listWriter, and returns how many it formatted. An
// error of writing is wrapped by wrapWrite; what is formatted before an
// error of files is written before it is returned.
func writeListing(
	writer io.Writer,
	files DirStream,
	appendLine func([]byte, os.FileInfo) []byte,
	wrapWrite func(error) error,
) (int, error) {
	lines := newListWriter(writer)
	defer lines.release()

	var errWrite error

	written, err := eachEntry(files, func(file os.FileInfo) error {
		lines.buf = appendLine(lines.buf, file)
		if errWrite = lines.line(); errWrite != nil {
			return wrapWrite(errWrite)
		}

		return nil
	})
	if errWrite == nil {
		if errWrite = lines.flush(); errWrite != nil && err == nil {
			err = wrapWrite(errWrite)
		}
	}

	return written, err
}

// appendFileStat appends the LIST line of file (without its end), that of
// the release's fmt.Sprintf("%s 1 %s %s %12d %s %s", mode, fakeUser,
// fakeGroup, size, time, name).
func (c *clientHandler) appendFileStat(buf []byte, file os.FileInfo) []byte {
	modTime := file.ModTime()

	dateFormat := dateFormatStatTime
	if c.connectedAt.Sub(modTime) > dateFormatStatOldSwitch {
		dateFormat = dateFormatStatYear
	}

	buf = appendMode(buf, file.Mode())
	buf = append(buf, " 1 "+fakeUser+" "+fakeGroup+" "...)
	buf = appendPadded(buf, file.Size(), 12) //nolint:mnd // %12d
	buf = append(buf, ' ')
	buf = modTime.AppendFormat(buf, dateFormat)
	buf = append(buf, ' ')

	return append(buf, file.Name()...)
}

// appendMLSxEntry appends the MLSD line of file (without its end), that
// of the release's fmt.Sprintf("Type=%s;Size=%d;Modify=%s; %s", ...).
func appendMLSxEntry(buf []byte, file os.FileInfo) []byte {
	if file.IsDir() {
		buf = append(buf, "Type=dir;Size="...)
	} else {
		buf = append(buf, "Type=file;Size="...)
	}

	buf = strconv.AppendInt(buf, file.Size(), 10)
	buf = append(buf, ";Modify="...)
	buf = file.ModTime().UTC().AppendFormat(buf, dateFormatMLSD)
	buf = append(buf, "; "...)

	return append(buf, file.Name()...)
}

// appendPadded appends n right-aligned in width characters, as %<width>d.
func appendPadded(buf []byte, n int64, width int) []byte {
	var digits [24]byte

	s := strconv.AppendInt(digits[:0], n, 10)
	for i := len(s); i < width; i++ {
		buf = append(buf, ' ')
	}

	return append(buf, s...)
}

// appendMode appends m as fs.FileMode.String writes it.
func appendMode(buf []byte, m fs.FileMode) []byte {
	const str = "dalTLDpSugct?"

	start := len(buf)

	for i, c := range str {
		if m&(1<<uint(32-1-i)) != 0 {
			buf = append(buf, byte(c))
		}
	}

	if len(buf) == start {
		buf = append(buf, '-')
	}

	const rwx = "rwxrwxrwx"

	for i, c := range rwx {
		if m&(1<<uint(9-1-i)) != 0 {
			buf = append(buf, byte(c))
		} else {
			buf = append(buf, '-')
		}
	}

	return buf
}
