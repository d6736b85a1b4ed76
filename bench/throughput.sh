#!/usr/bin/env bash
# bench/throughput.sh - bulk FTPS throughput of ftpsd against vsftpd: the
# `bulk` test of bench/run.sh (RETR and STOR of one random file with curl,
# SHA-256 checked, data-phase MiB/s and server CPU seconds per GiB, servers
# alternating round by round). Every BENCH_* setting of run.sh applies;
# BENCH_PEERS and BENCH_TESTS default to vsftpd and bulk here.
#   bash bench/throughput.sh
#   BENCH_MB=64 BENCH_ROUNDS=3 bash bench/throughput.sh   # quick
set -euo pipefail
export BENCH_PEERS=${BENCH_PEERS:-vsftpd} BENCH_TESTS=${BENCH_TESTS:-bulk}
exec bash "$(dirname "${BASH_SOURCE[0]}")/run.sh" "$@"
