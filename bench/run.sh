#!/usr/bin/env bash
# bench/run.sh - ftpsd side by side with vsftpd, ProFTPD and Pure-FTPd.
#
# One command on a fresh Debian 12 machine, as root:
#   bash bench/run.sh                  # full run, about half an hour
#   BENCH_QUICK=1 bash bench/run.sh    # a few minutes, smaller numbers
#
# Everything runs on 127.0.0.1; nothing else is contacted (except apt for the
# packages). It measures, alternating the servers round by round (each round
# rotates the order, so slow phases of a shared machine hit all of them):
#   * bulk RETR and STOR of one random file (curl, TLS data), MiB/s of the
#     data phase (curl's time_total - time_pretransfer, see throughput.sh)
#     and server CPU seconds per GiB moved: the CPU usage of a cgroup made
#     for each server (every process it ever ran, however its sessions
#     end), before and after; where no cgroup can be made, /proc/<pid>/stat
#     utime+stime+cutime+cstime of the server and its live descendants
#     (forking servers reap their sessions, so a finished session should be
#     in the listener's cutime/cstime; the script checks that once per
#     server, but vsftpd loses some: see "Server CPU time" below);
#   * aggregate MiB/s of 4 curl clients at once (4 RETR, then 4 STOR);
#   * both bulk tests (and their CPU) twice, once per cipher mode of
#     BENCH_CIPHERS: "default" (each server picks its TLS 1.3 suite from
#     curl's usual offer: ftpsd AES-128-GCM, the OpenSSL peers AES-256-GCM)
#     and "aes256" (curl offers TLS 1.3 with TLS_AES_256_GCM_SHA384 alone,
#     --tlsv1.3 --tls13-ciphers, so every server has to use it or fail; no
#     server-side setting is needed: vsftpd's ssl_ciphers and Pure-FTPd's -J
#     are TLS 1.2 lists, Go has no TLS 1.3 suite setting, and ProFTPD's
#     "TLSCipherSuite TLSv1.3 ..." stays unset as its default already picks
#     that suite, which its default rows show). Every transfer
#     runs curl -v and the suites it negotiated (control and data
#     connection) are printed per server under each block of rows; under
#     "aes256" any other suite fails the run;
#   * small files in one session (Python ftplib): 100 x STOR of 1 kB, then
#     100 x RETR, median ms per operation;
#   * logins per second: full TLS logins (connect, AUTH TLS, USER/PASS,
#     PROT P, QUIT), 4 at a time, from one client address and then from
#     four (127.0.0.2-5);
#   * 200 logged-in sessions doing PASV+LIST at once on the 20-port passive
#     range: complete listings out of 200;
#   * a directory of BENCH_LIST (20,000) files (same names and sizes for
#     all, made once in the shared home): LIST, then MLSD where the server
#     names MLST in FEAT (vsftpd does not: "–"), in one Python ftplib
#     session, each BENCH_LIST_REPEAT (3) times: wall seconds from the
#     command to its final reply and the server's CPU seconds over it (as
#     for the bulk rows; the median is over every listing of the rounds),
#     entries counted (a short listing fails the run). Pure-FTPd stops
#     listings at 10,000 entries by default: it runs with -L 100000:5;
#   * the s3 backend (test "s3", ftpsd only: the peers have no object
#     storage): a second ftpsd with [storage] backend = "s3" against a MinIO
#     started here on loopback (binary $FTPSD_MINIO or
#     ~/.cache/ftpsd-minio/minio; its data in the temp dir), STOR then RETR
#     of the bulk file (the RETR's SHA-256 checks the STOR), MiB/s and
#     server CPU s/GiB at the default cipher, in a table beside ftpsd on
#     "os" (from the bulk test of the same rounds) with s3/os ratios;
#     MinIO's own CPU s/GiB on its own rows. Without MinIO the test is
#     skipped with a note.
#   and once per server, after the rounds: memory per idle logged-in TLS
#   session (sum of Pss of the server's processes) at 1,000 and 10,000.
# Reading the bulk numbers: the data phase excludes connect, TLS and login;
# curl 7.88 also stalls ~0.12 s between TYPE and its reply with every server
# (a client-side timer), which is why the data phase is the figure to
# compare. vsftpd 3.0.3 relays every received TLS record between two of its
# processes over a socketpair before writing it (seen with strace -f), which
# holds its STOR rate down. The machine is small and shared: compare ratios
# from one run, not absolute numbers across runs.
# Every download and upload is checked by SHA-256, every listing by its
# entries. It prints one markdown table of medians with ftpsd/peer ratios;
# per-round raw numbers go to bench/results/<time>/raw.log next to the table.
#
# Peers (Debian 12 packages; they conflict with each other as packages):
# vsftpd is installed with apt-get, proftpd-core + proftpd-mod-crypto (it
# holds mod_tls) and pure-ftpd are fetched with `apt-get download` and
# unpacked with `dpkg-deb -x` into the temp dir; the shared libraries they
# need are installed with apt-get.
#
# Same setup for all four: explicit TLS required on control and data (TLS
# 1.2 or 1.3), one self-signed ECDSA P-256 certificate, a 20-port passive
# range, one user whose home is the data dir, no limit on clients that the
# bench can reach (ftpsd max_connections(_per_ip) = 30000, vsftpd max_clients
# / max_per_ip = 30000, ProFTPD MaxInstances 30000, Pure-FTPd -c/-C 30000),
# idle timeouts of an hour, and TLS session reuse on data connections
# required where the server has the setting (ftpsd default, vsftpd
# require_ssl_reuse=YES, ProFTPD's default; Pure-FTPd has none). The peers
# check the system user's /etc/shadow entry (vsftpd through PAM, ProFTPD
# mod_auth_unix, Pure-FTPd -l unix), all through crypt(3).
# Password hash: bcrypt for all. ftpsd's is made by `ftpsd hash-password`
# (cost 10); Go's bcrypt is slower than libxcrypt's, so the peers' cost
# (10 or 11) is the one whose single check through crypt(3) takes closest to
# Go's single check at cost 10; both times are printed. That user
# (ftpblogin) serves the logins test only. Every other test logs in the user
# ftpbench, bcrypt cost 4 on all four servers, so that the CPU per GiB of a
# transfer does not carry a login's hashing and 10,000 idle sessions do not
# take most of an hour to open.
#
# Environment (defaults: full / BENCH_QUICK=1):
#   BENCH_MB=128/32   bulk file size, MiB      BENCH_ROUNDS=5/2
#   BENCH_LOGINS=60/20                         BENCH_SMALL=100
#   BENCH_MIN_FREE_GIB=6  the idle test opens no more sessions below this
#   BENCH_PASV=200                             BENCH_IDLE=1000,10000/100,1000
#   BENCH_PEERS="vsftpd proftpd pure-ftpd"     BENCH_KEEP=0 (1 keeps temp dir)
#   BENCH_TESTS="bulk par4 small logins pasvlist list s3 idle" (a subset runs only those)
#   BENCH_CIPHERS="default aes256" (the cipher modes of bulk and par4)
#   BENCH_LIST=20000  entries of the listing test
#   BENCH_LIST_REPEAT=3  listings of each command per server and round
#   BENCH_S3_SCHEME=https  how the s3 instance reaches MinIO: https (MinIO
#     serves the bench's certificate, as S3 itself is reached) or http
#   BENCH_CGROUP=1    0: server CPU by the /proc sum, not by cgroups
#   BENCH_FTPSD_BIN= (empty: go build ./cmd/ftpsd)   BENCH_TMPDIR=/tmp
# Ports: control 2221-2225 (vsftpd, ftpsd, proftpd, pure-ftpd, ftpsd on
# s3), passive 31100-31119, 31200-31219, 31300-31319, 31400-31419,
# 31500-31519, MinIO 2226 (and 2227, its console) (below Linux's
# ephemeral range, so the 10,000 client sockets cannot take them).
#
# It creates the system users ftpbench and ftpblogin (GECOS "ftpsd bench";
# an existing user without that marker is never touched) and removes them at
# exit, and raises its own open-file limit to 65536 or the hard limit (the servers
# inherit it).
set -euo pipefail

QUICK=${BENCH_QUICK:-0}
if [[ $QUICK == 1 ]]; then d_mb=32 d_rounds=2 d_logins=20 d_idle=100,1000; else d_mb=128 d_rounds=5 d_logins=60 d_idle=1000,10000; fi
BENCH_MB=${BENCH_MB:-$d_mb}
BENCH_ROUNDS=${BENCH_ROUNDS:-$d_rounds}
BENCH_LOGINS=${BENCH_LOGINS:-$d_logins}
BENCH_SMALL=${BENCH_SMALL:-100}
BENCH_PASV=${BENCH_PASV:-200}
BENCH_IDLE=${BENCH_IDLE:-$d_idle}
BENCH_PEERS=${BENCH_PEERS:-vsftpd proftpd pure-ftpd}
BENCH_TESTS=${BENCH_TESTS:-bulk par4 small logins pasvlist list s3 idle}
BENCH_CIPHERS=${BENCH_CIPHERS:-default aes256}
BENCH_LIST=${BENCH_LIST:-20000}
BENCH_LIST_REPEAT=${BENCH_LIST_REPEAT:-3}
S3_SCHEME=${BENCH_S3_SCHEME:-https}
MINIO=${FTPSD_MINIO:-$HOME/.cache/ftpsd-minio/minio}
BENCH_TMPDIR=${BENCH_TMPDIR:-/tmp}
BENCH_KEEP=${BENCH_KEEP:-0}
DATA_USER=ftpbench LOGIN_USER=ftpblogin GECOS="ftpsd bench"

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=(python3 -W ignore "$REPO/bench/ftpbench.py")
declare -A PORT=([vsftpd]=2221 [ftpsd]=2222 [proftpd]=2223 [pure-ftpd]=2224 [ftpsd-s3]=2225)
declare -A PASV=([vsftpd]=31100 [ftpsd]=31200 [proftpd]=31300 [pure-ftpd]=31400 [ftpsd-s3]=31500)
MINIO_PORT=2226 MINIO_CONSOLE=2227
# The one TLS 1.3 suite curl offers in cipher mode "aes256".
FORCED=TLS_AES_256_GCM_SHA384
# NA marks a figure that does not exist (a test not run, MLSD on vsftpd).
NA=–
declare -A PID=()

say() { printf '%s\n' "$*"; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root (it installs packages, adds users and runs the peers)"
for v in BENCH_MB BENCH_ROUNDS BENCH_LOGINS BENCH_SMALL BENCH_PASV BENCH_LIST BENCH_LIST_REPEAT; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
[[ $BENCH_IDLE =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "BENCH_IDLE must be counts like 1000,10000, got '$BENCH_IDLE'"
for p in $BENCH_PEERS; do [[ -n ${PORT[$p]:-} && $p != ftpsd* ]] || die "unknown peer '$p' in BENCH_PEERS"; done
for t in $BENCH_TESTS; do [[ " bulk par4 small logins pasvlist list s3 idle " == *" $t "* ]] || die "unknown test '$t' in BENCH_TESTS"; done
for m in $BENCH_CIPHERS; do [[ $m == default || $m == aes256 ]] || die "unknown cipher mode '$m' in BENCH_CIPHERS (default, aes256)"; done
[[ -n $BENCH_CIPHERS ]] || die "BENCH_CIPHERS is empty"
[[ $S3_SCHEME == https || $S3_SCHEME == http ]] || die "BENCH_S3_SCHEME must be https or http, got '$S3_SCHEME'"
SERVERS=(ftpsd $BENCH_PEERS)
wanted() { [[ " $BENCH_TESTS " == *" $1 "* ]]; }
if wanted s3 && [[ ! -x $MINIO ]]; then
	say "s3: no MinIO at $MINIO (set FTPSD_MINIO); the s3 rows are skipped"
	BENCH_TESTS=$(tr ' ' '\n' <<<"$BENCH_TESTS" | grep -vx s3 | tr '\n' ' ')
fi
# The open-file limit: 65536 where allowed, else the hard limit (a container
# may forbid raising it); the client and each server need one per session.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" || die "cannot raise the open-file limit"

# --- packages -------------------------------------------------------------
export PATH="$PATH:/usr/sbin:/sbin"
LIBS=(libmemcached11 libmemcachedutil2 libhiredis0.14 libsodium23 libpcre2-posix3 libidn2-0 libacl1 libcap2)
need=()
for c in curl openssl python3 vsftpd; do command -v "$c" >/dev/null || need+=("$c"); done
for l in "${LIBS[@]}"; do dpkg-query -W -f '${Status}' "$l" 2>/dev/null | grep -q 'ok installed' || need+=("$l"); done
if ((${#need[@]})); then
	say "installing: ${need[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# --- ports ----------------------------------------------------------------
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
S3_PORTS=()
if wanted s3; then
	mapfile -t S3_PORTS < <(seq "${PASV[ftpsd-s3]}" $((PASV[ftpsd-s3] + 19)))
	S3_PORTS+=("${PORT[ftpsd-s3]}" "$MINIO_PORT" "$MINIO_CONSOLE")
fi
for s in "${SERVERS[@]}"; do
	for p in "${PORT[$s]}" $(seq "${PASV[$s]}" $((PASV[$s] + 19))); do
		port_taken "$p" && die "port $p on 127.0.0.1 is taken"
	done
done
for p in "${S3_PORTS[@]}"; do port_taken "$p" && die "port $p on 127.0.0.1 is taken"; done

# --- temp dir, cleanup ----------------------------------------------------
T=$(mktemp -d "$BENCH_TMPDIR/ftpsd-bench.XXXXXX")
chmod 755 "$T"
DATA=$T/data
OUT=$REPO/bench/results/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT" "$DATA/small" "$T/empty" "$T/client" "$T/peers"
RAW=$OUT/raw.log
MADE_USERS=()
# Server CPU time. Each server (and MinIO) runs in a cgroup of its own
# made here, CG<name>, whose CPU usage counts every process that ever ran
# in it, however its sessions end (cgroup v2: cpu.stat usage_usec; v1:
# cpuacct.usage). vsftpd's session processes do not always end up in the
# listener's cutime/cstime: some are reparented before they are reaped, and
# their time is lost to the /proc sum (a vsftpd STOR then read 0.3 s/GiB
# instead of 3-4). Without a writable cgroup hierarchy (BENCH_CGROUP=0 to
# skip it) the /proc sum is the fallback, with the reaping check below.
CG="" CGFILE=""
if [[ ${BENCH_CGROUP:-1} == 1 ]]; then
	if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
		CG=/sys/fs/cgroup/ftpsd-bench.$$. CGFILE=cpu.stat
	elif [[ -f /sys/fs/cgroup/cpuacct/cpuacct.usage ]]; then
		CG=/sys/fs/cgroup/cpuacct/ftpsd-bench.$$. CGFILE=cpuacct.usage
	fi
	if [[ -n $CG ]] && ! { mkdir "${CG}probe" && rmdir "${CG}probe"; } 2>/dev/null; then CG="" CGFILE=""; fi
fi
# inside NAME CMD...: execs CMD in NAME's cgroup (run it with &: the
# background subshell becomes CMD, so $! is its pid).
inside() {
	local name=$1
	shift
	if [[ -n $CG ]]; then
		mkdir -p "$CG$name"
		echo "$BASHPID" >"$CG$name/cgroup.procs"
	fi
	exec "$@"
}
# cpusrc NAME: what ftpbench.py's cpu reads for NAME: its cgroup's usage
# file, or its pid.
cpusrc() { if [[ -n $CG ]]; then echo "$CG$1/$CGFILE"; else echo "${PID[$1]}"; fi; }
cleanup() {
	local rc=$? s
	set +e
	for s in "${!PID[@]}"; do # sessions of forking servers first, then the listener
		pkill -TERM -P "${PID[$s]}" 2>/dev/null
		kill "${PID[$s]}" 2>/dev/null && wait "${PID[$s]}" 2>/dev/null
	done
	if [[ -n $CG ]]; then # what is left in the servers' cgroups, then the cgroups
		for s in "${!PID[@]}"; do
			[[ -f $CG$s/cgroup.procs ]] || continue
			while read -r p; do kill "$p" 2>/dev/null; done <"$CG$s/cgroup.procs"
		done
		sleep 0.5
		for s in "${!PID[@]}"; do rmdir "$CG$s" 2>/dev/null; done
	fi
	for u in "${MADE_USERS[@]}"; do userdel "$u" 2>/dev/null; done
	if [[ $BENCH_KEEP == 1 ]]; then say "kept $T"; else rm -rf "$T"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
fail() {
	printf 'run.sh: %s\n' "$*" >&2
	for f in "$T"/*.log; do printf -- '--- %s (tail)\n' "$f"; tail -15 "$f"; done >&2
	exit 1
}
log() { printf '%s\n' "$*" >>"$RAW"; }

say "peers: unpacking proftpd-core, proftpd-mod-crypto, pure-ftpd"
(cd "$T/peers" && apt-get download -qq proftpd-core proftpd-mod-crypto pure-ftpd 2>/dev/null) ||
	die "apt-get download of the peers failed (run apt-get update?)"
for f in "$T"/peers/*.deb; do dpkg-deb -x "$f" "$T/peers/root"; done
PROFTPD=$T/peers/root/usr/sbin/proftpd
PUREFTPD=$T/peers/root/usr/sbin/pure-ftpd

# --- ftpsd binary, hash tool ------------------------------------------------
if [[ -n ${BENCH_FTPSD_BIN:-} ]]; then
	FTPSD=$BENCH_FTPSD_BIN
	[[ -x $FTPSD ]] || die "BENCH_FTPSD_BIN=$FTPSD is not executable"
else
	say "building ftpsd from $REPO"
	(cd "$REPO" && go build -o "$T/ftpsd" ./cmd/ftpsd) || die "go build failed"
	FTPSD=$T/ftpsd
fi
(cd "$REPO" && go build -o "$T/hashcost" ./bench/hashcost) || die "go build ./bench/hashcost failed"

# --- certificate, data ----------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout "$T/key.pem" -out "$T/cert.pem" -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1 || die "openssl req failed"
chmod 600 "$T/key.pem"
cat "$T/cert.pem" "$T/key.pem" >"$T/both.pem" && chmod 600 "$T/both.pem"
say "making a ${BENCH_MB} MiB test file from /dev/urandom"
head -c "$((BENCH_MB * 1024 * 1024))" /dev/urandom >"$DATA/bench.bin"
SUM=$(sha256sum <"$DATA/bench.bin" | cut -d' ' -f1)
SIZE=$(stat -c %s "$DATA/bench.bin")
for i in $(seq 1 10); do printf 'file %d\n' "$i" >"$DATA/small/f$i.txt"; done
if wanted list; then
	say "making a directory of $BENCH_LIST files (list$BENCH_LIST/)"
	"${PY[@]}" mklist "$DATA/list$BENCH_LIST" "$BENCH_LIST" >/dev/null || die "mklist failed"
fi

# --- users and hashes -------------------------------------------------------
PASS=$(openssl rand -hex 16)
# crypt_ms HASH N: ms per check of PASS against HASH through crypt(3).
crypt_ms() {
	python3 -W ignore -c 'import crypt, sys, time
h, p, n = sys.argv[1], sys.argv[2], int(sys.argv[3]); t = time.perf_counter()
for _ in range(n): assert crypt.crypt(p, h) == h
print("%.1f" % ((time.perf_counter() - t) / n * 1000))' "$1" "$PASS" "$2"
}
bcrypt_crypt() { python3 -W ignore -c 'import crypt, sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << int(sys.argv[2]))))' "$PASS" "$1"; }
FT_HASH=$(printf '%s\n' "$PASS" | "$FTPSD" hash-password -cost 10) || die "ftpsd hash-password failed"
GO_MS=$(printf '%s\n%s\n' "$FT_HASH" "$PASS" | "$T/hashcost" 10)
best=""
for c in 10 11; do
	h=$(bcrypt_crypt $c)
	ms=$(crypt_ms "$h" 10)
	say "bcrypt: Go cost 10 ${GO_MS} ms per check; crypt(3) cost $c ${ms} ms"
	log "hash go_cost10_ms=$GO_MS crypt_cost${c}_ms=$ms"
	d=$(awk -v a="$ms" -v b="$GO_MS" 'BEGIN{d=a-b; print (d<0?-d:d)}')
	if [[ -z $best ]] || awk -v d="$d" -v b="$best_d" 'BEGIN{exit !(d<b)}'; then best=$c best_d=$d PEER_HASH=$h PEER_MS=$ms; fi
done
PEER_COST=$best
DATA_HASH=$(bcrypt_crypt 4)
for u in $DATA_USER $LOGIN_USER; do
	if id "$u" >/dev/null 2>&1; then
		[[ $(getent passwd "$u" | cut -d: -f5) == "$GECOS" ]] || die "user $u exists and was not made by this script"
		usermod -d "$DATA" -s /bin/bash "$u"
	else
		useradd -M -d "$DATA" -s /bin/bash -c "$GECOS" "$u"
	fi
	MADE_USERS+=("$u")
done
usermod -p "$PEER_HASH" $LOGIN_USER
usermod -p "$DATA_HASH" $DATA_USER
chown -R "$DATA_USER:" "$DATA"
chmod -R a+rX "$DATA"

# --- server configs and start ---------------------------------------------
# ftpsd_config NAME STORAGE: the config of the ftpsd instance NAME (ftpsd,
# ftpsd-s3) with STORAGE as the lines of its [storage] table.
ftpsd_config() {
	local last=$((PASV[$1] + 19))
	cat <<-EOF
		[server]
		listen = "127.0.0.1:${PORT[$1]}"
		idle_timeout = "1h"
		max_connections = 30000
		max_connections_per_ip = 30000
		max_unauthenticated = 30000
		[tls]
		cert_file = "$T/cert.pem"
		key_file = "$T/key.pem"
		require = "all"
		[passive]
		ports = "${PASV[$1]}-$last"
		[storage]
		$2
		[[users]]
		name = "$DATA_USER"
		password_hash = "$DATA_HASH"
		[[users]]
		name = "$LOGIN_USER"
		password_hash = "$FT_HASH"
		read_only = true
		[log]
		level = "warn"
	EOF
}
start_ftpsd() {
	ftpsd_config ftpsd "backend = \"os\"
root = \"$DATA\"" >"$T/ftpsd.toml"
	inside ftpsd "$FTPSD" -config "$T/ftpsd.toml" >"$T/ftpsd.log" 2>&1 &
	PID[ftpsd]=$!
}
# The s3 instance: its bucket "bench" in the MinIO started by start_minio.
MINIO_USER=ftpsd-bench MINIO_SECRET=$(openssl rand -hex 16)
start_ftpsd-s3() {
	printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$MINIO_USER" "$MINIO_SECRET" >"$T/s3-credentials"
	chmod 600 "$T/s3-credentials"
	ftpsd_config ftpsd-s3 "backend = \"s3\"
endpoint = \"$S3_SCHEME://127.0.0.1:$MINIO_PORT\"
bucket = \"bench\"
path_style = true
credentials_file = \"$T/s3-credentials\"" >"$T/ftpsd-s3.toml"
	# Over https ftpsd trusts the bench's certificate, which MinIO serves.
	SSL_CERT_FILE=$T/cert.pem inside ftpsd-s3 "$FTPSD" -config "$T/ftpsd-s3.toml" >"$T/ftpsd-s3.log" 2>&1 &
	PID[ftpsd-s3]=$!
}
start_minio() {
	mkdir -p "$T/minio" "$T/minio-certs"
	local certs=()
	if [[ $S3_SCHEME == https ]]; then
		cp "$T/cert.pem" "$T/minio-certs/public.crt" && cp "$T/key.pem" "$T/minio-certs/private.key"
		certs=(--certs-dir "$T/minio-certs")
	fi
	MINIO_ROOT_USER=$MINIO_USER MINIO_ROOT_PASSWORD=$MINIO_SECRET MINIO_BROWSER=off MINIO_UPDATE=off \
		inside minio "$MINIO" server "$T/minio" --address "127.0.0.1:$MINIO_PORT" \
		--console-address "127.0.0.1:$MINIO_CONSOLE" "${certs[@]}" --quiet >"$T/minio.log" 2>&1 &
	PID[minio]=$!
	local i
	for i in $(seq 1 300); do
		kill -0 "${PID[minio]}" 2>/dev/null || fail "MinIO exited at start"
		curl -sf --cacert "$T/cert.pem" -o /dev/null "$S3_SCHEME://127.0.0.1:$MINIO_PORT/minio/health/live" && break
		sleep 0.2
	done
	# The bucket, by a signed PUT (MinIO answers 503 for a moment after it is live).
	for i in $(seq 1 50); do
		curl -sf --cacert "$T/cert.pem" -o /dev/null --aws-sigv4 aws:amz:us-east-1:s3 -u "$MINIO_USER:$MINIO_SECRET" \
			-X PUT "$S3_SCHEME://127.0.0.1:$MINIO_PORT/bench" && return 0
		sleep 0.2
	done
	fail "MinIO: could not make the bucket"
}
start_vsftpd() {
	local last=$((PASV[vsftpd] + 19))
	cat >"$T/vsftpd.conf" <<-EOF
		listen=YES
		listen_ipv6=NO
		listen_address=127.0.0.1
		listen_port=${PORT[vsftpd]}
		background=NO
		anonymous_enable=NO
		local_enable=YES
		write_enable=YES
		pasv_enable=YES
		pasv_min_port=${PASV[vsftpd]}
		pasv_max_port=$last
		max_clients=30000
		max_per_ip=30000
		idle_session_timeout=3600
		data_connection_timeout=3600
		ssl_enable=YES
		rsa_cert_file=$T/cert.pem
		rsa_private_key_file=$T/key.pem
		force_local_logins_ssl=YES
		force_local_data_ssl=YES
		require_ssl_reuse=YES
		seccomp_sandbox=NO
		secure_chroot_dir=$T/empty
	EOF
	inside vsftpd vsftpd "$T/vsftpd.conf" >"$T/vsftpd.log" 2>&1 &
	PID[vsftpd]=$!
}
start_proftpd() {
	local last=$((PASV[proftpd] + 19))
	cat >"$T/proftpd.conf" <<-EOF
		ModulePath $T/peers/root/usr/lib/proftpd
		LoadModule mod_tls.c
		ServerName "bench"
		ServerType standalone
		DefaultServer on
		DefaultAddress 127.0.0.1
		SocketBindTight on
		UseIPv6 off
		Port ${PORT[proftpd]}
		PassivePorts ${PASV[proftpd]} $last
		MaxInstances 30000
		User nobody
		Group nogroup
		PidFile $T/proftpd.pid
		ScoreboardFile $T/proftpd.scoreboard
		DelayTable none
		WtmpLog off
		UseReverseDNS off
		SystemLog $T/proftpd.log
		TransferLog none
		AuthOrder mod_auth_unix.c
		RequireValidShell off
		AllowOverwrite on
		TimeoutIdle 3600
		TimeoutNoTransfer 3600
		TLSEngine on
		TLSRequired on
		TLSProtocol TLSv1.2 TLSv1.3
		TLSECCertificateFile $T/cert.pem
		TLSECCertificateKeyFile $T/key.pem
		TLSVerifyClient off
		TLSLog $T/proftpd-tls.log
	EOF
	inside proftpd "$PROFTPD" -n -c "$T/proftpd.conf" >"$T/proftpd.out.log" 2>&1 &
	PID[proftpd]=$!
}
# Pure-FTPd lets in at most half as many clients as it has passive ports;
# the idle-session test restarts it with PF_RANGE=40000:60001.
PF_RANGE=${PASV[pure-ftpd]}:$((PASV[pure-ftpd] + 19))
start_pure-ftpd() {
	# -Y 3: TLS required on control and data; -l unix: /etc/shadow via crypt(3);
	# -L: listings of up to 100,000 entries (the default stops at 10,000)
	inside pure-ftpd "$PUREFTPD" -S "127.0.0.1,${PORT[pure-ftpd]}" -4 -l unix -E -H -Y 3 \
		-2 "$T/both.pem" -p "$PF_RANGE" -L 100000:5 \
		-c 30000 -C 30000 -I 60 -g "$T/pure-ftpd.pid" >"$T/pure-ftpd.log" 2>&1 &
	PID[pure-ftpd]=$!
}
wait_220() {
	local port=$1 pid=$2 i line l
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || return 1
		line=$( (exec 3<>"/dev/tcp/127.0.0.1/$port" && read -r -t 2 l <&3 && echo "$l") 2>/dev/null || true)
		[[ $line == 220* ]] && return 0
		sleep 0.1
	done
	return 1
}
for s in "${SERVERS[@]}"; do
	"start_$s"
	wait_220 "${PORT[$s]}" "${PID[$s]}" || fail "$s did not come up on 127.0.0.1:${PORT[$s]}"
done
if wanted s3; then
	start_minio
	start_ftpsd-s3
	wait_220 "${PORT[ftpsd-s3]}" "${PID[ftpsd-s3]}" || fail "ftpsd-s3 did not come up on 127.0.0.1:${PORT[ftpsd-s3]}"
fi

CURL=(curl -sS --ssl-reqd -k --connect-timeout 10 --max-time 600 -u "$DATA_USER:$PASS")
url() { echo "ftp://127.0.0.1:${PORT[$1]}/$2"; }
cpu() { "${PY[@]}" cpu "$(cpusrc "$1")"; }
# xcurl MODE TRACE ARGS...: curl in cipher mode MODE with its -v trace
# (and any error) in the file TRACE.
xcurl() {
	local mode=$1 trace=$2 o=()
	shift 2
	[[ $mode == aes256 ]] && o=(--tlsv1.3 --tls13-ciphers "$FORCED")
	"${CURL[@]}" "${o[@]}" -v "$@" 2>"$trace"
}
# suites TRACE: the TLS suites of a curl -v trace, one per connection.
suites() { sed -n 's/.*SSL connection using [^ ]* \/ \([^ ]*\).*/\1/p' "$1"; }

# --- versions, TLS ----------------------------------------------------------
{
	say "ftpsd:     $("$FTPSD" version 2>&1 | head -1) (repo $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?'))"
	say "vsftpd:    $(dpkg-query -W -f '${Version}' vsftpd 2>/dev/null)"
	say "proftpd:   $(basename "$T"/peers/proftpd-core_*.deb)"
	say "pure-ftpd: $(basename "$T"/peers/pure-ftpd_*.deb)"
	say "curl:      $(curl --version | head -1)"
	say "python:    $(python3 -c 'import ssl, sys; print(sys.version.split()[0], ssl.OPENSSL_VERSION)')"
	say "machine:   $(uname -r), $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
	if wanted s3; then say "minio:     $("$MINIO" --version 2>&1 | head -1), reached over $S3_SCHEME"; fi
	say "cpu time:  $(if [[ -n $CG ]]; then echo "a cgroup per server, ${CG}NAME/$CGFILE"; else echo "/proc sum (no writable cgroup hierarchy)"; fi)"
	say "bcrypt:    logins test: ftpsd cost 10 (Go, $GO_MS ms/check), peers cost $PEER_COST (crypt(3), $PEER_MS ms/check); other tests cost 4"
} | tee "$OUT/versions.txt"
say ""
say "== TLS as negotiated (curl -v: control, then data connection)"
for mode in $BENCH_CIPHERS; do
	for s in "${SERVERS[@]}"; do
		say "-- $s, cipher mode $mode"
		xcurl "$mode" "$T/curl-tls.log" "$(url "$s" small/)" -o /dev/null || fail "curl -v against $s failed"
		grep -E 'SSL connection using|re-using session' "$T/curl-tls.log" | sed 's/^/   /'
	done
done | tee -a "$OUT/versions.txt"

# --- reaping check ----------------------------------------------------------
# A session's CPU time must reach the listener's cutime/cstime once it ends:
# after one login+LIST the server has no more descendants than before and
# its own utime+stime+cutime+cstime grew.
say ""
say "== reaping check (forking servers: finished sessions in the listener's cutime/cstime)"
for s in $BENCH_PEERS; do
	own() { awk '{print $14+$15+$16+$17, $16+$17}' "/proc/${PID[$s]}/stat"; }
	read -r _ c0 <<<"$(own)"
	for _ in 1 2 3; do "${CURL[@]}" -o /dev/null "$(url "$s" bench.bin)"; done
	sleep 1
	read -r _ c1 <<<"$(own)"
	kids=$(pgrep -c -P "${PID[$s]}" || true)
	say "   $s: children's ticks $c0 -> $c1 after 3 downloads, $kids live children"
	((c1 > c0)) || fail "$s: finished sessions did not show in the listener's cutime/cstime"
done

# --- the rounds -------------------------------------------------------------
RES=$T/results # lines: server metric value
SUITES=$T/suites # lines: server mode suite, one per TLS connection of a counted transfer
: >"$RES"
: >"$SUITES"
put() { echo "$1 $2 $3" >>"$RES"; log "round=$ROUND server=$1 $2=$3"; }
# msuf MODE: the metric suffix of a cipher mode ("" for the default).
msuf() { [[ $1 == default ]] || printf '_%s' "$1"; }
# note_suites SERVER MODE TRACE: records the suites of a transfer's trace;
# in mode aes256 anything but $FORCED fails the run.
note_suites() {
	local st
	st=$(suites "$3")
	[[ -n $st ]] || fail "$1: no TLS suite in curl's trace $3"
	while read -r x; do
		echo "$1 $2 $x" >>"$SUITES"
		[[ $2 != aes256 || $x == "$FORCED" ]] || fail "$1 negotiated $x in cipher mode aes256"
	done <<<"$st"
	log "round=$ROUND server=$1 mode=$2 suites=$(tr '\n' ',' <<<"$st")"
}
gib() { awk -v c="$1" -v n="$2" 'BEGIN{printf "%.3f", c / (n / 1073741824)}'; }
W='%{time_total} %{time_pretransfer}'
rate() { awk -v n="$1" -v t="$2" -v p="$3" 'BEGIN{printf "%.2f", n/(t-p)/1048576}'; }
check() { # check FILE WHAT
	[[ $(stat -c %s "$1") == "$SIZE" && $(sha256sum <"$1" | cut -d' ' -f1) == "$SUM" ]] || fail "$2: size or SHA-256 mismatch"
}

# xfer SERVER MODE KEY CURL-ARGS...: one timed transfer (curl in cipher
# mode MODE), its suites noted; puts KEY_mibs and KEY_cpu_gib (with the
# mode's suffix) of SERVER, and with MinIO up under test s3 MinIO's CPU.
xfer() {
	local s=$1 mode=$2 key=$3 c0 c1 m0=0 m1=0 p0=0 p1=0 t pre sfx
	shift 3
	sfx=$(msuf "$mode")
	[[ -n $CG ]] && p0=$("${PY[@]}" cpu "${PID[$s]}")
	c0=$(cpu "$s")
	[[ $s == ftpsd-s3 ]] && m0=$(cpu minio)
	read -r t pre <<<"$(xcurl "$mode" "$T/curl-$s.log" -w "$W" "$@")" || fail "$key with $s (mode $mode)"
	sleep 0.3
	c1=$(cpu "$s")
	[[ $s == ftpsd-s3 ]] && m1=$(cpu minio)
	# The /proc sum beside the cgroup's figure, in the raw log only.
	[[ -n $CG ]] && p1=$("${PY[@]}" cpu "${PID[$s]}") &&
		log "round=$ROUND server=$s ${key}_cpu_gib${sfx}_by_proc_sum=$(gib "$(awk -v a="$p0" -v b="$p1" 'BEGIN{print b-a}')" "$SIZE")"
	note_suites "$s" "$mode" "$T/curl-$s.log"
	put "$s" "${key}_mibs$sfx" "$(rate "$SIZE" "$t" "$pre")"
	put "$s" "${key}_cpu_gib$sfx" "$(gib "$(awk -v a="$c0" -v b="$c1" 'BEGIN{print b-a}')" "$SIZE")"
	[[ $s == ftpsd-s3 ]] && put minio "${key}_cpu_gib$sfx" "$(gib "$(awk -v a="$m0" -v b="$m1" 'BEGIN{print b-a}')" "$SIZE")"
	return 0
}

# bulk SERVER [MODE]: RETR then STOR of the bulk file, checked.
bulk() {
	local s=$1 mode=${2:-default} f=$DATA/up-$1.bin
	xfer "$s" "$mode" retr -o "$T/client/dl.bin" "$(url "$s" bench.bin)"
	check "$T/client/dl.bin" "RETR from $s" && rm -f "$T/client/dl.bin"
	xfer "$s" "$mode" stor -T "$DATA/bench.bin" "$(url "$s" "up-$s.bin")"
	check "$f" "STOR to $s" && rm -f "$f"
}

# s3: STOR of the bulk file to ftpsd on s3, then its RETR (checked, so the
# stored object is checked too).
s3() {
	xfer ftpsd-s3 default stor -T "$DATA/bench.bin" "$(url ftpsd-s3 bench.bin)"
	xfer ftpsd-s3 default retr -o "$T/client/dl.bin" "$(url ftpsd-s3 bench.bin)"
	check "$T/client/dl.bin" "RETR from ftpsd-s3 (after its STOR)" && rm -f "$T/client/dl.bin"
}

# par4 SERVER MODE: 4 RETR at once, then 4 STOR at once, all checked.
par4() {
	local s=$1 mode=$2 i t0 t1 pids=() sfx
	sfx=$(msuf "$mode")
	t0=$(date +%s.%N)
	for i in 1 2 3 4; do xcurl "$mode" "$T/curl-$s-p$i.log" -o "$T/client/p$i.bin" "$(url "$s" bench.bin)" & pids+=($!); done
	for p in "${pids[@]}"; do wait "$p" || fail "parallel RETR from $s"; done
	t1=$(date +%s.%N)
	for i in 1 2 3 4; do check "$T/client/p$i.bin" "parallel RETR from $s" && note_suites "$s" "$mode" "$T/curl-$s-p$i.log"; done
	put "$s" "par4_retr_mibs$sfx" "$(awk -v n="$SIZE" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", 4*n/(b-a)/1048576}')"
	pids=()
	t0=$(date +%s.%N)
	for i in 1 2 3 4; do xcurl "$mode" "$T/curl-$s-p$i.log" -T "$T/client/p$i.bin" "$(url "$s" "p$i-$s.bin")" & pids+=($!); done
	for p in "${pids[@]}"; do wait "$p" || fail "parallel STOR to $s"; done
	t1=$(date +%s.%N)
	for i in 1 2 3 4; do
		check "$DATA/p$i-$s.bin" "parallel STOR to $s" && rm -f "$DATA/p$i-$s.bin" "$T/client/p$i.bin"
		note_suites "$s" "$mode" "$T/curl-$s-p$i.log"
	done
	put "$s" "par4_stor_mibs$sfx" "$(awk -v n="$SIZE" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", 4*n/(b-a)/1048576}')"
}

# kv LINE KEY: the value of KEY in a key=value line.
kv() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p"; }

small() {
	local out
	out=$("${PY[@]}" small 127.0.0.1 "${PORT[$1]}" "$DATA_USER" "$PASS" "$BENCH_SMALL") || fail "small files on $1"
	log "round=$ROUND server=$1 small: $out"
	put "$1" small_stor_ms "$(kv "$out" stor_ms)"
	put "$1" small_retr_ms "$(kv "$out" retr_ms)"
}
logins() {
	local out
	out=$("${PY[@]}" logins 127.0.0.1 "${PORT[$1]}" "$LOGIN_USER" "$PASS" "$BENCH_LOGINS" 4) || fail "logins on $1"
	put "$1" logins_per_s "$(kv "$out" logins_per_s)"
	# The same from four client addresses: ftpsd checks one password at a
	# time per client address (a flood from one address cannot take every
	# CPU), so the row above is its one-address rate.
	out=$("${PY[@]}" logins 127.0.0.1 "${PORT[$1]}" "$LOGIN_USER" "$PASS" "$BENCH_LOGINS" 4 4) || fail "logins from 4 addresses on $1"
	put "$1" logins4_per_s "$(kv "$out" logins_per_s)"
}
list() {
	local out
	out=$("${PY[@]}" listing 127.0.0.1 "${PORT[$1]}" "$DATA_USER" "$PASS" "$(cpusrc "$1")" "list$BENCH_LIST" "$BENCH_LIST" "$BENCH_LIST_REPEAT") ||
		fail "LIST/MLSD of $BENCH_LIST entries on $1: $out"
	log "round=$ROUND server=$1 list: $out"
	local k v
	for k in list_s list_cpu mlsd_s mlsd_cpu; do
		for v in $(kv "$out" "$k" | tr ',' ' '); do put "$1" "$k" "$v"; done
	done
}
pasvlist() {
	local out
	out=$("${PY[@]}" pasvlist 127.0.0.1 "${PORT[$1]}" "$DATA_USER" "$PASS" "$BENCH_PASV") || fail "PASV+LIST on $1"
	log "round=$ROUND server=$1 pasvlist: $out"
	put "$1" pasv_list_ok "$(kv "$out" ok)"
}

# rotated R: the servers, rotated by R places.
rotated() {
	local n=${#SERVERS[@]} i
	for ((i = 0; i < n; i++)); do printf '%s ' "${SERVERS[$(((i + $1) % n))]}"; done
}

say ""
# modes R: the cipher modes, rotated by R places.
modes() {
	local m i
	read -r -a m <<<"$BENCH_CIPHERS"
	for ((i = 0; i < ${#m[@]}; i++)); do printf '%s ' "${m[$(((i + $1) % ${#m[@]}))]}"; done
}

say "== warm-up (one bulk RETR+STOR per server, not counted)"
ROUND=warm
if wanted bulk || wanted par4 || wanted s3; then
	for s in "${SERVERS[@]}"; do bulk "$s"; done
	if wanted s3; then s3; fi
fi
: >"$RES"
: >"$SUITES"
for ((ROUND = 1; ROUND <= BENCH_ROUNDS; ROUND++)); do
	say "== round $ROUND/$BENCH_ROUNDS: $(rotated "$ROUND")"
	for test in bulk par4 s3 small logins pasvlist list; do
		wanted "$test" || continue
		log "round=$ROUND test=$test start=$(date -u +%T)"
		case $test in
		bulk | par4)
			for mode in $(modes "$ROUND"); do
				for s in $(rotated "$ROUND"); do "$test" "$s" "$mode"; done
			done
			;;
		s3) s3 ;;
		*) for s in $(rotated "$ROUND"); do "$test" "$s"; done ;;
		esac
	done
done

wanted idle && say "== memory per idle TLS session (once per server; counts $BENCH_IDLE)"
ROUND=idle
# Each server is restarted first, so that its baseline is a fresh process
# (a Go heap grown by the transfers shrinks again in the background and
# would blur the difference); Pure-FTPd gets a passive range of 20,002
# ports, as it admits at most half as many clients as its range has ports.
for s in $(rotated 0); do
	wanted idle || break
	kill "${PID[$s]}" && wait "${PID[$s]}" || true
	[[ $s == pure-ftpd ]] && PF_RANGE=40000:60001
	"start_$s"
	wait_220 "${PORT[$s]}" "${PID[$s]}" || fail "$s did not come up again on 127.0.0.1:${PORT[$s]}"
	sleep 1
	out=$("${PY[@]}" idle 127.0.0.1 "${PORT[$s]}" "$DATA_USER" "$PASS" "${PID[$s]}" "$BENCH_IDLE") || fail "idle sessions on $s"
	say "   $s: $out"
	log "round=idle server=$s $out"
	for c in ${BENCH_IDLE//,/ }; do
		put "$s" "idle${c}_kb" "$(kv "$out" "want${c}_kb_per_session")"
		put "$s" "idle${c}_held" "$(kv "$out" "want${c}_held")"
	done
	sleep 2
done

# --- table ----------------------------------------------------------------
med() {
	awk -v s="$1" -v m="$2" '$1 == s && $2 == m {print $3}' "$RES" | sort -g |
		awk '{a[NR] = $1} END {
			if (NR == 0) { print "–"; exit }
			print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
row() {
	local label=$1 metric=$2 s f v line
	f=$(med ftpsd "$metric")
	[[ $f == "$NA" ]] && return # a test not run
	line="| $label | $f"
	for s in $BENCH_PEERS; do line+=" | $(med "$s" "$metric")"; done
	local best=$NA
	for s in $BENCH_PEERS; do
		v=$(med "$s" "$metric")
		line+=" | $(ratio "$f" "$v")"
		[[ $v == "$NA" ]] && continue
		if [[ $best == "$NA" ]] || awk -v v="$v" -v b="$best" -v up="$([[ $label == *↑* ]] && echo 1)" 'BEGIN{exit !(up ? v > b : v < b)}'; then best=$v; fi
	done
	say "$line | $(ratio "$f" "$best") |"
}
ratio() { awk -v a="$1" -v b="$2" -v na="$NA" 'BEGIN{ if (b+0 == 0 || a == na || b == na) print na; else printf "%.2f", a/b }'; }
# suiterow MODE: the row of the suites the servers negotiated in mode MODE
# over every counted transfer of the rows above it (control and data
# connections; more than one: joined with +).
suiterow() {
	local s line v
	[[ -s $SUITES ]] || return 0
	line="| TLS suites negotiated (every connection of these rows)"
	for s in ftpsd $BENCH_PEERS; do
		v=$(awk -v s="$s" -v m="$1" '$1 == s && $2 == m {print $3}' "$SUITES" | sort | uniq -c |
			awk '{printf "%s%s ×%d", (NR > 1 ? " + " : ""), $2, $1}')
		line+=" | ${v:-$NA}"
	done
	for s in $BENCH_PEERS; do line+=" | "; done
	say "$line | |"
}
# bulkrows MODE: the bulk rows of one cipher mode.
bulkrows() {
	local x="" sfx
	sfx=$(msuf "$1")
	[[ $1 == aes256 ]] && x=", $FORCED for all"
	row "RETR MiB/s (data phase)$x ↑" "retr_mibs$sfx"
	row "STOR MiB/s (data phase)$x ↑" "stor_mibs$sfx"
	row "RETR server CPU s/GiB$x ↓" "retr_cpu_gib$sfx"
	row "STOR server CPU s/GiB$x ↓" "stor_cpu_gib$sfx"
	row "4 clients RETR MiB/s total$x ↑" "par4_retr_mibs$sfx"
	row "4 clients STOR MiB/s total$x ↑" "par4_stor_mibs$sfx"
	if grep -q " $1 " "$SUITES"; then suiterow "$1"; fi
}
# s3row LABEL METRIC: ftpsd on os, on s3, s3/os.
s3row() {
	local o s
	o=$(med ftpsd "$2")
	s=$(med ftpsd-s3 "$2")
	[[ $s == "$NA" ]] && return
	say "| $1 | $o | $s | $(ratio "$s" "$o") |"
}
{
	title="## ftpsd and peers, medians of $BENCH_ROUNDS rounds"
	wanted bulk || wanted par4 && title+=" (${BENCH_MB} MiB file)"
	[[ $BENCH_TESTS == idle ]] && title="## ftpsd and peers, idle sessions"
	say "$title; ratio = ftpsd/peer; best = the best peer in that row"
	say ""
	head="| metric | ftpsd"
	sep="|---|---"
	for s in $BENCH_PEERS; do head+=" | $s"; sep+="|---"; done
	for s in $BENCH_PEERS; do head+=" | ftpsd/$s"; sep+="|---"; done
	head+=" | ftpsd/best"
	sep+="|---"
	say "$head |"
	say "$sep|"
	for mode in $BENCH_CIPHERS; do bulkrows "$mode"; done
	row "1 kB STOR ms, one session ↓" small_stor_ms
	row "1 kB RETR ms, one session ↓" small_retr_ms
	row "logins/s (bcrypt, 4 at once, one client address) ↑" logins_per_s
	row "logins/s (bcrypt, 4 at once from 4 addresses) ↑" logins4_per_s
	row "PASV+LIST ok of $BENCH_PASV at once, 20 ports ↑" pasv_list_ok
	n=$(sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' <<<"$BENCH_LIST")
	row "LIST of $n entries: wall s ↓" list_s
	row "LIST of $n entries: server CPU s ↓" list_cpu
	row "MLSD of $n entries: wall s ↓" mlsd_s
	row "MLSD of $n entries: server CPU s ↓" mlsd_cpu
	for c in ${BENCH_IDLE//,/ }; do
		row "kB per idle TLS session at $c ↓" "idle${c}_kb"
		row "idle sessions held of $c ↑" "idle${c}_held"
	done
	if wanted s3; then
		say ""
		say "## ftpsd on the s3 backend (MinIO on loopback) beside os, medians of $BENCH_ROUNDS rounds, each server's default cipher"
		say ""
		say "| metric | ftpsd os | ftpsd s3 | s3/os |"
		say "|---|---|---|---|"
		s3row "RETR MiB/s (data phase) ↑" retr_mibs
		s3row "STOR MiB/s (data phase) ↑" stor_mibs
		s3row "RETR server CPU s/GiB ↓" retr_cpu_gib
		s3row "STOR server CPU s/GiB ↓" stor_cpu_gib
		say "| MinIO's own CPU s/GiB, RETR (not in the row above) | $NA | $(med minio retr_cpu_gib) | |"
		say "| MinIO's own CPU s/GiB, STOR (not in the row above) | $NA | $(med minio stor_cpu_gib) | |"
		say "| TLS suites negotiated | | $(awk '$1 == "ftpsd-s3" {print $3}' "$SUITES" | sort | uniq -c | awk '{printf "%s%s ×%d", (NR > 1 ? " + " : ""), $2, $1}') | |"
	fi
	say ""
	say "↑ higher is better, ↓ lower is better. Raw numbers: $RAW"
} | tee "$OUT/table.md"
cp "$RES" "$OUT/results.txt"
cp "$SUITES" "$OUT/suites.txt"
