package ftpserver

// Patched in (see PATCHES.md): listings go through a DirStream, so that a
// driver implementing ClientDriverExtensionDirStream is read batch by batch.

import (
	"errors"
	"io"
	"os"
)

// fileListStream is a DirStream over a listing already held whole (a single
// file, ClientDriverExtensionFileList, afero's Readdir).
type fileListStream struct {
	files []os.FileInfo
}

func (s *fileListStream) Next() ([]os.FileInfo, error) {
	files := s.files
	s.files = nil

	return files, io.EOF
}

func (s *fileListStream) Close() error { return nil }

// eachEntry calls write for each entry of files, batch by batch, until the
// end of the listing or the first error of files or of write, which it
// returns with the number of entries written.
func eachEntry(files DirStream, write func(os.FileInfo) error) (int, error) {
	written := 0

	for {
		batch, err := files.Next()
		for _, file := range batch {
			if errWrite := write(file); errWrite != nil {
				return written, errWrite
			}

			written++
		}

		if errors.Is(err, io.EOF) {
			return written, nil
		}

		if err != nil {
			return written, err
		}
	}
}
