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
import hashlib
import json
import ssl
import sys
from ftplib import FTP_TLS, error_perm


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
    args = ap.parse_args()

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE

    out = {}
    ftp = FTP_TLS(context=ctx, timeout=args.timeout)
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
