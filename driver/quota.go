package driver

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"

	ftpserver "github.com/fclairamb/ftpserverlib"
	"github.com/spf13/afero"

	"ftpsd/config"
	"ftpsd/metrics"
	"ftpsd/quota"
)

// Quotas (quota_bytes, quota_files of [[users]] and [defaults]) are held
// here, between the client and the home, the same on every backend. The
// usage of a home is counted from the store at its first use in the
// process (a walk of the home, see countTree) and kept up to date by the
// server's own changes (quota.Table); accounts that share a home share its
// usage, each held to its own limit. See docs/operations.md, "Quotas".

// homeKey names the home dir among the homes of the backend: accounts
// whose homes are the same directory share one usage.
func homeKey(dir string) string { return path.Clean("/" + filepath.ToSlash(dir)) }

// homeQuota is a session's view of the quota of its home.
type homeQuota struct {
	table *quota.Table
	key   string // homeKey of the home
	fs    afero.Fs
	whole bool // list a directory in one batch (features.listWhole)
	// limit returns the account's quota as the configuration in force
	// says (a reload applies to the sessions already open).
	limit func() quota.Limit
	// announced is the size of ALLO for the next upload, or -1.
	announced atomic.Int64
}

func newHomeQuota(table *quota.Table, dir string, h home, limit func() quota.Limit) *homeQuota {
	q := &homeQuota{table: table, key: homeKey(dir), fs: h, whole: h.features().listWhole, limit: limit}
	q.announced.Store(-1)
	return q
}

// limitOf returns the quota of a policy.
func limitOf(p config.Policy) quota.Limit {
	return quota.Limit{Bytes: p.QuotaBytes, Files: p.QuotaFiles}
}

// usage returns the home's usage, counting it at its first use when the
// account has a quota or count is set (SITE QUOTA); nil when there is
// none to keep (neither an account with a quota nor SITE QUOTA used the
// home yet).
func (q *homeQuota) usage(count bool) (*quota.Usage, error) {
	if !count && q.limit().None() {
		return q.table.Known(q.key), nil
	}
	return q.table.Get(q.key, func() (quota.Counts, error) { return countTree(q.fs, "/", q.whole) })
}

// kept reports whether the home's usage is kept (counted already).
func (q *homeQuota) kept() bool { return q.table.Known(q.key) != nil }

// record adds a change the server made (a deletion, a rename over a
// file) to the usage of the home, if it is kept.
func (q *homeQuota) record(c quota.Counts) {
	if u := q.table.Known(q.key); u != nil {
		u.Add(c)
	}
}

// countTree counts the files (anything but a directory) under dir of fs
// and their bytes, partial uploads aside; whole reads each directory in
// one batch.
func countTree(fs afero.Fs, dir string, whole bool) (quota.Counts, error) {
	var c quota.Counts
	stack := []string{dir}
	batch := listBatch
	if whole {
		batch = -1
	}
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		f, err := fs.Open(d)
		if err != nil {
			return c, err
		}
		for {
			infos, err := f.Readdir(batch)
			for _, info := range infos {
				switch {
				case info.IsDir():
					stack = append(stack, path.Join(d, info.Name()))
				case !strings.HasPrefix(info.Name(), uploadPrefix):
					c.Files++
					c.Bytes += info.Size()
				}
			}
			if errors.Is(err, io.EOF) || err == nil && (whole || len(infos) == 0) {
				break
			}
			if err != nil {
				_ = f.Close()
				return c, fmt.Errorf("read %s: %w", d, err)
			}
		}
		_ = f.Close()
	}
	return c, nil
}

// AllocateSpace answers ALLO: the size is kept for the next upload of the
// session, which is refused before its 150 if it would pass the quota.
// ALLO itself is always answered 200.
func (c *clientFs) AllocateSpace(size int) error {
	if size < 0 {
		return c.failed("ALLO", fmt.Errorf("%w: %d", errBadSize, size), false)
	}
	c.quota.announced.Store(int64(size))
	return nil
}

// errBadSize refuses a negative ALLO.
var errBadSize = errors.New("invalid size")

// beginUpload holds an upload of name to the quota, before it opens:
// offset is where it starts writing (REST), appending is APPE. It returns
// nil when the home's usage is not kept.
func (c *clientFs) beginUpload(name string, offset int64, appending bool) (*quota.Upload, error) {
	known := c.quota.announced.Swap(-1)
	u, err := c.quota.usage(false)
	if err != nil || u == nil {
		return nil, err
	}
	s := quota.Start{NewFile: true, Known: known}
	if info, _, err := lstat(c.Fs, name); err == nil && !info.IsDir() {
		s.NewFile = false
		switch {
		case appending:
		case offset > 0:
			s.Overwritten = max(0, info.Size()-offset)
		default:
			s.Replaced = info.Size()
		}
	}
	return u.Begin(c.quota.limit(), s)
}

// quotaUpload holds an upload to the quota: each write reserves its bytes
// first, and the first that would pass quota_bytes fails the upload (which
// discards it, see home.upload). inPlace uploads (APPE, REST) keep what
// they wrote, even when they fail.
type quotaUpload struct {
	ftpserver.FileTransfer
	up      *quota.Upload
	inPlace bool
	failed  bool
}

// withQuota wraps f, an upload, in up (nil: f as it is).
func withQuota(f ftpserver.FileTransfer, up *quota.Upload, inPlace bool) ftpserver.FileTransfer {
	if up == nil {
		return f
	}
	return &quotaUpload{FileTransfer: f, up: up, inPlace: inPlace}
}

func (q *quotaUpload) Write(p []byte) (int, error) {
	if err := q.up.Write(len(p)); err != nil {
		q.TransferError(err)
		return 0, err
	}
	n, err := q.FileTransfer.Write(p)
	if err != nil {
		q.failed = true
	}
	return n, err
}

// TransferError fails the upload, which then stores nothing, and passes
// the error on.
func (q *quotaUpload) TransferError(err error) {
	q.failed = true
	if fe, ok := q.FileTransfer.(ftpserver.FileTransferError); ok {
		fe.TransferError(err)
	}
}

// Close closes the upload and records what it stored.
func (q *quotaUpload) Close() error {
	err := q.FileTransfer.Close()
	q.up.End(q.inPlace || err == nil && !q.failed)
	return err
}

// removed records the removal of the file name, of info, if it is one.
func (c *clientFs) removed(info os.FileInfo) {
	if info != nil && !info.IsDir() {
		c.quota.record(quota.Counts{Bytes: -info.Size(), Files: -1})
	}
}

// countIfKept counts the tree name, when the home's usage is kept and
// name is a directory (RMDA); else the zero count.
func (c *clientFs) countIfKept(name string) quota.Counts {
	if !c.quota.kept() {
		return quota.Counts{}
	}
	info, _, err := lstat(c.Fs, name)
	if err != nil {
		return quota.Counts{}
	}
	if !info.IsDir() {
		return quota.Counts{Bytes: info.Size(), Files: 1}
	}
	n, _ := countTree(c.Fs, name, c.quota.whole)
	return n
}

// Site answers SITE QUOTA with the usage of the home and the account's
// limits; other SITE commands are not served (502), and SITE alone is
// answered 501.
func (c *clientFs) Site(param string) *ftpserver.AnswerCommand {
	verb, _, _ := strings.Cut(strings.TrimSpace(param), " ")
	if verb == "" {
		return &ftpserver.AnswerCommand{Code: 501, Message: "SITE needs a command: SITE QUOTA"}
	}
	if !strings.EqualFold(verb, "QUOTA") {
		return &ftpserver.AnswerCommand{Code: 502, Message: "SITE " + strings.ToUpper(verb) + " is not implemented; SITE QUOTA is"}
	}
	u, err := c.quota.usage(true)
	if err != nil {
		re := &requestError{answer: replyTo(err, false), path: "SITE QUOTA", err: err}
		c.session.logFailure(re)
		return &ftpserver.AnswerCommand{Code: codeLocalError, Message: "Quota usage not available: " + re.reason}
	}
	return &ftpserver.AnswerCommand{Code: 200, Message: quotaText(u.Used(), c.quota.limit())}
}

// quotaText is the text of a reply to SITE QUOTA:
// "quota: 1288490188 of 10737418240 bytes (1.2 GiB of 10 GiB), 340 of
// 100000 files", "unlimited" where there is no limit.
func quotaText(used quota.Counts, l quota.Limit) string {
	of := func(n int64) string {
		if n <= 0 {
			return "unlimited"
		}
		return fmt.Sprint(n)
	}
	human := humanBytes(used.Bytes)
	if l.Bytes > 0 {
		human += " of " + humanBytes(l.Bytes)
	}
	return fmt.Sprintf("quota: %d of %s bytes (%s), %d of %s files", used.Bytes, of(l.Bytes), human, used.Files, of(l.Files))
}

// humanBytes writes n in binary units with one decimal (1.2 GiB).
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	s := fmt.Sprintf("%.1f", float64(n)/float64(div))
	return strings.TrimSuffix(s, ".0") + " " + string("KMGTPE"[exp]) + "iB"
}

// quotaUsage returns the usage of the accounts with a quota whose home has
// been counted, for the metrics; it counts nothing. External accounts
// (accounts.go) are those logged in now, under a name no [[users]] entry
// has (one series per name).
func (d *Driver) quotaUsage() []metrics.AccountQuota {
	users := d.live.Load().users
	var out []metrics.AccountQuota
	add := func(name, home string, p config.Policy) {
		l := limitOf(p)
		if l.None() {
			return
		}
		if used, ok := d.quotas.Peek(homeKey(home)); ok {
			out = append(out, metrics.AccountQuota{User: name, Bytes: used.Bytes, Files: used.Files, BytesLimit: l.Bytes, FilesLimit: l.Files})
		}
	}
	for name, u := range users.byName {
		add(name, u.Home, users.policy(name))
	}
	seen := map[string]bool{}
	for _, ss := range d.sessionList() {
		account, ok := ss.loggedInAs()
		if !ok || !ss.isExternal() || seen[account.Name] {
			continue
		}
		if _, local := users.byName[account.Name]; local {
			continue
		}
		seen[account.Name] = true
		p, _ := ss.policyIn(users)
		add(account.Name, account.Home, p)
	}
	return out
}
