package driver

import (
	"fmt"
	"os"
	"testing"

	"ftpsd/quota"
)

// TestCountTree counts a home on every backend: files in the home and in
// directories below it, more than a listing batch in one directory (fewer
// on s3, where each file is a request), directories not counted, a partial
// upload left by a crash skipped.
func TestCountTree(t *testing.T) {
	eachBackendHome(t, func(t *testing.T, name string, st backend, h home) {
		many := listBatch + 5
		if name == "s3" {
			many = 5
		}
		if err := h.MkdirAll("/d/e", 0o755); err != nil {
			t.Fatal(err)
		}
		var want quota.Counts
		for i := range many {
			writeFile(t, h, fmt.Sprintf("/d/f%d", i), "12345")
			want.Files++
			want.Bytes += 5
		}
		writeFile(t, h, "/top", "1234567")
		writeFile(t, h, "/d/e/deep", "")
		want.Files += 2
		want.Bytes += 7
		if !h.features().atomicUpload {
			f, err := h.OpenFile("/d/"+uploadPrefix+"crashed", os.O_WRONLY|os.O_CREATE, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = f.Write([]byte("partial"))
			_ = f.Close()
		}
		got, err := countTree(h, "/", h.features().listWhole)
		if err != nil || got != want {
			t.Fatalf("countTree: %+v, %v; want %+v", got, err, want)
		}
	})
}
