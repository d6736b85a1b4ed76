package hooks

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// record is one event in the spool, as its file holds it.
type record struct {
	// ID names the event for its receivers, which may see it more than
	// once (delivery is at least once): FTPSD_EVENT_ID, "id".
	ID    string `json:"id"`
	Event Event  `json:"event"`
	// Hooks are the ids of the hooks that wanted the event when it
	// happened; Done those that have had it (delivered, refused for good
	// or given up).
	Hooks []string `json:"hooks"`
	Done  []string `json:"done,omitempty"`
}

// spool is a directory holding one file per event, "<seq>.json", written
// to a temporary file, synced and renamed into place, so that a file is
// always whole and an event is on disk once written.
type spool struct {
	dir  string
	lock *os.File // held (flock) while the spool is open
}

// Suffixes of the spool's files.
const (
	eventSuffix = ".json"
	tmpSuffix   = ".tmp"
	badSuffix   = ".bad"
)

// lockName is the file a process holds locked while it uses the spool.
const lockName = "lock"

// openSpool makes the spool's directory if needed, locks it against
// another process (two dispatchers on one spool would deliver each event
// twice and race on its files), and removes the temporary files a killed
// process left behind.
func openSpool(dir string) (_ *spool, err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("events.spool_dir: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("events.spool_dir: %w", err)
	}
	defer func() {
		if err != nil {
			_ = lock.Close()
		}
	}()
	if err := lockFile(lock); err != nil {
		return nil, fmt.Errorf("events.spool_dir: %s is in use by another process (each ftpsd needs a spool of its own): %w", dir, err)
	}
	tmps, err := filepath.Glob(filepath.Join(dir, "*"+tmpSuffix))
	if err != nil {
		return nil, fmt.Errorf("events.spool_dir: %w", err)
	}
	for _, f := range tmps {
		if err := os.Remove(f); err != nil {
			return nil, fmt.Errorf("events.spool_dir: %w", err)
		}
	}
	return &spool{dir: dir, lock: lock}, nil
}

// close lets another process open the spool.
func (s *spool) close() error { return s.lock.Close() }

func (s *spool) file(seq uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d%s", seq, eventSuffix))
}

// write stores r as event seq, replacing what was there, and syncs the
// file and the directory.
func (s *spool) write(seq uint64, r *record) (err error) {
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	final := s.file(seq)
	tmp := final + tmpSuffix
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	if err = os.Rename(tmp, final); err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	return s.syncDir()
}

// syncDir makes the directory's entries (a rename) durable.
func (s *spool) syncDir() error {
	d, err := os.Open(s.dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("spool: sync %s: %w", s.dir, err)
	}
	return nil
}

// remove deletes event seq; a file already gone is not an error.
func (s *spool) remove(seq uint64) error {
	if err := os.Remove(s.file(seq)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("spool: %w", err)
	}
	return nil
}

// stored is an event read back from the spool.
type stored struct {
	seq uint64
	rec record
}

// load reads the events of the spool in the order they were written. A
// file that does not decode is renamed "*.bad" and reported in bad.
func (s *spool) load() (events []stored, bad []error, err error) {
	names, err := filepath.Glob(filepath.Join(s.dir, "*"+eventSuffix))
	if err != nil {
		return nil, nil, fmt.Errorf("events.spool_dir: %w", err)
	}
	for _, name := range names { // Glob sorts; the names are zero-padded
		seq, perr := strconv.ParseUint(strings.TrimSuffix(filepath.Base(name), eventSuffix), 10, 64)
		if perr != nil {
			continue // not one of ours
		}
		var r record
		data, rerr := os.ReadFile(name)
		if rerr == nil {
			rerr = json.Unmarshal(data, &r)
		}
		if rerr != nil {
			bad = append(bad, fmt.Errorf("%s: %w", name, rerr))
			_ = os.Rename(name, name+badSuffix)
			continue
		}
		events = append(events, stored{seq: seq, rec: r})
	}
	return events, bad, nil
}
