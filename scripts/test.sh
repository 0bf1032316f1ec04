#!/usr/bin/env bash
# The README's test command: installs what the tests need, then runs the whole suite.
#
#   bash scripts/test.sh            # everything (what CI runs after fmt and clippy)
#   bash scripts/test.sh -p strata-dfs   # extra arguments go to `cargo test`
#
# Needs: a Rust toolchain (rustup), and root or sudo for Debian's packages the tests drive:
# chromium (the web UI test reads pages with headless Chromium), iproute2 (network
# namespaces for the multi-host and partition tests), procps, and postgresql-client (`psql`:
# the SQL fuzzer compares answers with the PostgreSQL server every machine runs at
# 127.0.0.1:5432, database `test`; and the `strata sql-server` test's psql session). And
# python3 with venv: moto (an S3-compatible server, from PyPI) for the s3:// tests and
# psycopg (PostgreSQL's Python driver) for the sql-server tests, and DuckDB 1.5.5 with its
# TPC-DS extension (data, the 99 queries and the oracle's answers) go into .venv-test/.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# No incremental caches: a one-off build does not reuse them, and they double target/.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v pkill >/dev/null 2>&1 || need+=(procps)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
if [ ${#need[@]} -gt 0 ]; then
  echo "== installing ${need[*]} (apt)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ ! -x .venv-test/bin/moto_server ]; then
  echo "== installing moto[server] into .venv-test (pip)"
  python3 -m venv .venv-test
  .venv-test/bin/pip install -q --disable-pip-version-check "moto[server]==5.*"
fi
if ! .venv-test/bin/python -c "import psycopg" >/dev/null 2>&1; then
  echo "== installing psycopg[binary] into .venv-test (pip)"
  .venv-test/bin/pip install -q --disable-pip-version-check "psycopg[binary]==3.*"
fi
if ! .venv-test/bin/python -c "import duckdb_extension_tpcds" >/dev/null 2>&1; then
  echo "== installing duckdb 1.5.5 + its TPC-DS extension into .venv-test (pip)"
  .venv-test/bin/pip install -q --disable-pip-version-check "duckdb==1.5.5" \
    "duckdb-extensions==1.5.5" "duckdb-extension-tpcds==1.5.5"
fi

echo "== cargo test"
cargo test --workspace --locked "$@"
