package rootfs

import (
	"os"
)

// File is a file of an Fs: an *os.File whose name and errors carry the
// caller's path instead of the host's (an *os.File from os.Root is named
// by its host path).
type File struct {
	*os.File
	name string // the caller's path
}

// Name returns the caller's path of the file.
func (f *File) Name() string { return f.name }

func (f *File) err(err error) error { return withPath(err, f.name) }

// Read reads from the file.
func (f *File) Read(p []byte) (int, error) {
	n, err := f.File.Read(p)
	return n, f.err(err)
}

// ReadAt reads from the file at off.
func (f *File) ReadAt(p []byte, off int64) (int, error) {
	n, err := f.File.ReadAt(p, off)
	return n, f.err(err)
}

// Write writes to the file.
func (f *File) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	return n, f.err(err)
}

// WriteAt writes to the file at off.
func (f *File) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.File.WriteAt(p, off)
	return n, f.err(err)
}

// WriteString writes s to the file.
func (f *File) WriteString(s string) (int, error) {
	n, err := f.File.WriteString(s)
	return n, f.err(err)
}

// Seek sets the offset of the next read or write.
func (f *File) Seek(offset int64, whence int) (int64, error) {
	n, err := f.File.Seek(offset, whence)
	return n, f.err(err)
}

// Readdir reads the directory's entries, at most n when n > 0.
func (f *File) Readdir(n int) ([]os.FileInfo, error) {
	fi, err := f.File.Readdir(n)
	return fi, f.err(err)
}

// Readdirnames reads the directory's names, at most n when n > 0.
func (f *File) Readdirnames(n int) ([]string, error) {
	names, err := f.File.Readdirnames(n)
	return names, f.err(err)
}

// Stat returns the file's info.
func (f *File) Stat() (os.FileInfo, error) {
	fi, err := f.File.Stat()
	return fi, f.err(err)
}

// Sync commits the file's content to stable storage.
func (f *File) Sync() error { return f.err(f.File.Sync()) }

// Truncate changes the file's size.
func (f *File) Truncate(size int64) error { return f.err(f.File.Truncate(size)) }

// Close closes the file.
func (f *File) Close() error { return f.err(f.File.Close()) }
