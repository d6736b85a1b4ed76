package s3fs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path"

	"github.com/minio/minio-go/v7"
)

// Upload is a new content of an object, streamed to the store while it is
// written: one PUT when it is smaller than a part (Options.PartSize), else
// a multipart upload whose parts are sent concurrently (see multipart).
// The object changes only when Close completes the upload; after
// TransferError, or a failed Write, Close aborts it and the object stays
// as it was. Write and Close are for one goroutine.
type Upload struct {
	refusals // reads, seeks and listings
	w        *io.PipeWriter
	name     string
	cancel   context.CancelFunc
	done     chan struct{}
	err      error // PutObject's, once done is closed
	failed   error // why the upload must not complete
}

// Upload starts the new content of name, whose parent must be a directory
// and which must not be one. It reserves a part's worth of
// Options.MaxUploadMemory until the upload ended (the multipart upload
// takes more while there is room), and fails with ErrUploadMemory when
// the uploads in flight hold it all.
func (fs *Fs) Upload(name string) (*Upload, error) {
	if info, err := fs.Stat(name); err == nil && info.IsDir() {
		return nil, pathError("open", name, errIsDir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := fs.wantParentDir("open", name); err != nil {
		return nil, err
	}
	// The client chooses the size after the 150: the whole part is
	// reserved now, and given back when the store lets go of it.
	if !fs.budget.take(fs.partSize) {
		return nil, pathError("open", name, ErrUploadMemory)
	}
	r, w := io.Pipe()
	// The upload lasts as long as the client sends; each of its requests
	// is bounded by the transport.
	ctx, cancel := context.WithCancel(context.Background())
	u := &Upload{refusals: refusals{name, errWriteOnly}, w: w, name: name, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(u.done)
		defer fs.budget.give(fs.partSize) // before done: Close returns after it
		u.err = fs.store(ctx, fs.key(name), r, func(err error) { r.CloseWithError(err) })
		r.CloseWithError(u.err)
	}()
	return u, nil
}

// store writes the data r gives to key: less than a part in one PUT, more
// as a multipart upload (see multipart). An error of r other than io.EOF
// stores nothing; stop ends r early, when a part failed.
func (fs *Fs) store(ctx context.Context, key string, r io.Reader, stop func(error)) error {
	// The first part is read into a small buffer, and into a whole part
	// only when more comes: a small upload allocates little.
	first, err := readFirstPart(r, fs.partSize)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF: // the pipe's own end: all data is in first
		opts := minio.PutObjectOptions{ContentType: contentType}
		_, err = fs.client.PutObject(ctx, fs.bucket, key, bytes.NewReader(first), int64(len(first)), opts)
		return err
	case err != nil:
		return err
	}
	return fs.multipart(ctx, key, first, r, stop)
}

// smallPart is the buffer a new upload starts with.
const smallPart = 64 << 10

// readFirstPart reads up to size bytes of r: into smallPart bytes first,
// then into one buffer of size. Its error is io.ReadFull's: io.EOF or
// io.ErrUnexpectedEOF when r ended within the part.
func readFirstPart(r io.Reader, size int64) ([]byte, error) {
	buf := make([]byte, min(size, smallPart))
	n, err := io.ReadFull(r, buf)
	if err != nil || int64(n) == size {
		return buf[:n], err
	}
	part := make([]byte, size)
	copy(part, buf)
	m, err := io.ReadFull(r, part[n:])
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return part[:n+m], err
}

// errAborted ends the data of a failed upload.
var errAborted = errors.New("upload aborted")

// Name returns the name the upload was opened with.
func (u *Upload) Name() string { return u.name }

// Stat reports the object as it will be: its size is not known yet.
func (u *Upload) Stat() (os.FileInfo, error) { return &fileInfo{name: path.Base(u.name)}, nil }

// Write sends p to the upload; a failure fails the upload.
func (u *Upload) Write(p []byte) (int, error) {
	n, err := u.w.Write(p)
	if err != nil {
		err = pathError("write", u.name, err)
		u.TransferError(err)
	}
	return n, err
}

// WriteString sends s to the upload, as Write does.
func (u *Upload) WriteString(s string) (int, error) { return u.Write([]byte(s)) }

// TransferError fails the upload: Close then aborts it.
func (u *Upload) TransferError(err error) {
	if u.failed == nil {
		u.failed = err
	}
}

// Close completes the upload, or aborts it once it failed; the error says
// why the object was not stored.
func (u *Upload) Close() error {
	defer u.cancel()
	if u.failed != nil {
		// Never the failure itself: minio-go takes io.EOF and
		// io.ErrUnexpectedEOF (crypto/tls's error for a stream cut in a
		// record) for the end of the data, and would store what came.
		u.w.CloseWithError(errAborted) // PutObject aborts the multipart upload
		<-u.done
		return nil
	}
	u.w.Close()
	<-u.done
	if u.err != nil {
		return pathError("store", u.name, u.err)
	}
	return nil
}
