#!/usr/bin/env python3
"""FTPS client for ftpsd's end-to-end tests, built on ftplib.FTP_TLS.

It logs in over explicit FTPS (AUTH TLS), protects the data channel
(PBSZ 0 / PROT P), uploads a local file, downloads it back, lists the
directory by name and prints one JSON object with every reply and the
SHA-256 of what it downloaded. The Go test compares the facts.

Usage:
  ftplib_client.py --host H --port P --user U --password W \
      --upload LOCAL --remote NAME --download LOCAL2 [--timeout S]
"""

import argparse
import ftplib
import hashlib
import json
import ssl
import sys
from ftplib import FTP_TLS, error_perm, error_temp


class ReusingFTP_TLS(FTP_TLS):
    """FTP_TLS whose data connections resume the control connection's TLS
    session, as servers that require session reuse (ftpsd by default,
    vsftpd's require_ssl_reuse) demand. Plain FTP_TLS starts a new session
    for every data connection. The session is kept across CCC, which turns
    the control socket back into a plain one."""

    _tls_session = None

    def _control_session(self):
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.session is not None:
            self._tls_session = self.sock.session
        return self._tls_session

    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(conn, server_hostname=self.host,
                                            session=self._control_session())
        return conn, size

    def ccc(self):
        self._control_session()
        return super().ccc()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--upload", required=True)
    ap.add_argument("--remote", required=True)
    ap.add_argument("--download", required=True)
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--ccc", action="store_true", help="clear the control channel after PROT P")
    ap.add_argument("--no-reuse", action="store_true", help="plain FTP_TLS: new TLS session per data connection")
    args = ap.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE

    out = {}
    ftp = (FTP_TLS if args.no_reuse else ReusingFTP_TLS)(context=ctx, timeout=args.timeout)
    out["welcome"] = ftp.connect(args.host, args.port)
    out["auth"] = ftp.auth()
    out["control_tls_version"] = ftp.sock.version()
    try:
        out["login"] = ftp.login(args.user, args.password)
    except error_perm as e:
        out["login_error"] = str(e)
        print(json.dumps(out))
        return 0
    out["pbsz_prot"] = ftp.prot_p()
    if args.ccc:
        out["ccc"] = ftp.ccc()
        # unwrap() hands back the same SSLSocket object with its TLS layer
        # removed, so ask for a TLS version instead of checking the type.
        out["control_plain_after_ccc"] = (not isinstance(ftp.sock, ssl.SSLSocket)
                                          or ftp.sock.version() is None)
        out["pwd_after_ccc"] = ftp.sendcmd("PWD")
    if args.no_reuse:
        try:
            out["nlst"] = sorted(n.rsplit("/", 1)[-1] for n in ftp.nlst())
        except (error_perm, error_temp) as e:
            out["data_error"] = str(e)
        except OSError as e:
            # The data connection failed under TLS (a refused handshake, or
            # a connection closed during the shutdown); the transfer's final
            # reply is still waiting on the control connection.
            out["data_tls_error"] = str(e)
            try:
                out["data_reply"] = ftp.getresp()
            except (error_perm, error_temp) as e2:
                out["data_error"] = str(e2)
        out["quit"] = ftp.quit()
        print(json.dumps(out))
        return 0

    with open(args.upload, "rb") as f:
        out["stor"] = ftp.storbinary("STOR " + args.remote, f)

    h = hashlib.sha256()
    size = 0
    with open(args.download, "wb") as f:
        def sink(chunk: bytes) -> None:
            nonlocal size
            h.update(chunk)
            size += len(chunk)
            f.write(chunk)
        out["retr"] = ftp.retrbinary("RETR " + args.remote, sink)
    out["retr_sha256"] = h.hexdigest()
    out["retr_bytes"] = size

    out["nlst"] = sorted(n.rsplit("/", 1)[-1] for n in ftp.nlst())
    out["quit"] = ftp.quit()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
