#!/usr/bin/env python3
"""Client side and /proc probes of bench/run.sh.

Every subcommand prints one line of `key=value` pairs for run.sh to log and
parse. FTPS sessions are explicit TLS (AUTH TLS, PBSZ 0, PROT P) through
ReusingFTP_TLS from internal/ftptest, whose data connections resume the
control connection's TLS session (ftpsd, vsftpd and ProFTPD are configured
to require that). Certificates are not verified: the bench makes its own.

  cpu PID|FILE            CPU seconds of a server: with a PID,
                          utime+stime+cutime+cstime of PID and of each live
                          descendant (a reaped session is in its parent's
                          cutime/cstime, a live one is counted by itself; no
                          time counts twice); with a cgroup's usage FILE
                          (cgroup v2 cpu.stat, v1 cpuacct.usage), what it
                          counts
  mem PID                 kB of the server's processes (PID and descendants):
                          sum of Pss from smaps_rollup, Rss where missing
  small H P U W N         one session: N x STOR of 1 kB, then N x RETR of
                          them, each checked by SHA-256; median ms per op
  logins H P U W N C      N logins (connect, TLS, USER/PASS, QUIT), C at a
                          time; logins per second
  idle H P U W PID N,...  opens logged-in TLS sessions up to each count and
                          reads `mem PID` there; kB per session over the
                          baseline, and how many the server held
  pasvlist H P U W N      N logged-in sessions, then all at once PASV+LIST;
                          successes (complete listings) and failures
  mklist DIR N            makes DIR with N empty-content files of fixed
                          names and sizes (sparse), the same on every run
  listing H P U W PID|FILE DIR N R
                          one session: R x LIST DIR, then R x MLSD DIR where
                          the server names MLST in FEAT; for each the wall
                          time from the command to its final reply, the
                          server's CPU seconds over it (`cpu PID`) and the
                          entries (R values joined by commas); exits
                          non-zero unless each listing has N entries
"""

import hashlib
import io
import os
import re
import resource
import socket
import ssl
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "internal", "ftptest"))
from ftplib_client import ReusingFTP_TLS  # noqa: E402

TIMEOUT = 60
# The idle test stops opening sessions when the machine has less memory
# available than this (BENCH_MIN_FREE_GIB), so that it never pushes other
# work on the machine into the OOM killer.
MIN_FREE_KB = int(os.environ.get("BENCH_MIN_FREE_GIB", "6")) << 20
SMALL_LISTING_FILES = 10  # run.sh puts this many files in small/


def children_map():
    """ppid -> [pid] for every process."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    return kids


def tree(pid):
    """pid and all its live descendants."""
    kids, out, todo = children_map(), [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def cpu(src):
    """CPU seconds of a pid's tree (int) or of a cgroup (its usage file)."""
    if isinstance(src, str) and not src.isdigit():
        with open(src) as f:
            text = f.read()
        if src.endswith("cpu.stat"):
            return int(re.search(r"^usage_usec (\d+)", text, re.M).group(1)) / 1e6
        return int(text) / 1e9
    pid = int(src)
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile: its time moves to its parent
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / tick


def mem(pid):
    total = 0
    for p in tree(pid):
        for name, key in (("smaps_rollup", "Pss:"), ("status", "VmRSS:")):
            try:
                with open(f"/proc/{p}/{name}") as f:
                    line = next((ln for ln in f if ln.startswith(key)), None)
            except OSError:
                continue
            if line:
                total += int(line.split()[1])
                break
    return total


class BenchFTP_TLS(ReusingFTP_TLS):
    """ReusingFTP_TLS with TCP_NODELAY on data connections: without it the
    TLS close_notify after a small STOR waits for the server's delayed ACK
    (Nagle), a fixed ~40 ms of the client's own that hides the servers."""

    def ntransfercmd(self, cmd, rest=None):
        conn, size = super().ntransfercmd(cmd, rest)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn, size


def session(host, port, user, password, source=None):
    ftp = BenchFTP_TLS(timeout=TIMEOUT, source_address=(source, 0) if source else None)
    ftp.context.check_hostname = False
    ftp.context.verify_mode = ssl.CERT_NONE
    ftp.connect(host, int(port))
    ftp.login(user, password)
    ftp.prot_p()
    return ftp


def small(host, port, user, password, n):
    ftp = session(host, port, user, password)
    ftp.voidcmd("TYPE I")
    blobs = [os.urandom(1024) for _ in range(int(n))]
    tag = f"{os.getpid()}-{time.monotonic_ns()}"
    stor, retr = [], []
    for i, b in enumerate(blobs):
        t = time.perf_counter()
        ftp.storbinary(f"STOR small-{tag}-{i}", io.BytesIO(b))
        stor.append(time.perf_counter() - t)
    for i, b in enumerate(blobs):
        got = bytearray()
        t = time.perf_counter()
        ftp.retrbinary(f"RETR small-{tag}-{i}", got.extend)
        retr.append(time.perf_counter() - t)
        if hashlib.sha256(got).digest() != hashlib.sha256(b).digest():
            sys.exit(f"RETR small-{tag}-{i}: SHA-256 mismatch")
    for i in range(len(blobs)):
        ftp.delete(f"small-{tag}-{i}")
    ftp.quit()
    print(f"stor_ms={statistics.median(stor) * 1000:.2f} "
          f"retr_ms={statistics.median(retr) * 1000:.2f} n={n} sha256=ok")


def login_once(host, port, user, password, source=None):
    ftp = session(host, port, user, password, source)
    ftp.quit()


def logins(host, port, user, password, n, conc, sources="1"):
    """n logins, conc at a time, from `sources` client addresses in turn
    (127.0.0.2, .3, ... when more than one; else the default source)."""
    n, conc, sources = int(n), int(conc), int(sources)
    addrs = [f"127.0.0.{2 + i}" for i in range(sources)] if sources > 1 else [None]
    t = time.perf_counter()
    with ThreadPoolExecutor(conc) as ex:
        for f in [ex.submit(login_once, host, port, user, password, addrs[i % len(addrs)]) for i in range(n)]:
            f.result()
    dt = time.perf_counter() - t
    print(f"logins_per_s={n / dt:.2f} n={n} conc={conc} sources={sources}")


def mem_available_kb():
    with open("/proc/meminfo") as f:
        return next(int(ln.split()[1]) for ln in f if ln.startswith("MemAvailable:"))


def open_sessions(host, port, user, password, count, held, lock, stop):
    """Adds logged-in sessions to held until it holds count or a login
    fails (the server's limit) or the machine runs short of memory."""
    def one():
        if stop.is_set():
            return
        try:
            ftp = session(host, port, user, password)
        except Exception as e:  # the server's limit, reported by the caller
            with lock:
                if not stop.is_set():
                    stop.set()
                    held_errors.append(f"{type(e).__name__}: {e}")
            return
        with lock:
            held.append(ftp)
        if mem_available_kb() < MIN_FREE_KB:
            with lock:
                held_errors.append(f"stopped: under {MIN_FREE_KB >> 20} GiB of memory left")
            stop.set()

    need = count - len(held)
    with ThreadPoolExecutor(16) as ex:
        list(ex.map(lambda _: one(), range(max(need, 0))))


held_errors = []


def idle(host, port, user, password, pid, counts):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    pid = int(pid)
    base = mem(pid)
    held, lock, stop = [], threading.Lock(), threading.Event()
    out = [f"base_kb={base}"]
    for c in (int(x) for x in counts.split(",")):
        if not stop.is_set():
            open_sessions(host, port, user, password, c, held, lock, stop)
        time.sleep(2)
        # the sessions must still be alive: NOOP on a sample of them
        for ftp in held[:: max(1, len(held) // 50)]:
            ftp.voidcmd("NOOP")
        kb = mem(pid)
        per = (kb - base) / len(held) if held else float("nan")
        out.append(f"want{c}_held={len(held)} want{c}_kb={kb} want{c}_kb_per_session={per:.1f}")
    if held_errors:
        out.append("limit=" + re.sub(r"\s+", "_", held_errors[0])[:120])
    for ftp in held:
        try:
            ftp.close()
        except OSError:
            pass
    print(" ".join(out))


def list_once(ftp, barrier):
    barrier.wait()
    lines = []
    ftp.retrlines("LIST small", lines.append)
    return sum(1 for ln in lines if re.search(r"f\d+\.txt$", ln))


NOTE_LOCK = threading.Lock()


def note(errors, what):
    """Counts one failure under the start of its message."""
    key = re.sub(r"\s+", "_", what)[:48]
    with NOTE_LOCK:
        errors[key] = errors.get(key, 0) + 1


def pasvlist(host, port, user, password, n):
    n = int(n)
    resource.setrlimit(resource.RLIMIT_NOFILE, (resource.getrlimit(resource.RLIMIT_NOFILE)[1],) * 2)
    ok, errors = 0, {}

    def login():
        try:
            return session(host, port, user, password)
        except Exception as e:  # a server's session limit: counted below
            note(errors, "login: " + str(e))
            return None

    with ThreadPoolExecutor(16) as ex:
        conns = [c for c in ex.map(lambda _: login(), range(n)) if c]
    if not conns:
        sys.exit("pasvlist: no session could log in: " + ",".join(errors))
    barrier = threading.Barrier(len(conns))
    t = time.perf_counter()
    with ThreadPoolExecutor(n) as ex:
        futs = [ex.submit(list_once, c, barrier) for c in conns]
        for f in futs:
            try:
                if f.result() == SMALL_LISTING_FILES:
                    ok += 1
                else:
                    note(errors, "short listing")
            except Exception as e:
                note(errors, str(e) or type(e).__name__)
    dt = time.perf_counter() - t
    for c in conns:
        try:
            c.close()
        except OSError:
            pass
    errs = ",".join(f"{k}:{v}" for k, v in sorted(errors.items())) or "none"
    print(f"ok={ok} n={n} seconds={dt:.2f} errors={errs}")


LIST_NAME = re.compile(r"(?:^|[ ;])e\d{5}\.dat$")


def list_entry_name(i):
    return f"e{i:05d}.dat"


def mklist(directory, n):
    """N files e00000.dat... of sizes i*4099 mod 1 MiB (sparse: no data)."""
    os.makedirs(directory, exist_ok=True)
    for i in range(int(n)):
        with open(os.path.join(directory, list_entry_name(i)), "wb") as f:
            f.truncate(i * 4099 % (1 << 20))
    print(f"made={n}")


def timed_listing(ftp, pid, command):
    """Wall seconds, server CPU seconds and matching entries of command."""
    lines = []
    c0 = cpu(pid)
    t = time.perf_counter()
    ftp.retrlines(command, lines.append)
    dt = time.perf_counter() - t
    c1 = cpu(pid)
    return dt, c1 - c0, sum(1 for ln in lines if LIST_NAME.search(ln))


def listing(host, port, user, password, pid, directory, n, repeat):
    n, repeat = int(n), int(repeat)
    ftp = session(host, port, user, password)
    feat = ftp.voidcmd("FEAT")
    out, bad = [], []
    for cmd in ("LIST", "MLSD"):
        key = cmd.lower()
        if cmd == "MLSD" and not re.search(r"^\s*MLST\b", feat, re.M):
            out.append(f"{key}=unsupported")
            continue
        runs = [timed_listing(ftp, pid, f"{cmd} {directory}") for _ in range(repeat)]
        out.append(f"{key}_s={','.join(f'{r[0]:.3f}' for r in runs)} "
                   f"{key}_cpu={','.join(f'{r[1]:.3f}' for r in runs)} "
                   f"{key}_n={','.join(str(r[2]) for r in runs)}")
        bad += [f"{cmd} {directory}: {r[2]} entries, want {n}" for r in runs if r[2] != n]
    ftp.quit()
    print(" ".join(out))
    if bad:
        sys.exit("; ".join(bad))


def main(argv):
    cmds = {"cpu": lambda p: print(f"{cpu(p):.3f}"),
            "mem": lambda p: print(mem(int(p))),
            "small": small, "logins": logins, "idle": idle, "pasvlist": pasvlist,
            "mklist": mklist, "listing": listing}
    if len(argv) < 2 or argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[argv[1]](*argv[2:])


if __name__ == "__main__":
    main(sys.argv)
