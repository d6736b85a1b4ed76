package driver_test

import (
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"ftpsd/config"
	"ftpsd/driver"
	"ftpsd/hooks"
	"ftpsd/internal/ftptest"
	"ftpsd/internal/testenv"
)

// The events the driver emits (driver.WithEvents), on backends "os" and
// "s3": exactly one upload event per committed upload, with the SHA-256 of
// the data sent, and none for an upload cut in any way; one download event
// per download sent whole, none for one cut; one event per file command
// and login. The sink here records what it is given: the delivery of the
// events (spool, commands, webhooks) is package hooks', tested there.

// eventSink is a hooks.Sink that keeps the events it is given.
type eventSink struct {
	mu     sync.Mutex
	events []hooks.Event
}

func (s *eventSink) Emit(ev hooks.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, ev)
}

// of returns the events of kind so far.
func (s *eventSink) of(kind string) []hooks.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []hooks.Event
	for _, ev := range s.events {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

// mustHave fails unless the sink holds exactly n events of kind, and
// returns them.
func (s *eventSink) mustHave(t *testing.T, kind string, n int) []hooks.Event {
	t.Helper()
	got := s.of(kind)
	if len(got) != n {
		t.Fatalf("%d %s events, want %d: %+v", len(got), kind, n, got)
	}
	return got
}

// startEventServer is startServerOn with an eventSink.
func startEventServer(t *testing.T, backend config.Backend, edit func(*config.Config)) (*testServer, *eventSink) {
	t.Helper()
	sink := &eventSink{}
	return startServerOn(t, backend, edit, driver.WithEvents(sink)), sink
}

// storePath is where alice's file name is on ts's store.
func (s *testServer) storePath(name string) string {
	if s.S3 != nil {
		return aliceKey(name)
	}
	return filepath.Join(s.AliceDir(), filepath.FromSlash(name))
}

// lastSession returns the session id the log of the last login of user
// names.
func lastSession(t *testing.T, ts *testServer, user string) uint64 {
	t.Helper()
	logins := logsWith(ts.Logs, "login", map[string]any{"user": user, "result": "ok"})
	if len(logins) == 0 {
		t.Fatalf("no login of %s logged", user)
	}
	id, ok := logins[len(logins)-1].ContextMap()["session"].(uint64)
	if !ok {
		t.Fatalf("login of %s logged without a session id: %v", user, logins[len(logins)-1].ContextMap())
	}
	return id
}

// want are the fields an event must have; a zero field is not checked,
// except SHA256, which "-" requires empty.
type want struct {
	kind, user, path, storePath, target, targetStore, sha256 string
	client                                                   string // "": the test client's 127.0.0.1
	size                                                     int64
	session                                                  uint64
}

// mustMatch fails unless ev has the fields of w and a start not after its
// end.
func mustMatch(t *testing.T, ev hooks.Event, w want) {
	t.Helper()
	bad := func(field string, got, want any) {
		t.Errorf("%s event: %s %v, want %v (%+v)", w.kind, field, got, want, ev)
	}
	if ev.Kind != w.kind {
		bad("kind", ev.Kind, w.kind)
	}
	if ev.User != w.user {
		bad("user", ev.User, w.user)
	}
	if client := cmp.Or(w.client, "127.0.0.1"); ev.Client != client {
		bad("client", ev.Client, client)
	}
	if w.session != 0 && ev.Session != w.session {
		bad("session", ev.Session, w.session)
	}
	if ev.Path != w.path {
		bad("path", ev.Path, w.path)
	}
	if ev.StorePath != w.storePath {
		bad("store path", ev.StorePath, w.storePath)
	}
	if ev.TargetPath != w.target || ev.TargetStorePath != w.targetStore {
		bad("target", ev.TargetPath+" "+ev.TargetStorePath, w.target+" "+w.targetStore)
	}
	switch w.sha256 {
	case "":
	case "-":
		if ev.SHA256 != "" {
			bad("sha256", ev.SHA256, "none")
		}
	default:
		if ev.SHA256 != w.sha256 {
			bad("sha256", ev.SHA256, w.sha256)
		}
	}
	if ev.Size != w.size {
		bad("size", ev.Size, w.size)
	}
	if ev.Start.IsZero() || ev.End.Before(ev.Start) {
		bad("start/end", ev.Start.String()+" "+ev.End.String(), "start <= end")
	}
}

// TestEventsUpload: each committed upload, by the Go client, curl and
// Python's ftplib, of 0 bytes to several parts, emits exactly one upload
// event with the SHA-256 and size of what was sent, the path in the
// user's view and on the store; the downloads sent whole emit one download
// event each.
func TestEventsUpload(t *testing.T) {
	for _, backend := range testBackends {
		t.Run(string(backend), func(t *testing.T) {
			ts, sink := startEventServer(t, backend, nil)
			c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
			session := lastSession(t, ts, userName)
			c.Do(257, "MKD in")
			uploads := 0
			for _, size := range []int{0, 300_000, 6 << 20} {
				name := fmt.Sprintf("in/f%d.bin", size)
				data := ftptest.RandomData(t, size)
				c.Stor(name, data)
				uploads++
				ev := sink.mustHave(t, hooks.Upload, uploads)[uploads-1]
				mustMatch(t, ev, want{
					kind: hooks.Upload, user: userName, session: session, path: "/" + name,
					storePath: ts.storePath(name), sha256: ftptest.SHA256Hex(data), size: int64(size),
				})
				ts.MustHaveFile(t, name, data)
			}
			c.Quit()

			curl := testenv.NeedTool(t, "curl", "curl")
			work := t.TempDir()
			data := ftptest.RandomData(t, 256*1024+3)
			local := ftptest.WriteFile(t, work, "up.bin", data)
			runTool(t, work, curl, append(curlBase(userName, userPass), "-T", local, "ftp://"+ts.Addr+"/curl.bin")...)
			uploads++
			mustMatch(t, sink.mustHave(t, hooks.Upload, uploads)[uploads-1], want{
				kind: hooks.Upload, user: userName, session: lastSession(t, ts, userName), path: "/curl.bin",
				storePath: ts.storePath("curl.bin"), sha256: ftptest.SHA256Hex(data), size: int64(len(data)),
			})

			data = ftptest.RandomData(t, 100_000)
			local = ftptest.WriteFile(t, work, "py.bin", data)
			res := runFtplib(t, ts, userName, userPass, "--upload", local, "--remote", "py.bin", "--download", filepath.Join(work, "back.bin"))
			if res.RetrSHA256 != ftptest.SHA256Hex(data) {
				t.Fatalf("ftplib downloaded sha256 %s, want %s", res.RetrSHA256, ftptest.SHA256Hex(data))
			}
			uploads++
			py := want{
				kind: hooks.Upload, user: userName, session: lastSession(t, ts, userName), path: "/py.bin",
				storePath: ts.storePath("py.bin"), sha256: ftptest.SHA256Hex(data), size: int64(len(data)),
			}
			mustMatch(t, sink.mustHave(t, hooks.Upload, uploads)[uploads-1], py)
			py.kind = hooks.Download
			mustMatch(t, sink.mustHave(t, hooks.Download, 1)[0], py)
		})
	}
}

// TestEventsResumedTransfers: an upload in place (APPE, on "os": objects
// take none) and a download from an offset (REST) emit their event with
// the bytes transferred and no SHA-256, which would not be the file's.
func TestEventsResumedTransfers(t *testing.T) {
	ts, sink := startEventServer(t, config.BackendOS, nil)
	old := ftptest.RandomData(t, 5000)
	ts.PutFile(t, "a.bin", old)
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	more := ftptest.RandomData(t, 3000)
	x := c.Open("APPE a.bin")
	if err := x.Send(more); err != nil {
		t.Fatal(err)
	}
	ts.MustHaveFile(t, "a.bin", append(slices.Clone(old), more...))
	mustMatch(t, sink.mustHave(t, hooks.Upload, 1)[0], want{
		kind: hooks.Upload, user: userName, path: "/a.bin", storePath: ts.storePath("a.bin"), sha256: "-", size: 3000,
	})
	c.Do(350, "REST 1000")
	ftptest.MustSameData(t, "RETR after REST", c.Retr("a.bin"), append(old, more...)[1000:])
	mustMatch(t, sink.mustHave(t, hooks.Download, 1)[0], want{
		kind: hooks.Download, user: userName, path: "/a.bin", storePath: ts.storePath("a.bin"), sha256: "-", size: 7000,
	})
	c.Quit()
}

// TestEventsNoneForCutUpload cuts an upload over an existing file in every
// way: a reset data connection, a bare FIN on the protected data
// connection (tls.strict_upload_eof, the default), ABOR, a client that
// vanishes, a stall (server.transfer_stall_timeout). None may emit an
// upload event; the complete upload after them emits exactly one.
func TestEventsNoneForCutUpload(t *testing.T) {
	for _, backend := range testBackends {
		t.Run(string(backend), func(t *testing.T) {
			stall := func(cfg *config.Config) { cfg.Server.TransferStallTimeout = config.Duration(time.Second) }
			ts, sink := startEventServer(t, backend, stall)
			if !ts.Cfg.TLS.StrictUploadEOF {
				t.Fatal("tls.strict_upload_eof is off in the test configuration")
			}
			old := ftptest.RandomData(t, 300_000)
			ts.PutFile(t, "keep.bin", old)
			part := ftptest.RandomData(t, 1<<20)
			for i, how := range []string{"reset data", "bare FIN", "ABOR", "client vanishes", "stall"} {
				c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
				x := startStor(t, c, "keep.bin", part)
				switch how {
				case "reset data":
					_ = ftptest.Reset(x.Raw)
				case "bare FIN":
					if err := x.EndBare(); err != nil {
						t.Fatal(err)
					}
				case "ABOR":
					c.Send("ABOR")
				case "client vanishes":
					_ = ftptest.Reset(x.Raw)
					_ = c.Abort()
				case "stall": // nothing more is sent
				}
				waitLogs(t, ts, "transfer", failedUpload("/keep.bin"), i+1)
				_ = x.Raw.Close()
				_ = c.Close()
				if got := sink.of(hooks.Upload); len(got) != 0 {
					t.Fatalf("upload cut by %s: %d upload events: %+v", how, len(got), got)
				}
				ts.MustHaveFile(t, "keep.bin", old)
			}
			c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
			data := ftptest.RandomData(t, 2<<20)
			c.Stor("keep.bin", data)
			mustMatch(t, sink.mustHave(t, hooks.Upload, 1)[0], want{
				kind: hooks.Upload, user: userName, path: "/keep.bin", storePath: ts.storePath("keep.bin"),
				sha256: ftptest.SHA256Hex(data), size: int64(len(data)),
			})
			c.Quit()
		})
	}
}

// TestEventsDownload: a download sent whole emits one download event with
// the file's SHA-256; one cut by a reset or ABOR emits none.
func TestEventsDownload(t *testing.T) {
	for _, backend := range testBackends {
		t.Run(string(backend), func(t *testing.T) {
			ts, sink := startEventServer(t, backend, nil)
			big := ftptest.RandomData(t, 24<<20) // more than the socket buffers hold
			ts.PutFile(t, "big.bin", big)
			for i, how := range []string{"reset data", "ABOR"} {
				c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
				x := c.Open("RETR big.bin")
				if _, err := io.ReadFull(x.Conn, make([]byte, 64<<10)); err != nil {
					t.Fatal(err)
				}
				if how == "ABOR" {
					c.Send("ABOR")
				}
				_ = ftptest.Reset(x.Raw)
				waitLogs(t, ts, "transfer", map[string]any{"direction": "download", "path": "/big.bin", "result": "failed"}, i+1)
				_ = c.Close()
				sink.mustHave(t, hooks.Download, 0)
			}
			c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
			ftptest.MustSameData(t, "RETR big.bin", c.Retr("big.bin"), big)
			mustMatch(t, sink.mustHave(t, hooks.Download, 1)[0], want{
				kind: hooks.Download, user: userName, session: lastSession(t, ts, userName), path: "/big.bin",
				storePath: ts.storePath("big.bin"), sha256: ftptest.SHA256Hex(big), size: int64(len(big)),
			})
			c.Quit()
			sink.mustHave(t, hooks.Upload, 0)
		})
	}
}

// TestEventsFileCommands: MKD, RNFR/RNTO, DELE and RMD emit one event each
// when they succeed, with the paths in the user's view and on the store;
// refused ones (a missing name, a read-only account) emit none.
func TestEventsFileCommands(t *testing.T) {
	for _, backend := range testBackends {
		t.Run(string(backend), func(t *testing.T) {
			ts, sink := startEventServer(t, backend, nil)
			ts.PutFile(t, "f.txt", []byte("f\n"))
			c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
			session := lastSession(t, ts, userName)
			c.Do(257, "MKD d")
			c.Do(350, "RNFR f.txt")
			c.Do(250, "RNTO d/g.txt")
			c.Do(250, "DELE d/g.txt")
			c.Do(250, "RMD d")
			for _, cmd := range []string{"DELE d/g.txt", "RMD d", "RNFR nothing"} {
				if r := c.Cmd("%s", cmd); r.Code != 550 {
					t.Fatalf("%s: %v, want 550", cmd, r)
				}
			}
			c.Quit()
			at := func(kind, name string) want {
				return want{kind: kind, user: userName, session: session, path: "/" + name, storePath: ts.storePath(name)}
			}
			mustMatch(t, sink.mustHave(t, hooks.Mkdir, 1)[0], at(hooks.Mkdir, "d"))
			rename := at(hooks.Rename, "f.txt")
			rename.target, rename.targetStore = "/d/g.txt", ts.storePath("d/g.txt")
			mustMatch(t, sink.mustHave(t, hooks.Rename, 1)[0], rename)
			mustMatch(t, sink.mustHave(t, hooks.Delete, 1)[0], at(hooks.Delete, "d/g.txt"))
			mustMatch(t, sink.mustHave(t, hooks.Rmdir, 1)[0], at(hooks.Rmdir, "d"))
		})
	}
}

// TestEventsReadOnlyRefusals: the refused writes of a read-only account
// emit nothing.
func TestEventsReadOnlyRefusals(t *testing.T) {
	ts, sink := startEventServer(t, config.BackendOS, nil)
	ftptest.WriteFile(t, ts.ReaderDir(), "r.txt", []byte("r\n"))
	c := ftptest.MustLogin(t, ts.Addr, readerName, readerPass)
	for _, cmd := range []string{"DELE r.txt", "MKD x", "RMD x"} {
		if r := c.Cmd("%s", cmd); r.Code != 550 {
			t.Fatalf("%s by a read-only account: %v, want 550", cmd, r)
		}
	}
	c.Quit()
	for _, kind := range []string{hooks.Delete, hooks.Mkdir, hooks.Rmdir, hooks.Rename, hooks.Upload} {
		sink.mustHave(t, kind, 0)
	}
}

// TestEventsLogin: a login emits login; a wrong password and an unknown
// user emit login_failed with the name the client sent and the reason.
func TestEventsLogin(t *testing.T) {
	ts, sink := startEventServer(t, config.BackendOS, nil)
	for _, name := range []string{userName, "mallory"} {
		c := ftptest.MustDial(t, ts.Addr)
		c.AuthTLS()
		c.Do(331, "USER %s", name)
		if r := c.Cmd("PASS wrong"); r.Code != 530 {
			t.Fatalf("PASS wrong for %s: %v, want 530", name, r)
		}
		_ = c.Close()
	}
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	session := lastSession(t, ts, userName)
	c.Quit()
	mustMatch(t, sink.mustHave(t, hooks.Login, 1)[0], want{kind: hooks.Login, user: userName, session: session})
	failed := sink.mustHave(t, hooks.LoginFailed, 2)
	for i, name := range []string{userName, "mallory"} {
		mustMatch(t, failed[i], want{kind: hooks.LoginFailed, user: name})
		if failed[i].Reason == "" || failed[i].Session == 0 || failed[i].Session == session {
			t.Errorf("login_failed of %s: reason %q, session %d (the good login's: %d)", name, failed[i].Reason, failed[i].Session, session)
		}
	}
}

// TestEventsBehindProxy: behind a balancer that speaks the PROXY protocol,
// the events name the client of the header, not the balancer.
func TestEventsBehindProxy(t *testing.T) {
	ts, sink := startEventServer(t, config.BackendOS, func(c *config.Config) {
		c.Server.ProxyProtocol = true
		c.Server.TrustedProxies = []netip.Prefix{netip.PrefixFrom(balancer, 32)}
	})
	c := viaBalancer(client).MustLogin(t, ts.Addr, userName, userPass)
	data := ftptest.RandomData(t, 10_000)
	c.Stor("p.bin", data)
	c.Quit()
	w := want{kind: hooks.Login, user: userName, client: client.String(), session: lastSession(t, ts, userName)}
	mustMatch(t, sink.mustHave(t, hooks.Login, 1)[0], w)
	w.kind, w.path, w.storePath, w.sha256, w.size = hooks.Upload, "/p.bin", ts.storePath("p.bin"), ftptest.SHA256Hex(data), int64(len(data))
	mustMatch(t, sink.mustHave(t, hooks.Upload, 1)[0], w)
}

// TestEventsNoneForFailedCommit: an upload received whole whose commit
// fails (the rename over the target, which became a directory meanwhile)
// emits no event.
func TestEventsNoneForFailedCommit(t *testing.T) {
	ts, sink := startEventServer(t, config.BackendOS, nil)
	c := ftptest.MustLogin(t, ts.Addr, userName, userPass)
	x := startStor(t, c, "x.bin", ftptest.RandomData(t, 100_000))
	if err := os.Mkdir(filepath.Join(ts.AliceDir(), "x.bin"), 0o750); err != nil {
		t.Fatal(err)
	}
	if err := x.TLS.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if r := c.Reply(); r.Code/100 != 4 && r.Code/100 != 5 {
		t.Fatalf("STOR over a directory made during the upload: %v, want 4xx/5xx", r)
	}
	_ = x.Raw.Close()
	waitLogs(t, ts, "transfer", failedUpload("/x.bin"), 1)
	c.Quit()
	sink.mustHave(t, hooks.Upload, 0)
	ts.MustNoPartialUploads(t)
}

// TestEventsLoginRefusedByPolicy: the right password from outside the
// account's allowed_networks emits login_failed with the policy's reason
// and the client's address, and no login.
func TestEventsLoginRefusedByPolicy(t *testing.T) {
	ts, sink := startEventServer(t, config.BackendOS, func(c *config.Config) { onlyFrom(c, 0, "127.0.0.1/32") })
	outside := loopback(2)
	if r, _ := passReply(t, ts.Addr, outside, userName, userPass); r.Code != 530 {
		t.Fatalf("login from %s outside allowed_networks: %v, want 530", outside, r)
	}
	sink.mustHave(t, hooks.Login, 0)
	ev := sink.mustHave(t, hooks.LoginFailed, 1)[0]
	mustMatch(t, ev, want{kind: hooks.LoginFailed, user: userName, client: outside.String()})
	if ev.Reason != reasonNetwork {
		t.Errorf("login_failed reason %q, want %q", ev.Reason, reasonNetwork)
	}
}
