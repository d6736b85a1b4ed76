#!/usr/bin/env bash
# bench/run.sh - ftpsd side by side with vsftpd, ProFTPD and Pure-FTPd.
#
# One command on a fresh Debian 12 machine, as root:
#   bash bench/run.sh                  # full run, about 15-20 minutes
#   BENCH_QUICK=1 bash bench/run.sh    # a few minutes, smaller numbers
#
# Everything runs on 127.0.0.1; nothing else is contacted (except apt for the
# packages). It measures, alternating the servers round by round (each round
# rotates the order, so slow phases of a shared machine hit all of them):
#   * bulk RETR and STOR of one random file (curl, TLS data), MiB/s of the
#     data phase (curl's time_total - time_pretransfer, see throughput.sh)
#     and server CPU seconds per GiB moved: /proc/<pid>/stat utime+stime+
#     cutime+cstime of the server and its live descendants, before and after
#     (forking servers reap their sessions, so a finished session is in the
#     listener's cutime/cstime; the script checks that once per server);
#   * aggregate MiB/s of 4 curl clients at once (4 RETR, then 4 STOR);
#   * small files in one session (Python ftplib): 100 x STOR of 1 kB, then
#     100 x RETR, median ms per operation;
#   * logins per second: full TLS logins (connect, AUTH TLS, USER/PASS,
#     PROT P, QUIT), 4 at a time;
#   * 200 logged-in sessions doing PASV+LIST at once on the 20-port passive
#     range: complete listings out of 200.
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
#   BENCH_TESTS="bulk par4 small logins pasvlist idle" (a subset runs only those)
#   BENCH_FTPSD_BIN= (empty: go build ./cmd/ftpsd)   BENCH_TMPDIR=/tmp
# Ports: control 2221-2224 (vsftpd, ftpsd, proftpd, pure-ftpd), passive
# 31100-31119, 31200-31219, 31300-31319, 31400-31419 (below Linux's
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
BENCH_TESTS=${BENCH_TESTS:-bulk par4 small logins pasvlist idle}
BENCH_TMPDIR=${BENCH_TMPDIR:-/tmp}
BENCH_KEEP=${BENCH_KEEP:-0}
DATA_USER=ftpbench LOGIN_USER=ftpblogin GECOS="ftpsd bench"

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=(python3 -W ignore "$REPO/bench/ftpbench.py")
declare -A PORT=([vsftpd]=2221 [ftpsd]=2222 [proftpd]=2223 [pure-ftpd]=2224)
declare -A PASV=([vsftpd]=31100 [ftpsd]=31200 [proftpd]=31300 [pure-ftpd]=31400)
declare -A PID=()

say() { printf '%s\n' "$*"; }
die() { printf 'run.sh: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root (it installs packages, adds users and runs the peers)"
for v in BENCH_MB BENCH_ROUNDS BENCH_LOGINS BENCH_SMALL BENCH_PASV; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
[[ $BENCH_IDLE =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || die "BENCH_IDLE must be counts like 1000,10000, got '$BENCH_IDLE'"
for p in $BENCH_PEERS; do [[ -n ${PORT[$p]:-} && $p != ftpsd ]] || die "unknown peer '$p' in BENCH_PEERS"; done
for t in $BENCH_TESTS; do [[ " bulk par4 small logins pasvlist idle " == *" $t "* ]] || die "unknown test '$t' in BENCH_TESTS"; done
SERVERS=(ftpsd $BENCH_PEERS)
wanted() { [[ " $BENCH_TESTS " == *" $1 "* ]]; }
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
for s in "${SERVERS[@]}"; do
	for p in "${PORT[$s]}" $(seq "${PASV[$s]}" $((PASV[$s] + 19))); do
		port_taken "$p" && die "port $p on 127.0.0.1 is taken"
	done
done

# --- temp dir, cleanup ----------------------------------------------------
T=$(mktemp -d "$BENCH_TMPDIR/ftpsd-bench.XXXXXX")
chmod 755 "$T"
DATA=$T/data
OUT=$REPO/bench/results/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$OUT" "$DATA/small" "$T/empty" "$T/client" "$T/peers"
RAW=$OUT/raw.log
MADE_USERS=()
cleanup() {
	local rc=$? s
	set +e
	for s in "${!PID[@]}"; do # sessions of forking servers first, then the listener
		pkill -TERM -P "${PID[$s]}" 2>/dev/null
		kill "${PID[$s]}" 2>/dev/null && wait "${PID[$s]}" 2>/dev/null
	done
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
start_ftpsd() {
	cat >"$T/ftpsd.toml" <<-EOF
		[server]
		listen = "127.0.0.1:${PORT[ftpsd]}"
		idle_timeout = "1h"
		max_connections = 30000
		max_connections_per_ip = 30000
		max_unauthenticated = 30000
		[tls]
		cert_file = "$T/cert.pem"
		key_file = "$T/key.pem"
		require = "all"
		[passive]
		ports = "${PASV[ftpsd]}-$((PASV[ftpsd] + 19))"
		[storage]
		backend = "os"
		root = "$DATA"
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
	"$FTPSD" -config "$T/ftpsd.toml" >"$T/ftpsd.log" 2>&1 &
	PID[ftpsd]=$!
}
start_vsftpd() {
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
		pasv_max_port=$((PASV[vsftpd] + 19))
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
	vsftpd "$T/vsftpd.conf" >"$T/vsftpd.log" 2>&1 &
	PID[vsftpd]=$!
}
start_proftpd() {
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
		PassivePorts ${PASV[proftpd]} $((PASV[proftpd] + 19))
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
	"$PROFTPD" -n -c "$T/proftpd.conf" >"$T/proftpd.out.log" 2>&1 &
	PID[proftpd]=$!
}
# Pure-FTPd lets in at most half as many clients as it has passive ports;
# the idle-session test restarts it with PF_RANGE=40000:60001.
PF_RANGE=${PASV[pure-ftpd]}:$((PASV[pure-ftpd] + 19))
start_pure-ftpd() {
	# -Y 3: TLS required on control and data; -l unix: /etc/shadow via crypt(3)
	"$PUREFTPD" -S "127.0.0.1,${PORT[pure-ftpd]}" -4 -l unix -E -H -Y 3 \
		-2 "$T/both.pem" -p "$PF_RANGE" \
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

CURL=(curl -sS --ssl-reqd -k --connect-timeout 10 --max-time 600 -u "$DATA_USER:$PASS")
url() { echo "ftp://127.0.0.1:${PORT[$1]}/$2"; }
cpu() { "${PY[@]}" cpu "${PID[$1]}"; }

# --- versions, TLS ----------------------------------------------------------
{
	say "ftpsd:     $("$FTPSD" version 2>&1 | head -1) (repo $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?'))"
	say "vsftpd:    $(dpkg-query -W -f '${Version}' vsftpd 2>/dev/null)"
	say "proftpd:   $(basename "$T"/peers/proftpd-core_*.deb)"
	say "pure-ftpd: $(basename "$T"/peers/pure-ftpd_*.deb)"
	say "curl:      $(curl --version | head -1)"
	say "python:    $(python3 -c 'import ssl, sys; print(sys.version.split()[0], ssl.OPENSSL_VERSION)')"
	say "machine:   $(uname -r), $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
	say "bcrypt:    logins test: ftpsd cost 10 (Go, $GO_MS ms/check), peers cost $PEER_COST (crypt(3), $PEER_MS ms/check); other tests cost 4"
} | tee "$OUT/versions.txt"
say ""
say "== TLS as negotiated (curl -v: control, then data connection)"
for s in "${SERVERS[@]}"; do
	say "-- $s"
	"${CURL[@]}" -v "$(url "$s" small/)" -o /dev/null 2>&1 |
		grep -E 'SSL connection using|re-using session' | sed 's/^/   /' || fail "curl -v against $s failed"
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
: >"$RES"
put() { echo "$1 $2 $3" >>"$RES"; log "round=$ROUND server=$1 $2=$3"; }
gib() { awk -v c="$1" -v n="$2" 'BEGIN{printf "%.3f", c / (n / 1073741824)}'; }
W='%{time_total} %{time_pretransfer}'
rate() { awk -v n="$1" -v t="$2" -v p="$3" 'BEGIN{printf "%.2f", n/(t-p)/1048576}'; }
check() { # check FILE WHAT
	[[ $(stat -c %s "$1") == "$SIZE" && $(sha256sum <"$1" | cut -d' ' -f1) == "$SUM" ]] || fail "$2: size or SHA-256 mismatch"
}

bulk() {
	local s=$1 c0 c1 t pre f=$DATA/up-$1.bin
	c0=$(cpu "$s")
	read -r t pre <<<"$("${CURL[@]}" -o "$T/client/dl.bin" -w "$W" "$(url "$s" bench.bin)")" || fail "RETR from $s"
	sleep 0.3
	c1=$(cpu "$s")
	check "$T/client/dl.bin" "RETR from $s" && rm -f "$T/client/dl.bin"
	put "$s" retr_mibs "$(rate "$SIZE" "$t" "$pre")"
	put "$s" retr_cpu_gib "$(gib "$(awk -v a="$c0" -v b="$c1" 'BEGIN{print b-a}')" "$SIZE")"
	c0=$(cpu "$s")
	read -r t pre <<<"$("${CURL[@]}" -T "$DATA/bench.bin" -w "$W" "$(url "$s" "up-$s.bin")")" || fail "STOR to $s"
	sleep 0.3
	c1=$(cpu "$s")
	check "$f" "STOR to $s" && rm -f "$f"
	put "$s" stor_mibs "$(rate "$SIZE" "$t" "$pre")"
	put "$s" stor_cpu_gib "$(gib "$(awk -v a="$c0" -v b="$c1" 'BEGIN{print b-a}')" "$SIZE")"
}

par4() {
	local s=$1 i t0 t1 pids=()
	t0=$(date +%s.%N)
	for i in 1 2 3 4; do "${CURL[@]}" -o "$T/client/p$i.bin" "$(url "$s" bench.bin)" & pids+=($!); done
	for p in "${pids[@]}"; do wait "$p" || fail "parallel RETR from $s"; done
	t1=$(date +%s.%N)
	for i in 1 2 3 4; do check "$T/client/p$i.bin" "parallel RETR from $s"; done
	put "$s" par4_retr_mibs "$(awk -v n="$SIZE" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", 4*n/(b-a)/1048576}')"
	pids=()
	t0=$(date +%s.%N)
	for i in 1 2 3 4; do "${CURL[@]}" -T "$T/client/p$i.bin" "$(url "$s" "p$i-$s.bin")" & pids+=($!); done
	for p in "${pids[@]}"; do wait "$p" || fail "parallel STOR to $s"; done
	t1=$(date +%s.%N)
	for i in 1 2 3 4; do check "$DATA/p$i-$s.bin" "parallel STOR to $s" && rm -f "$DATA/p$i-$s.bin" "$T/client/p$i.bin"; done
	put "$s" par4_stor_mibs "$(awk -v n="$SIZE" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", 4*n/(b-a)/1048576}')"
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
say "== warm-up (one bulk RETR+STOR per server, not counted)"
ROUND=warm
for s in "${SERVERS[@]}"; do bulk "$s"; done
: >"$RES"
for ((ROUND = 1; ROUND <= BENCH_ROUNDS; ROUND++)); do
	say "== round $ROUND/$BENCH_ROUNDS: $(rotated "$ROUND")"
	for test in bulk par4 small logins pasvlist; do
		wanted "$test" || continue
		log "round=$ROUND test=$test start=$(date -u +%T)"
		for s in $(rotated "$ROUND"); do "$test" "$s"; done
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
			if (NR == 0) { print "-"; exit }
			print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
row() {
	local label=$1 metric=$2 s f v line
	f=$(med ftpsd "$metric")
	[[ $f == - ]] && return # a test not run
	line="| $label | $f"
	for s in $BENCH_PEERS; do line+=" | $(med "$s" "$metric")"; done
	local best=-
	for s in $BENCH_PEERS; do
		v=$(med "$s" "$metric")
		line+=" | $(ratio "$f" "$v")"
		[[ $v == - ]] && continue
		if [[ $best == - ]] || awk -v v="$v" -v b="$best" -v up="$([[ $label == *↑* ]] && echo 1)" 'BEGIN{exit !(up ? v > b : v < b)}'; then best=$v; fi
	done
	say "$line | $(ratio "$f" "$best") |"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b+0 == 0 || a == "-" || b == "-") print "-"; else printf "%.2f", a/b }'; }
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
	row "RETR MiB/s (data phase) ↑" retr_mibs
	row "STOR MiB/s (data phase) ↑" stor_mibs
	row "RETR server CPU s/GiB ↓" retr_cpu_gib
	row "STOR server CPU s/GiB ↓" stor_cpu_gib
	row "4 clients RETR MiB/s total ↑" par4_retr_mibs
	row "4 clients STOR MiB/s total ↑" par4_stor_mibs
	row "1 kB STOR ms, one session ↓" small_stor_ms
	row "1 kB RETR ms, one session ↓" small_retr_ms
	row "logins/s (bcrypt, 4 at once) ↑" logins_per_s
	row "PASV+LIST ok of $BENCH_PASV at once, 20 ports ↑" pasv_list_ok
	for c in ${BENCH_IDLE//,/ }; do
		row "kB per idle TLS session at $c ↓" "idle${c}_kb"
		row "idle sessions held of $c ↑" "idle${c}_held"
	done
	say ""
	say "↑ higher is better, ↓ lower is better. Raw numbers: $RAW"
} | tee "$OUT/table.md"
cp "$RES" "$OUT/results.txt"
