package driver

import (
	"bytes"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/zap"

	"ftpsd/config"
	"ftpsd/metrics"
	"ftpsd/quota"
)

// osClientFs returns the clientFs of a session, not logged in and with no
// control connection, on backend "os" with root as its home; the home is
// closed when the test ends.
func osClientFs(t *testing.T, root string, readOnly bool) *clientFs {
	t.Helper()
	st, err := newStorage(config.Storage{Backend: config.BackendOS, Root: root}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	home, err := st.open("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = home.close() })
	s := &session{metrics: metrics.New()}
	s.logPtr.Store(zap.NewNop())
	return newClientFs(home, readOnly, s, 0, newListings(1, func(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }),
		newHomeQuota(&quota.Table{}, "/", home, func() quota.Limit { return quota.Limit{} }))
}

// FuzzRestOffset drives a transfer the way the lib does after REST offset
// (GetHandle with the offset, then Seek to it when it is above 0) for any
// offset: a negative one is refused and changes nothing; a download sends
// the file from the offset; an upload at an offset keeps what lies before
// it, the stored file is never shortened, and an offset beyond its end is
// refused (it made a sparse file of any apparent size).
func FuzzRestOffset(f *testing.F) {
	for _, o := range []int64{0, 1, 5, 11, 12, 100, -1, -1 << 63, 1<<63 - 1, 1 << 40} {
		f.Add(o, false)
		f.Add(o, true)
	}
	old := []byte("stored copy")
	f.Fuzz(func(t *testing.T, offset int64, upload bool) {
		root := t.TempDir()
		if err := os.WriteFile(filepath.Join(root, "f"), old, 0o600); err != nil {
			t.Fatal(err)
		}
		c := osClientFs(t, root, false)

		flags := os.O_RDONLY
		if upload {
			flags = os.O_WRONLY | os.O_CREATE
		}
		h, err := c.GetHandle("f", flags, offset)
		if offset < 0 || upload && offset > int64(len(old)) {
			if err == nil {
				t.Fatalf("offset %d accepted", offset)
			}
			mustHold(t, root, old)
			return
		}
		if err != nil {
			t.Fatalf("offset %d: %v", offset, err)
		}
		var got []byte
		var ioErr error
		if offset > 0 {
			_, ioErr = h.Seek(offset, io.SeekStart)
		}
		if ioErr == nil {
			if upload {
				_, ioErr = h.Write([]byte("NEW"))
			} else {
				got, ioErr = io.ReadAll(h)
			}
		}
		if ioErr != nil {
			h.(*loggedTransfer).TransferError(ioErr)
		}
		_ = h.Close()
		data, err := os.ReadFile(filepath.Join(root, "f"))
		if err != nil {
			t.Fatal(err)
		}
		if !upload {
			if ioErr == nil && offset <= int64(len(old)) && !bytes.Equal(got, old[offset:]) {
				t.Fatalf("RETR from %d sent %q", offset, got)
			}
			mustHold(t, root, old)
			return
		}
		if offset == 0 {
			if ioErr == nil && !bytes.Equal(data, []byte("NEW")) {
				t.Fatalf("STOR stored %q", data)
			}
			return
		}
		// In place: what lies before the offset stays, nothing is cut off,
		// and a completed write is where it was asked for.
		keep := old[:min(int64(len(old)), offset)]
		if len(data) < len(old) || !bytes.HasPrefix(data, keep) {
			t.Fatalf("upload at %d stored %q", offset, data[:min(len(data), 64)])
		}
		if ioErr == nil && (int64(len(data)) != max(offset+3, int64(len(old))) || !bytes.Equal(data[offset:offset+3], []byte("NEW"))) {
			t.Fatalf("upload at %d stored %d bytes", offset, len(data))
		}
	})
}

// mustHold fails unless the stored file still holds want.
func mustHold(t *testing.T, root string, want []byte) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "f"))
	if err != nil || !bytes.Equal(data, want) {
		t.Fatalf("stored file %q, %v; want %q", data, err, want)
	}
}
