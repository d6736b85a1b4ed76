#!/usr/bin/env python3
"""FTPS client for ftpsd's tests, built on ftplib.FTP_TLS.

It logs in over explicit FTPS (AUTH TLS), protects the data channel
(PBSZ 0 / PROT P), optionally clears the control channel (CCC), runs the
transfers it is given and prints one JSON object with every reply and the
SHA-256 of what it downloaded. The Go test compares the facts. A failed
upload or download is an exception (exit status 1); a failed name listing
is reported in the JSON.

Usage:
  ftplib_client.py --host H --port P --user U --password W [--timeout S]
      [--no-reuse] [--ccc [--pasv-first]] [--debug] [--source ADDR]
      [--allo SIZE] [--upload LOCAL --remote NAME] [--download LOCAL2 [--get NAME]]
      [--nlst] [--site CMD]

  --upload/--remote  STOR LOCAL as NAME
  --allo SIZE        ALLO SIZE before the STOR; its refusal is then reported
                     in the JSON (stor_error), not raised, and so is the
                     STOR's
  --download         RETR NAME (--get, default --remote) into LOCAL2, after
                     the upload
  --nlst             NLST of the home
  --site CMD         SITE CMD, last (its reply or its error in the JSON)
  --no-reuse         plain FTP_TLS: a new TLS session per data connection
                     (by default the data connections resume the control
                     connection's session, see ReusingFTP_TLS)
  --ccc              clear the control channel after PROT P, then PWD
  --pasv-first       with --ccc: no PWD; the download comes first, without
                     the TYPE I of retrbinary, so that PASV is the first
                     command after CCC
  --debug            ftplib's protocol trace on standard error
  --source           local address of the control and data connections
                     (e.g. 127.0.0.2, to log in from another address)
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


class Sink:
    """Writes a download to a file and hashes it."""

    def __init__(self, f):
        self.f, self.h, self.size = f, hashlib.sha256(), 0

    def __call__(self, chunk: bytes) -> None:
        self.h.update(chunk)
        self.size += len(chunk)
        self.f.write(chunk)


def download(ftp, name, path, raw_pasv, out):
    """RETR name into path. With raw_pasv the transfer starts with PASV,
    not with the TYPE I that retrbinary sends first."""
    with open(path, "wb") as f:
        sink = Sink(f)
        if raw_pasv:
            with ftp.transfercmd("RETR " + name) as conn:
                while True:
                    block = conn.recv(65536)
                    if not block:
                        break
                    sink(block)
                if isinstance(conn, ssl.SSLSocket):
                    conn.unwrap()
            out["retr"] = ftp.voidresp()
        else:
            out["retr"] = ftp.retrbinary("RETR " + name, sink)
    out["retr_sha256"] = sink.h.hexdigest()
    out["retr_bytes"] = sink.size


def nlst(ftp, out):
    """NLST, whose failure (a refused data connection) is reported."""
    try:
        out["nlst"] = sorted(n.rsplit("/", 1)[-1] for n in ftp.nlst())
    except (error_perm, error_temp) as e:
        out["data_error"] = str(e)
    except OSError as e:
        # The data connection failed under TLS (a refused handshake, or a
        # connection closed during the shutdown); the transfer's final
        # reply is still waiting on the control connection.
        out["data_tls_error"] = str(e)
        try:
            out["data_reply"] = ftp.getresp()
        except (error_perm, error_temp) as e2:
            out["data_error"] = str(e2)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--timeout", type=float, default=20.0)
    ap.add_argument("--upload")
    ap.add_argument("--remote")
    ap.add_argument("--download")
    ap.add_argument("--get")
    ap.add_argument("--nlst", action="store_true")
    ap.add_argument("--allo")
    ap.add_argument("--site")
    ap.add_argument("--ccc", action="store_true")
    ap.add_argument("--pasv-first", action="store_true")
    ap.add_argument("--no-reuse", action="store_true")
    ap.add_argument("--debug", action="store_true")
    ap.add_argument("--source", help="local address of the control and data connections")
    args = ap.parse_args()

    stdout = sys.stdout
    if args.debug:
        sys.stdout = sys.stderr  # ftplib prints its trace

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE

    out = {}
    ftp = (FTP_TLS if args.no_reuse else ReusingFTP_TLS)(
        context=ctx, timeout=args.timeout,
        source_address=(args.source, 0) if args.source else None)
    ftp.set_debuglevel(1 if args.debug else 0)
    out["welcome"] = ftp.connect(args.host, args.port)
    out["auth"] = ftp.auth()
    out["control_tls_version"] = ftp.sock.version()
    try:
        out["login"] = ftp.login(args.user, args.password)
    except error_perm as e:
        out["login_error"] = str(e)
        print(json.dumps(out), file=stdout)
        return 0
    out["pbsz_prot"] = ftp.prot_p()
    get = args.get or args.remote
    if args.ccc:
        out["ccc"] = ftp.ccc()
        # unwrap() hands back the same SSLSocket object with its TLS layer
        # removed, so ask for a TLS version instead of checking the type.
        out["control_plain_after_ccc"] = (not isinstance(ftp.sock, ssl.SSLSocket)
                                          or ftp.sock.version() is None)
        if args.pasv_first:
            download(ftp, get, args.download, True, out)
        else:
            out["pwd_after_ccc"] = ftp.sendcmd("PWD")

    if args.allo is not None:
        try:
            out["allo"] = ftp.sendcmd("ALLO " + args.allo)
        except (error_perm, error_temp) as e:
            out["allo"] = str(e)
    if args.upload:
        with open(args.upload, "rb") as f:
            try:
                out["stor"] = ftp.storbinary("STOR " + args.remote, f)
            except (error_perm, error_temp) as e:
                if args.allo is None:
                    raise
                out["stor_error"] = str(e)
    if args.download and not (args.ccc and args.pasv_first):
        download(ftp, get, args.download, False, out)
    if args.nlst:
        nlst(ftp, out)
    if args.site:
        try:
            out["site"] = ftp.sendcmd("SITE " + args.site)
        except (error_perm, error_temp) as e:
            out["site"] = str(e)
    out["quit"] = ftp.quit()
    print(json.dumps(out), file=stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
