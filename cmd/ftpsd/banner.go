package main

import (
	"fmt"
	"io"
	"net"
	"strings"
	"text/template"

	"ftpsd/config"
)

// print writes the first-run banner to w, in one write: where ftpsd
// listens, the account, client command lines that work as printed against
// the first-run default, and the next step.
func (d *demoAccount) print(w io.Writer, addr string, cfg config.Config) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("first-run banner: listen address %q: %w", addr, err)
	}
	var b strings.Builder
	err = bannerTemplate.Execute(&b, map[string]any{
		"Addr":     addr,
		"Ports":    cfg.Passive.Ports,
		"Root":     cfg.Storage.Root,
		"User":     d.name,
		"Password": d.password,
		"Created":  d.created,
		"StateDir": firstRunDir,
		"Python":   pythonSnippet(host, port, d.name, d.password),
	})
	if err != nil {
		return fmt.Errorf("first-run banner: %w", err)
	}
	_, err = io.WriteString(w, b.String())
	return err
}

var bannerTemplate = template.Must(template.New("banner").Parse(`
ftpsd is running on its first-run default (no -config given):
  explicit FTPS on {{.Addr}}, passive ports {{.Ports}}, self-signed certificate
  files in {{.Root}}
  user: {{.User}}   password: {{.Password}}
  ({{if .Created}}new; {{end}}kept in {{.StateDir}}/ with the certificate and key, mode 0600,
  for every first-run start in this directory; delete it for new ones)

Try it:
  curl --ssl-reqd -k -u {{.User}}:{{.Password}} ftp://{{.Addr}}/
  lftp -u {{.User}},{{.Password}} -e 'set ssl:verify-certificate no; ls; bye' {{.Addr}}

Python: ftpsd wants each data connection to resume the TLS session of the
control connection, which stock ftplib.FTP_TLS does not do (425); this
subclass does:

python3 - <<'EOF'
{{.Python}}EOF

Next: write a configuration file (config.example.toml explains every key),
with a [[users]] entry whose password_hash is printed by
  echo 'a password' | ftpsd hash-password
then check it and serve it:
  ftpsd check -config ftpsd.toml && ftpsd -config ftpsd.toml

`))

// pythonSnippet is Python that logs in to host:port as user with the first-run
// default's certificate unchecked, uploads hello.txt, lists it and reads
// it back. Its FTP_TLS subclass resumes the control connection's TLS
// session on each data connection, as tls.require_session_reuse (on by
// default) wants; the README shows it with PASSWORD.
func pythonSnippet(host, port, user, password string) string {
	return fmt.Sprintf(`import ftplib, io, ssl

class ReusingFTP_TLS(ftplib.FTP_TLS):
    """Data connections resume the control connection's TLS session."""
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host,
                                            session=self.sock.session)
        return conn, size

ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
ftp = ReusingFTP_TLS(context=ctx); ftp.connect(%q, %s)
ftp.login(%q, %q); ftp.prot_p()
ftp.storbinary("STOR hello.txt", io.BytesIO(b"hello from Python\n"))
print(ftp.nlst()); ftp.retrlines("RETR hello.txt", print); ftp.quit()
`, host, port, user, password)
}
