package s3fs

import (
	"bytes"
	"context"
	"encoding/base64"
	"hash/crc32"
	"io"
	"net/http"
	"slices"

	"github.com/minio/minio-go/v7"
)

// partBuffers is how many part buffers one upload may hold: up to that
// many parts are sent to the store at once, one fewer while the next part
// fills from the client. The first buffer is reserved from
// Options.MaxUploadMemory when the upload opens; each further one only
// while less than half the budget is held (budget.takeSpare), else the
// upload waits for a part in flight and reuses its buffer. Four parts keep a store on the same
// machine busy (BenchmarkS3VersusOS); more add memory, not speed.
const partBuffers = 4

// contentType is the type of every object an upload stores.
const contentType = "application/octet-stream"

// Each part carries its CRC-32C (the checksum minio-go's PutObject sends
// by default), which the store verifies and the completion lists.
const (
	checksumAlgo   = "X-Amz-Checksum-Algorithm"
	checksumCRC32C = "X-Amz-Checksum-Crc32c"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// partResult is what sending one part gave.
type partResult struct {
	part minio.CompletePart
	buf  []byte // the part's buffer, free again
	err  error
}

// multipart stores first and the rest of r at key as a multipart upload
// whose parts are sent concurrently (partBuffers) while the next one
// fills. It completes the upload only when r ended with io.EOF and every
// part was stored; otherwise it aborts it and returns why, and the object
// stays as it was. A part that fails calls stop, which ends r early.
func (fs *Fs) multipart(ctx context.Context, key string, first []byte, r io.Reader, stop func(error)) (err error) {
	core := minio.Core{Client: fs.client}
	id, err := core.NewMultipartUpload(ctx, fs.bucket, key, minio.PutObjectOptions{
		ContentType: contentType, UserMetadata: map[string]string{checksumAlgo: "CRC32C"},
	})
	if err != nil {
		return err
	}
	// The parts' requests end with the upload: a failed one cancels the
	// others.
	partCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		results  = make(chan partResult, partBuffers)
		inFlight int
		bufs     = 1 // part buffers held: the first is the upload's reservation
		parts    []minio.CompletePart
		failed   error // of a part
	)
	defer func() { fs.budget.give(int64(bufs-1) * fs.partSize) }()
	collect := func(res partResult) []byte {
		inFlight--
		if res.err != nil && failed == nil {
			failed = res.err
			cancel()
		}
		parts = append(parts, res.part)
		return res.buf
	}
	send := func(number int, buf []byte) {
		inFlight++
		go func() {
			res := partResult{buf: buf}
			res.part, res.err = fs.putPart(partCtx, core, key, id, number, buf)
			if res.err != nil {
				stop(res.err)
			}
			results <- res
		}()
	}

	buf, readErr := first, error(nil)
	for number := 1; ; number++ {
		send(number, buf)
		if readErr != nil {
			break // that was the last part
		}
		buf = nil
		select { // a part done: its buffer is free
		case res := <-results:
			buf = collect(res)
		default:
		}
		if buf == nil && bufs < partBuffers && fs.budget.takeSpare(fs.partSize) {
			bufs++
			buf = make([]byte, fs.partSize)
		}
		if buf == nil {
			buf = collect(<-results)
		}
		if failed != nil {
			break
		}
		var n int
		n, readErr = io.ReadFull(r, buf[:cap(buf)])
		buf = buf[:n]
		if readErr == io.ErrUnexpectedEOF {
			readErr = io.EOF
		}
		if readErr != nil && readErr != io.EOF {
			cancel() // the upload is aborted: its parts are of no use
			break
		}
		if n == 0 {
			break // the data ended on a part's boundary
		}
	}
	for inFlight > 0 {
		collect(<-results)
	}
	switch {
	case failed != nil:
		err = failed
	case readErr != nil && readErr != io.EOF:
		err = readErr
	}
	if err != nil {
		fs.abortUpload(core, key, id)
		return err
	}
	slices.SortFunc(parts, func(a, b minio.CompletePart) int { return a.PartNumber - b.PartNumber })
	_, err = core.CompleteMultipartUpload(ctx, fs.bucket, key, id, parts, minio.PutObjectOptions{})
	if err != nil {
		fs.abortUpload(core, key, id)
	}
	return err
}

// putPart sends buf as part number of the upload id.
func (fs *Fs) putPart(ctx context.Context, core minio.Core, key, id string, number int, buf []byte) (minio.CompletePart, error) {
	h := crc32.New(castagnoli)
	h.Write(buf)
	header := http.Header{checksumCRC32C: {base64.StdEncoding.EncodeToString(h.Sum(nil))}, checksumAlgo: {"CRC32C"}}
	p, err := core.PutObjectPart(ctx, fs.bucket, key, id, number, bytes.NewReader(buf), int64(len(buf)),
		minio.PutObjectPartOptions{CustomHeader: header})
	if err != nil {
		return minio.CompletePart{}, err
	}
	return minio.CompletePart{PartNumber: number, ETag: p.ETag, ChecksumCRC32C: p.ChecksumCRC32C}, nil
}

// abortUpload aborts the upload id, within its own timeout: the upload's
// requests may have been cancelled.
func (fs *Fs) abortUpload(core minio.Core, key, id string) {
	ctx, cancel := fs.ctx()
	defer cancel()
	_ = core.AbortMultipartUpload(ctx, fs.bucket, key, id)
}
