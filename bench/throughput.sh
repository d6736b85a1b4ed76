#!/usr/bin/env bash
# bench/throughput.sh - FTPS throughput of ftpsd against vsftpd, same run.
#
# What it measures (loopback only, 127.0.0.1; nothing else is contacted):
#   * download (RETR) and upload (STOR, curl -T) of one random file of
#     BENCH_MB MiB, BENCH_ROUNDS rounds; within a round each server gets one
#     download and one upload, and the order of the two servers alternates
#     from round to round (ABBA), so slow phases of a noisy machine hit both;
#   * connection rate: BENCH_LOGINS sequential curl runs per server, each a
#     full TLS login + LIST of a small directory, again alternating servers;
#     and as many logins without a data connection (curl -I: login, SIZE,
#     MDTM), which are free of the curl stall described below.
#   Every transfer goes through curl with --ssl-reqd -k: AUTH TLS, PBSZ 0,
#   PROT P, so the control and every data connection are TLS (the script
#   prints one `curl -v` excerpt per server showing PROT P and the TLS
#   version/cipher of the control and data connections). Timings are curl's
#   own (-w '%{time_total} %{time_pretransfer} %{speed_download}
#   %{speed_upload}'), which exclude curl's process start. Every downloaded
#   file and every uploaded file is checked by SHA-256 against the original
#   (outside the timed part), and every listing by its line count, so a
#   broken transfer cannot pass for a fast one. It prints a table of medians
#   (with min-max) per server and the ratio ftpsd/vsftpd: for MiB/s above 1
#   means ftpsd is faster; for seconds above 1 means ftpsd is slower.
#
# Two transfer rates are reported:
#   * data phase = size / (time_total - time_pretransfer): from the moment
#     curl is ready to move bytes (RETR/STOR sent, data connection up) to the
#     226 reply, i.e. the server's streaming speed;
#   * end-to-end = curl's speed_download/speed_upload = size / time_total,
#     which also holds connect, TLS, login (password hashing) and EPSV.
# The end-to-end figure carries a client-side constant: curl 7.88 (Debian 12)
# typically stalls ~0.12 s between its TYPE command and the reply, with both
# servers alike (curl starts the data connection's TLS handshake right after
# EPSV and appears to wait for it on a timer before it reads the control
# reply; the stall disappears under strace, so it is a client-side timing
# effect, not either server's). So a
# fast server's end-to-end rate on a few hundred MiB is held down by a
# fixed ~0.2 s; the data-phase rate is the one to compare, and the login
# row shows the per-connection cost (stall included, for both servers).
#
# Run (as root, on Debian; from anywhere):
#   bash bench/throughput.sh
#   BENCH_MB=64 BENCH_ROUNDS=3 BENCH_LOGINS=20 bash bench/throughput.sh   # quick
#
# Environment:
#   BENCH_MB=256            size of the test file in MiB (from /dev/urandom)
#   BENCH_ROUNDS=5          transfer rounds (each: 1 down + 1 up per server)
#   BENCH_LOGINS=50         login+LIST runs per server
#   BENCH_FTPSD_BIN=        an ftpsd binary to use; empty = `go build ./cmd/ftpsd`
#                           from this repository into the temp dir
#   BENCH_TLS13_CIPHERS=    e.g. TLS_AES_128_GCM_SHA256: pin curl's TLS 1.3
#                           cipher for both servers (by default each server
#                           picks: Go prefers AES-128-GCM, vsftpd/OpenSSL
#                           AES-256-GCM)
#   BENCH_VSFTPD_SSL_REUSE=NO  vsftpd require_ssl_reuse (YES is the closer
#                           match to ftpsd's default require_session_reuse =
#                           true; curl resumes its TLS session on data
#                           connections and works either way)
#   BENCH_USER=ftpbench     local system user for vsftpd (see below)
#   BENCH_TMPDIR=/tmp       where the temp dir (cert, data, logs) goes
#   BENCH_KEEP=0            1 keeps the temp dir (configs, logs) at exit
#   Ports: vsftpd 2221 (passive 50100-50119), ftpsd 2222 (passive
#   50200-50219); BENCH_VSFTPD_PORT / BENCH_FTPSD_PORT move the control
#   ports; the script stops if any of these ports is taken.
#
# What it does to the machine:
#   * installs vsftpd, curl and openssl with apt-get if one is missing
#     (`apt-get update` once, then `apt-get install -y`). On a machine that
#     runs systemd, installing vsftpd also enables Debian's own vsftpd
#     service on port 21; this script neither uses nor stops it.
#   * creates the local user BENCH_USER (vsftpd logs in real system users
#     through PAM; Debian's PAM stack for vsftpd needs a shell listed in
#     /etc/shells, hence /bin/bash) with a random password and its home set
#     to the temp data dir, and REMOVES it again at exit. An existing user of
#     that name is reused only if it was made by this script (its GECOS field
#     is "ftpsd throughput bench"); otherwise the script refuses to touch it.
#   * runs both servers in the background as root with configs in the temp
#     dir, and on exit (trap) kills exactly those two processes and removes
#     the temp dir.
#
# Both servers serve the same directory and use the same throw-away
# self-signed ECDSA P-256 certificate (made by openssl in the temp dir).
# ftpsd runs with require = "all" and its defaults otherwise (log level warn,
# since vsftpd by default logs nothing either); vsftpd with ssl_enable,
# force_local_logins_ssl, force_local_data_ssl and its defaults otherwise.
# Password checking differs by design and shows in the login numbers: ftpsd
# checks a bcrypt hash (cost 10), vsftpd goes through PAM and /etc/shadow
# (yescrypt on Debian 12).
#
# Reading vsftpd's upload numbers: with SSL, vsftpd 3.0.3 relays every
# received 16 KiB TLS record between two of its processes over a socketpair
# (a 1-byte command and a 4-byte length, then the data) before writing it to
# the file (seen with strace -f), which is why its STOR rate is far below its
# RETR rate here.
#
# The machine this runs on is small (2 cores) and shared: client and server
# compete for the same cores, and results vary between runs by several
# percent. Compare ratios from the same run, not absolute numbers across
# runs.
set -euo pipefail

BENCH_MB=${BENCH_MB:-256}
BENCH_ROUNDS=${BENCH_ROUNDS:-5}
BENCH_LOGINS=${BENCH_LOGINS:-50}
BENCH_USER=${BENCH_USER:-ftpbench}
BENCH_TMPDIR=${BENCH_TMPDIR:-/tmp}
BENCH_KEEP=${BENCH_KEEP:-0}
BENCH_TLS13_CIPHERS=${BENCH_TLS13_CIPHERS:-}
BENCH_VSFTPD_SSL_REUSE=${BENCH_VSFTPD_SSL_REUSE:-NO}
VS_PORT=${BENCH_VSFTPD_PORT:-2221}
FT_PORT=${BENCH_FTPSD_PORT:-2222}
VS_PASV_MIN=50100 VS_PASV_MAX=50119
FT_PASV_MIN=50200 FT_PASV_MAX=50219
GECOS="ftpsd throughput bench"
SMALL_FILES=10 # files in the directory that the login+LIST runs list

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

say() { printf '%s\n' "$*"; }
die() { printf 'throughput.sh: %s\n' "$*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || die "run as root (it installs packages, adds a user and runs vsftpd)"
for v in BENCH_MB BENCH_ROUNDS BENCH_LOGINS VS_PORT FT_PORT; do
	[[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer, got '${!v}'"
done
[[ $BENCH_VSFTPD_SSL_REUSE == YES || $BENCH_VSFTPD_SSL_REUSE == NO ]] ||
	die "BENCH_VSFTPD_SSL_REUSE must be YES or NO"

# --- packages -------------------------------------------------------------
export PATH="$PATH:/usr/sbin:/sbin"
missing=()
command -v vsftpd >/dev/null || missing+=(vsftpd)
command -v curl >/dev/null || missing+=(curl)
command -v openssl >/dev/null || missing+=(openssl)
if ((${#missing[@]})); then
	say "installing: ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq vsftpd curl openssl >/dev/null
fi
for c in vsftpd curl openssl sha256sum useradd userdel chpasswd; do
	command -v "$c" >/dev/null || die "$c not found"
done

# --- ports ----------------------------------------------------------------
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for p in "$VS_PORT" "$FT_PORT" $(seq $VS_PASV_MIN $VS_PASV_MAX) $(seq $FT_PASV_MIN $FT_PASV_MAX); do
	port_taken "$p" && die "port $p on 127.0.0.1 is taken (set BENCH_VSFTPD_PORT/BENCH_FTPSD_PORT or free it)"
done
[[ $VS_PORT != "$FT_PORT" ]] || die "the two control ports must differ"

# --- temp dir, cleanup ----------------------------------------------------
T=$(mktemp -d "$BENCH_TMPDIR/ftpsd-bench.XXXXXX")
chmod 755 "$T" # the vsftpd user must reach $T/data
DATA=$T/data
FT_PID="" VS_PID="" MADE_USER=0
cleanup() {
	local rc=$?
	set +e
	for pid in $FT_PID $VS_PID; do
		kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	if ((MADE_USER)); then userdel "$BENCH_USER" 2>/dev/null; fi
	if [[ $BENCH_KEEP == 1 ]]; then
		say "kept $T"
	else
		rm -rf "$T"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

show_logs() {
	say "--- ftpsd log (tail) ---"; tail -20 "$T/ftpsd.log" 2>/dev/null || true
	say "--- vsftpd log (tail) ---"; tail -20 "$T/vsftpd.log" 2>/dev/null || true
}
fail() { printf 'throughput.sh: %s\n' "$*" >&2; show_logs >&2; exit 1; }

# --- ftpsd binary -----------------------------------------------------------
if [[ -n ${BENCH_FTPSD_BIN:-} ]]; then
	FTPSD=$BENCH_FTPSD_BIN
	[[ -x $FTPSD ]] || die "BENCH_FTPSD_BIN=$FTPSD is not executable"
else
	command -v go >/dev/null || die "go not found: install Go or set BENCH_FTPSD_BIN"
	say "building ftpsd from $REPO"
	(cd "$REPO" && go build -o "$T/ftpsd" ./cmd/ftpsd) || die "go build failed"
	FTPSD=$T/ftpsd
fi

# --- certificate, data ----------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
	-keyout "$T/key.pem" -out "$T/cert.pem" -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1 || die "openssl req failed"
chmod 600 "$T/key.pem"

mkdir -p "$DATA/small" "$T/empty" "$T/client"
say "making a ${BENCH_MB} MiB test file from /dev/urandom"
head -c "$((BENCH_MB * 1024 * 1024))" /dev/urandom >"$DATA/bench.bin"
SUM=$(sha256sum <"$DATA/bench.bin" | cut -d' ' -f1)
SIZE=$(stat -c %s "$DATA/bench.bin")
for i in $(seq 1 $SMALL_FILES); do printf 'file %d\n' "$i" >"$DATA/small/f$i.txt"; done

# --- the vsftpd user --------------------------------------------------------
PASS=$(openssl rand -hex 16)
if id "$BENCH_USER" >/dev/null 2>&1; then
	[[ $(getent passwd "$BENCH_USER" | cut -d: -f5) == "$GECOS" ]] ||
		die "user $BENCH_USER exists and was not made by this script; set BENCH_USER to another name"
	usermod -d "$DATA" -s /bin/bash "$BENCH_USER"
else
	useradd -M -d "$DATA" -s /bin/bash -c "$GECOS" "$BENCH_USER"
fi
MADE_USER=1 # removed at exit (also a leftover of an earlier, killed run)
printf '%s:%s\n' "$BENCH_USER" "$PASS" | chpasswd
chown -R "$BENCH_USER:" "$DATA"

# --- vsftpd -----------------------------------------------------------------
# secure_chroot_dir: an empty root-owned dir vsftpd chroots its unprivileged
# helper into; our own in $T, so the package's /var/run/vsftpd/empty (gone
# after a reboot on systems without systemd-tmpfiles) is not needed.
cat >"$T/vsftpd.conf" <<EOF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$VS_PORT
background=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
pasv_enable=YES
pasv_min_port=$VS_PASV_MIN
pasv_max_port=$VS_PASV_MAX
ssl_enable=YES
rsa_cert_file=$T/cert.pem
rsa_private_key_file=$T/key.pem
force_local_logins_ssl=YES
force_local_data_ssl=YES
require_ssl_reuse=$BENCH_VSFTPD_SSL_REUSE
seccomp_sandbox=NO
secure_chroot_dir=$T/empty
EOF
vsftpd "$T/vsftpd.conf" >"$T/vsftpd.log" 2>&1 &
VS_PID=$!

# --- ftpsd ------------------------------------------------------------------
HASH=$(printf '%s\n' "$PASS" | "$FTPSD" hash-password) || die "ftpsd hash-password failed"
cat >"$T/ftpsd.toml" <<EOF
[server]
listen = "127.0.0.1:$FT_PORT"
[tls]
cert_file = "$T/cert.pem"
key_file = "$T/key.pem"
self_signed = false
require = "all"
[passive]
ports = "$FT_PASV_MIN-$FT_PASV_MAX"
[storage]
backend = "os"
root = "$DATA"
[[users]]
name = "$BENCH_USER"
password_hash = "$HASH"
[log]
level = "warn"
EOF
"$FTPSD" -config "$T/ftpsd.toml" >"$T/ftpsd.log" 2>&1 &
FT_PID=$!

# Wait for a 220 greeting on a port.
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
wait_220 "$VS_PORT" "$VS_PID" || fail "vsftpd did not come up on 127.0.0.1:$VS_PORT"
wait_220 "$FT_PORT" "$FT_PID" || fail "ftpsd did not come up on 127.0.0.1:$FT_PORT"

port_of() { if [[ $1 == ftpsd ]]; then echo "$FT_PORT"; else echo "$VS_PORT"; fi; }

CURL=(curl -sS --ssl-reqd -k --connect-timeout 10 --max-time 600 -u "$BENCH_USER:$PASS")
[[ -n $BENCH_TLS13_CIPHERS ]] && CURL+=(--tls13-ciphers "$BENCH_TLS13_CIPHERS")

# --- versions, TLS --------------------------------------------------------
say ""
say "== versions"
say "ftpsd:   $("$FTPSD" version 2>&1 | head -1) (repo $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo ', uncommitted changes'))"
say "vsftpd:  $(dpkg-query -W -f '${Version}' vsftpd 2>/dev/null || echo '?') (Debian package)"
say "curl:    $(curl --version | head -1)"
say "openssl: $(openssl version)"
say "kernel:  $(uname -r), $(nproc) cores"
say "vsftpd user password hash: $(getent shadow "$BENCH_USER" | cut -d: -f2 | cut -d'$' -f2 | sed 's/^y$/yescrypt/;s/^6$/sha512crypt/;s/^2[aby]$/bcrypt/'); ftpsd: bcrypt"
say "vsftpd require_ssl_reuse=$BENCH_VSFTPD_SSL_REUSE; ftpsd require_session_reuse=true (default)"
[[ -n $BENCH_TLS13_CIPHERS ]] && say "curl TLS 1.3 ciphers pinned to: $BENCH_TLS13_CIPHERS"

say ""
say "== TLS as negotiated (curl -v of one login+LIST; 1st line control, 2nd data connection)"
for s in ftpsd vsftpd; do
	say "-- $s"
	"${CURL[@]}" -v "ftp://127.0.0.1:$(port_of $s)/small/" -o /dev/null 2>&1 |
		grep -E '^> (AUTH|PBSZ|PROT)|SSL connection using|re-using session' | sed 's/^/   /' ||
		fail "curl -v against $s failed"
done

# --- measurements ---------------------------------------------------------
RES=$T/results # lines: server metric value
: >"$RES"

# record SERVER DIR ROUND T_TOTAL T_PRETRANSFER SPEED: store and print one
# transfer. Data-phase rate = size / (time_total - time_pretransfer), i.e.
# from curl's "about to transfer" to the 226 reply; end-to-end = curl's own
# speed_download/speed_upload = size / time_total (login, TLS, EPSV included).
record() {
	local s=$1 dir=$2 r=$3 t=$4 pre=$5 sp=$6 data e2e
	data=$(awk -v n="$SIZE" -v t="$t" -v p="$pre" 'BEGIN{printf "%.3f", n/(t-p)/1048576}')
	e2e=$(awk -v b="$sp" 'BEGIN{printf "%.3f", b/1048576}')
	[[ $r == warm ]] && return
	{
		echo "$s $dir $data"
		echo "$s $dir-e2e $e2e"
		echo "$s setup $pre"
	} >>"$RES"
	printf '  round %s  %-6s %-8s %7.1f MiB/s data phase, %7.1f MiB/s end-to-end (%.2f s, %.3f s setup)  sha256 ok\n' \
		"$r" "$s" "$dir" "$data" "$e2e" "$t" "$pre"
}

W='%{time_total} %{time_pretransfer} %{speed_download} %{speed_upload}'

# download SERVER ROUND: time one RETR, verify its SHA-256.
download() {
	local s=$1 r=$2 out t pre sd su
	out=$("${CURL[@]}" -o "$T/client/dl.bin" -w "$W" \
		"ftp://127.0.0.1:$(port_of "$s")/bench.bin") || fail "download from $s failed (round $r)"
	read -r t pre sd su <<<"$out"
	[[ $(stat -c %s "$T/client/dl.bin") == "$SIZE" ]] || fail "download from $s: wrong size"
	[[ $(sha256sum <"$T/client/dl.bin" | cut -d' ' -f1) == "$SUM" ]] || fail "download from $s: SHA-256 mismatch"
	rm -f "$T/client/dl.bin"
	record "$s" down "$r" "$t" "$pre" "$sd"
}

# upload SERVER ROUND: time one STOR, verify the stored file's SHA-256.
upload() {
	local s=$1 r=$2 name out t pre sd su f
	name=up-$s-$r.bin
	f=$DATA/$name
	out=$("${CURL[@]}" -T "$DATA/bench.bin" -w "$W" \
		"ftp://127.0.0.1:$(port_of "$s")/$name") || fail "upload to $s failed (round $r)"
	read -r t pre sd su <<<"$out"
	[[ -f $f ]] || fail "upload to $s: $f not there"
	[[ $(stat -c %s "$f") == "$SIZE" ]] || fail "upload to $s: wrong size"
	[[ $(sha256sum <"$f" | cut -d' ' -f1) == "$SUM" ]] || fail "upload to $s: SHA-256 mismatch"
	rm -f "$f"
	record "$s" up "$r" "$t" "$pre" "$su"
}

# login SERVER: time one login + LIST of small/, check the listing.
login() {
	local s=$1 t n
	t=$("${CURL[@]}" -o "$T/client/list.txt" -w '%{time_total}' \
		"ftp://127.0.0.1:$(port_of "$s")/small/") || fail "login+LIST on $s failed"
	n=$(grep -c 'f[0-9]*\.txt' "$T/client/list.txt" || true)
	[[ $n == "$SMALL_FILES" ]] || fail "LIST on $s returned $n of $SMALL_FILES files"
	echo "$s login $t" >>"$RES"
}

# login_only SERVER: time one TLS login without a data connection (curl -I:
# USER/PASS, then SIZE and MDTM of bench.bin on the control connection).
login_only() {
	local s=$1 t
	t=$("${CURL[@]}" -I -o "$T/client/head.txt" -w '%{time_total}' \
		"ftp://127.0.0.1:$(port_of "$s")/bench.bin") || fail "login (curl -I) on $s failed"
	grep -q "Content-Length: $SIZE" "$T/client/head.txt" || fail "curl -I on $s: no Content-Length: $SIZE"
	echo "$s login-only $t" >>"$RES"
}

order() { if (($1 % 2)); then echo "ftpsd vsftpd"; else echo "vsftpd ftpsd"; fi; }

say ""
say "== warm-up (one download and upload per server, not counted)"
for s in ftpsd vsftpd; do download "$s" warm; upload "$s" warm; done

say ""
say "== transfers: $BENCH_ROUNDS rounds of ${BENCH_MB} MiB, server order alternating"
for r in $(seq 1 "$BENCH_ROUNDS"); do
	for s in $(order "$r"); do download "$s" "$r"; done
	for s in $(order "$((r + 1))"); do upload "$s" "$r"; done
done

say ""
say "== connection rate: $BENCH_LOGINS x (TLS login + LIST of $SMALL_FILES files) per server, alternating"
for i in $(seq 1 "$BENCH_LOGINS"); do
	for s in $(order "$i"); do login "$s"; done
	for s in $(order "$((i + 1))"); do login_only "$s"; done
done
say "  all $((2 * BENCH_LOGINS)) listings complete, plus as many logins without a data connection (curl -I)"

# --- table ----------------------------------------------------------------
# stat SERVER METRIC -> "median min max"
stat_of() {
	awk -v s="$1" -v m="$2" '$1 == s && $2 == m {print $3}' "$RES" | sort -g |
		awk '{a[NR] = $1} END {
			if (NR == 0) { print "nan nan nan"; exit }
			med = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2
			print med, a[1], a[NR] }'
}
row() {
	local label=$1 metric=$2 fmt=$3 f v
	read -r fm fa fb <<<"$(stat_of ftpsd "$metric")"
	read -r vm va vb <<<"$(stat_of vsftpd "$metric")"
	printf "%-34s  $fmt ($fmt-$fmt)  $fmt ($fmt-$fmt)  %6.2f\n" "$label" \
		"$fm" "$fa" "$fb" "$vm" "$va" "$vb" "$(awk -v a="$fm" -v b="$vm" 'BEGIN{print a/b}')"
}
say ""
say "== results: median (min-max); ratio = ftpsd/vsftpd of the medians"
say "   MiB/s: ratio > 1 means ftpsd is faster; s/login: ratio > 1 means ftpsd is slower"
printf '%-34s  %-23s  %-23s  %6s\n' "metric" "ftpsd" "vsftpd" "ratio"
row "download MiB/s, data phase" down '%6.1f'
row "upload MiB/s, data phase" up '%6.1f'
row "download MiB/s, end-to-end" down-e2e '%6.1f'
row "upload MiB/s, end-to-end" up-e2e '%6.1f'
row "s setup, pretransfer (n=$((2 * BENCH_ROUNDS)))" setup '%6.3f'
row "s/login+LIST (n=$BENCH_LOGINS)" login '%6.4f'
row "s/login only, curl -I (n=$BENCH_LOGINS)" login-only '%6.4f'
say "(n=$BENCH_ROUNDS per server for each transfer row)"
