package control

import (
	"errors"
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

func TestNoteStorageUnavailableMakesTheNextErrorReply451(t *testing.T) {
	c, raw := newTestConn(NewRegistry())
	c.NoteStorageUnavailable()
	mustWrite(t, c, "150 Using transfer connection\r\n")
	mustWrite(t, c, libTransferNetworkText+"write /a: storage unavailable: dial: connection refused\r\n")
	mustWrite(t, c, "550 Could not access file: no such file\r\n")
	c.NoteStorageUnavailable()
	mustWrite(t, c, "552 Could not access file: stat /a: storage unavailable: no answer in time\r\n")
	want := "150 Using transfer connection\r\n" +
		"451 Issue during transfer: network error: write /a: storage unavailable: dial: connection refused\r\n" +
		"550 Could not access file: no such file\r\n" +
		"451 Could not access file: stat /a: storage unavailable: no answer in time\r\n"
	if got := raw.out.String(); got != want {
		t.Fatalf("replies:\n%s\nwant:\n%s", got, want)
	}
}

func TestNoteBusyMakesTheNextErrorReply450(t *testing.T) {
	c, raw := newTestConn(NewRegistry())
	mustWrite(t, c, "200 Type set to binary\r\n")
	c.NoteBusy()
	mustWrite(t, c, "550 Could not access file: open /a: the uploads in flight hold all the memory allowed for them\r\n")
	mustWrite(t, c, "550 Could not access file: no such file\r\n")
	want := "200 Type set to binary\r\n" +
		"450 Could not access file: open /a: the uploads in flight hold all the memory allowed for them\r\n" +
		"550 Could not access file: no such file\r\n"
	if got := raw.out.String(); got != want {
		t.Fatalf("replies:\n%s\nwant:\n%s", got, want)
	}
}
