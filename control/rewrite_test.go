package control

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestNoteDataRefusedRewritesTheNextErrorReply(t *testing.T) {
	c, raw := newTestConn(NewRegistry())
	mustWrite(t, c, "150 Using transfer connection\r\n")
	c.NoteDataRefused(DataRefusal{Err: errors.New("not resumed"), Admit: "some setting"})
	mustWrite(t, c, "550 Issue during transfer: network error\r\n")
	mustWrite(t, c, "550 Could not access file\r\n")
	c.NoteDataRefused(DataRefusal{Err: errors.New("other address"), OtherAddress: true})
	mustWrite(t, c, "550 Issue during transfer: network error\r\n")
	got := raw.out.String()
	want := "150 Using transfer connection\r\n" + dataRefusedReply + "550 Could not access file\r\n" + dataOtherAddressReply
	if got != want {
		t.Fatalf("replies:\n%s\nwant:\n%s", got, want)
	}
	for _, r := range []string{dataRefusedReply, dataOtherAddressReply} {
		if !strings.HasPrefix(r, "425 ") {
			t.Fatalf("refusal %q is not a 425", r)
		}
	}
}

func TestLibNoPortReplyBecomesBusy425(t *testing.T) {
	c, raw := newTestConn(NewRegistry())
	mustWrite(t, c, "421 Could not listen for passive connection: could not find any port to listen to\r\n")
	mustWrite(t, c, "421 Could not listen for passive connection: couldn't fetch public IP\r\n")
	want := passiveBusyReply + "421 Could not listen for passive connection: couldn't fetch public IP\r\n"
	if got := raw.out.String(); got != want {
		t.Fatalf("replies:\n%q\nwant:\n%q", got, want)
	}
}

func TestEPSVDisabled(t *testing.T) {
	s := startEchoWith(t, Options{DisableEPSV: true})
	c := dial(t, s.addr)
	cmd(t, c, "EPSV", "502 EPSV is disabled")
	cmd(t, c, "PASV", "200 got PASV")

	off, raw := newTestConn(NewRegistry())
	off.opts.DisableEPSV = true
	on, rawOn := newTestConn(NewRegistry())
	for _, line := range []string{"211- These are my features\r\n", featEPSV, featPROT, "211 end\r\n"} {
		mustWrite(t, off, line)
		mustWrite(t, on, line)
	}
	if got := raw.out.String(); strings.Contains(got, "EPSV") || !strings.Contains(got, featPROT) {
		t.Fatalf("FEAT with EPSV disabled:\n%s", got)
	}
	if got := rawOn.out.String(); !strings.Contains(got, featEPSV) {
		t.Fatalf("FEAT with EPSV enabled lost it:\n%s", got)
	}
}

func TestTransferNetworkErrorBecomes426(t *testing.T) {
	c, raw := newTestConn(NewRegistry())
	mustWrite(t, c, "550 Issue during transfer: network error: error transferring data: cut\r\n")
	mustWrite(t, c, "550 Issue during transfer: store /f: no space\r\n")
	want := "426 Issue during transfer: network error: error transferring data: cut\r\n" +
		"550 Issue during transfer: store /f: no space\r\n"
	if got := raw.out.String(); got != want {
		t.Fatalf("replies:\n%q\nwant:\n%q", got, want)
	}
}

func TestStatDirectoryLinesLoseTheStrayVerb(t *testing.T) {
	c, raw := newTestConn(NewRegistry())
	for _, line := range []string{"213-STAT /\r\n", " %s-rw-r--r-- 1 ftp ftp 4 Jan  1 00:00 %s.txt\r\n", "213 End\r\n"} {
		mustWrite(t, c, line)
	}
	want := "213-STAT /\r\n -rw-r--r-- 1 ftp ftp 4 Jan  1 00:00 %s.txt\r\n213 End\r\n"
	if got := raw.out.String(); got != want {
		t.Fatalf("replies:\n%q\nwant:\n%q", got, want)
	}
}

// TestNoteFailureReplacesTheLibsReply: the lib's error reply that carries
// a noted failure's text is sent as that text alone, with the noted code
// (or the lib's); other replies, and the failure's text in a reply that is
// no error, go as they are; each note answers one reply.
func TestNoteFailureReplacesTheLibsReply(t *testing.T) {
	c, raw := newTestConn(NewRegistry())
	c.NoteFailure(Failure{Code: 452, Text: "/a.bin: No space left on device"})
	c.NoteFailure(Failure{Text: "/missing: No such file or directory"})
	c.NoteFailure(Failure{Code: 451, Text: "/b: storage unavailable: no answer in time"})
	c.NoteFailure(Failure{Code: 200, Text: "/c: a code that is no failure's"})
	c.NoteFailure(Failure{Code: 550, Text: "/d\r\n200 injected"})
	for _, p := range []string{
		"150 Using transfer connection\r\n",
		"213 /missing: No such file or directory\r\n",
		libTransferNetworkText + "error transferring data: /a.bin: No space left on device\r\n",
		"450 Could not list: file access error: couldn't stat: /missing: No such file or directory\r\n",
		"550 Could not access file: driver error: calling GetHandle: /missing: No such file or directory\r\n",
		"550 Could not access file: driver error: calling GetHandle: /b: storage unavailable: no answer in time\r\n",
		"550 Couldn't access /c: /c: a code that is no failure's\r\n",
	} {
		mustWrite(t, c, p)
	}
	want := "150 Using transfer connection\r\n" +
		"213 /missing: No such file or directory\r\n" +
		"452 /a.bin: No space left on device\r\n" +
		"450 /missing: No such file or directory\r\n" +
		"550 Could not access file: driver error: calling GetHandle: /missing: No such file or directory\r\n" +
		"451 /b: storage unavailable: no answer in time\r\n" +
		"550 Couldn't access /c: /c: a code that is no failure's\r\n"
	if got := raw.out.String(); got != want {
		t.Fatalf("replies:\n%s\nwant:\n%s", got, want)
	}
}

// TestNoteFailureKeepsTheLatest: failures the lib never answered give way
// to later ones.
func TestNoteFailureKeepsTheLatest(t *testing.T) {
	c, raw := newTestConn(NewRegistry())
	for i := range maxFailures + 1 {
		c.NoteFailure(Failure{Text: fmt.Sprintf("/f%d: No such file or directory", i)})
	}
	mustWrite(t, c, "550 CD issue: /f0: No such file or directory\r\n")
	mustWrite(t, c, fmt.Sprintf("550 CD issue: /f%d: No such file or directory\r\n", maxFailures))
	want := "550 CD issue: /f0: No such file or directory\r\n" +
		fmt.Sprintf("550 /f%d: No such file or directory\r\n", maxFailures)
	if got := raw.out.String(); got != want {
		t.Fatalf("replies:\n%s\nwant:\n%s", got, want)
	}
}
