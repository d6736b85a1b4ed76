package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The man pages are made from the sources the administrator's documents
// are made of: ftpsd.toml(5) from docs/configuration.md (every table row
// there, whatever keys it holds), ftpsd(8) from the usage text of
// cmd/ftpsd and the fixed sections below.

var (
	mdLink   = regexp.MustCompile(`\[([^\]]+)\]\([^)]+\)`)
	mdStrong = regexp.MustCompile(`\*\*([^*]+)\*\*`)
	mdCode   = regexp.MustCompile("`([^`]*)`")
)

// roffText escapes one line of Markdown text for roff: links become their
// text, code spans bold, and roff's own characters are escaped.
func roffText(s string) string {
	s = mdLink.ReplaceAllString(s, "$1")
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	s = mdStrong.ReplaceAllString(s, `\fB$1\fR`)
	s = mdCode.ReplaceAllString(s, `\fB$1\fR`)
	return roffLine(s)
}

// roffLine keeps a line from being read as a roff request and writes
// the characters beyond ASCII as groff's Unicode escapes.
func roffLine(s string) string {
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	var b strings.Builder
	for _, r := range s {
		if r > 0x7e {
			fmt.Fprintf(&b, `\[u%04X]`, r)
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// roffVerbatim escapes a line of a code block, shown as it is.
func roffVerbatim(s string) string {
	return roffLine(strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\e`), "-", `\-`))
}

// header is the .TH line of a page; date is the source's date, so that a
// rebuild makes the same page.
func header(name, section, version string, date time.Time) string {
	return fmt.Sprintf(".TH %s %s %s %s %s\n", strings.ToUpper(name), section,
		strconv.Quote(date.UTC().Format("2006-01-02")), strconv.Quote("ftpsd "+version), strconv.Quote("ftpsd"))
}

// markdownToRoff turns the body of a Markdown document, as the
// configuration reference is written, into roff: "## " headings, table
// rows (key, default, meaning), paragraphs, lists and code blocks.
func markdownToRoff(md string) (string, error) {
	var out strings.Builder
	lines := strings.Split(md, "\n")
	inCode, inList := false, false
	para := false
	for n, line := range lines {
		switch {
		case strings.HasPrefix(line, "```"):
			if inCode {
				out.WriteString(".EE\n.fi\n")
			} else {
				out.WriteString(".PP\n.nf\n.EX\n")
			}
			inCode, para, inList = !inCode, false, false
		case inCode:
			out.WriteString(roffVerbatim(line) + "\n")
		case strings.HasPrefix(line, "# "):
			// The document's title: the page's NAME says it.
		case strings.HasPrefix(line, "## "), strings.HasPrefix(line, "### "):
			out.WriteString(".SS " + roffText(strings.TrimLeft(line, "# ")) + "\n")
			para, inList = false, false
		case strings.HasPrefix(line, "|"):
			cells, err := tableCells(line)
			if err != nil {
				return "", fmt.Errorf("line %d: %w", n+1, err)
			}
			if isRule(cells) || cells[0] == "key" || cells[0] == "series" {
				continue // the header and its rule
			}
			out.WriteString(".TP\n" + roffText(cells[0]) + "\n")
			if len(cells) == 3 {
				out.WriteString("Default: " + roffText(cells[1]) + ".\n" + roffText(cells[2]) + "\n")
			} else {
				out.WriteString(roffText(strings.Join(cells[1:], " ")) + "\n")
			}
			para, inList = false, false
		case strings.TrimSpace(line) == "":
			para, inList = false, false
		case strings.HasPrefix(line, "- "):
			out.WriteString(".IP \\(bu 2\n" + roffText(strings.TrimPrefix(line, "- ")) + "\n")
			inList, para = true, true
		case inList && strings.HasPrefix(line, "  "):
			out.WriteString(roffText(strings.TrimSpace(line)) + "\n")
		default:
			if !para {
				out.WriteString(".PP\n")
				para = true
			}
			out.WriteString(roffText(line) + "\n")
		}
	}
	if inCode {
		return "", fmt.Errorf("a code block is not closed")
	}
	return out.String(), nil
}

// tableCells splits a Markdown table row "| a | b | c |" into its cells.
func tableCells(line string) ([]string, error) {
	line = strings.TrimSpace(line)
	if !strings.HasSuffix(line, "|") || len(line) < 2 {
		return nil, fmt.Errorf("table row %q does not end with |", line)
	}
	cells := strings.Split(line[1:len(line)-1], "|")
	for i := range cells {
		cells[i] = strings.TrimSpace(cells[i])
	}
	if len(cells) < 2 {
		return nil, fmt.Errorf("table row %q has one cell", line)
	}
	return cells, nil
}

func isRule(cells []string) bool {
	for _, c := range cells {
		if strings.Trim(c, "-:") != "" {
			return false
		}
	}
	return true
}

// configPage is ftpsd.toml(5), made from docs/configuration.md.
func configPage(configurationMD, version string, date time.Time) (string, error) {
	body, err := markdownToRoff(configurationMD)
	if err != nil {
		return "", fmt.Errorf("docs/configuration.md: %w", err)
	}
	return header("ftpsd.toml", "5", version, date) +
		".SH NAME\nftpsd.toml \\- configuration file of the ftpsd FTPS server\n" +
		".SH SYNOPSIS\n/etc/ftpsd/ftpsd.toml\n" +
		".SH DESCRIPTION\n" + body +
		".SH FILES\n.TP\n/etc/ftpsd/ftpsd.toml\nthe configuration the ftpsd service reads\n" +
		".TP\n/usr/share/doc/ftpsd/examples/config.example.toml\na commented example of every key\n" +
		".SH SEE ALSO\n.BR ftpsd (8)\n", nil
}

// daemonPage is ftpsd(8): the usage text of cmd/ftpsd and what the
// package installs.
func daemonPage(usage, version string, date time.Time) string {
	var commands strings.Builder
	for _, line := range strings.Split(strings.TrimRight(usage, "\n"), "\n") {
		if strings.TrimSpace(line) == "usage:" {
			continue
		}
		commands.WriteString(roffVerbatim(strings.TrimPrefix(line, "  ")) + "\n")
	}
	return header("ftpsd", "8", version, date) + `.SH NAME
ftpsd \- FTPS server for hosts behind stateful, deep\-inspection firewalls
.SH SYNOPSIS
.B ftpsd serve \-config
.I /etc/ftpsd/ftpsd.toml
.SH DESCRIPTION
ftpsd serves files over FTPS (FTP with TLS, RFC 4217), explicit
(\fBAUTH TLS\fR) and implicit, to the accounts of its configuration file,
each confined to its home below the storage root. It keeps data
connections inside the passive port range opened on the firewall and can
clear the control channel after login (\fBCCC\fR) so that a firewall's FTP
inspection sees the passive replies while transfers stay encrypted.
.PP
The package runs it as the systemd service \fBftpsd.service\fR, as the
system user \fBftpsd\fR. The service is enabled at installation but starts
only once \fBftpsd check \-config /etc/ftpsd/ftpsd.toml\fR passes (its
\fBExecStartPre=\fR): set a certificate and an account first, see
.BR ftpsd.toml (5).
.SH COMMANDS
.nf
.EX
` + commands.String() + `.EE
.fi
.SH SIGNALS
.TP
.B SIGHUP
reload the configuration without dropping sessions
(\fBsystemctl reload ftpsd\fR): accounts, banner, certificates, log level,
hooks; other changed keys need a restart and are named in the log.
.TP
.BR SIGTERM ", " SIGINT
stop accepting connections, let running transfers finish for up to
\fBserver.shutdown_timeout\fR, then exit.
.SH FILES
.TP
/etc/ftpsd/ftpsd.toml
the configuration (kept by upgrades)
.TP
/var/lib/ftpsd
the state directory: the hooks' spool, generated certificates, ACME data
.TP
/var/log/ftpsd
the transfer log, when \fBlog.xferlog\fR is set
.TP
/srv/ftp
the storage root of the packaged configuration
.TP
/usr/share/doc/ftpsd
the README and the documents it links to
.SH EXIT STATUS
0 on success, 1 on a bad configuration or a failed start, 2 on a bad
command line.
.SH SEE ALSO
.BR ftpsd.toml (5),
.BR systemctl (1),
.BR journalctl (1)
`
}

// usageText returns the usage text printUsage prints, read from the
// source of cmd/ftpsd (file run.go): the raw string it writes.
func usageText(runGo []byte) (string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), "run.go", runGo, 0)
	if err != nil {
		return "", err
	}
	var usage string
	ast.Inspect(f, func(n ast.Node) bool {
		fn, ok := n.(*ast.FuncDecl)
		if !ok || fn.Name.Name != "printUsage" {
			return true
		}
		ast.Inspect(fn, func(n ast.Node) bool {
			if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING && usage == "" {
				usage, err = strconv.Unquote(lit.Value)
			}
			return true
		})
		return false
	})
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(usage, "usage:") {
		return "", fmt.Errorf("no usage text in printUsage")
	}
	return usage, nil
}

// gzipped compresses data as gzip -9n does: best compression, no name,
// no time stamp.
func gzipped(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(data); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
