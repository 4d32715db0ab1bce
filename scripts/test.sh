#!/usr/bin/env bash
# The whole test suite (`make test`), in stages, each with its wall time:
#
#   lint      ruff (lint + format) and mypy
#   servers   private PostgreSQL and Redis under var/test/ (always stopped at the end)
#   sqlite    everything except the PostgreSQL-only and the timing tests; HTTP suite on SQLite; the
#             runtime-only install (.venv-runtime) is exercised here too (tests/runtime)
#   postgres  the HTTP and auth suites and tests/postgres on PostgreSQL (row-level security as the app role)
#   lowest    the HTTP and auth suites on SQLite in .venv-lowest: the lowest versions pyproject.toml's floors
#             admit (requirements/lowest-direct.txt), so a floor that is too low fails here
#   timing    the @pytest.mark.timing tests (wall-clock assertions), alone, after everything else
#
# sqlite, postgres and lowest run side by side (most of their time is spent waiting on subprocesses and
# sockets, and nothing in them asserts wall-clock time); their output is printed stage by stage when all
# three are done. FOUNDATION_TEST_REQUIRE makes a missing server or tool a failure instead of a skip.
# Extra arguments go to every pytest stage, e.g. `bash scripts/test.sh -k scaffold`.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
LOWEST_BIN=${LOWEST_BIN:-.venv-lowest/bin}
RUNTIME_BIN=${RUNTIME_BIN:-.venv-runtime/bin}
PY="$BIN/python"
STATE=var/test
ARGS=$#
mkdir -p "$STATE"
: > "$STATE/stages.txt"
status=0
STARTED=$(date +%s.%N)

cleanup() {
  "$PY" -m foundation.ops.devtools.redis down --dir "$STATE/redis" >/dev/null 2>&1 || true
  "$PY" -m foundation.ops.devtools.postgres down --dir "$STATE/pg" >/dev/null 2>&1 || true
}
trap cleanup EXIT

now() { date +%s.%N; }
seconds_since() { awk -v start="$1" -v end="$(now)" 'BEGIN { printf "%.0f", end - start }'; }
step() { echo; echo "==> $*"; }

# stage NAME COMMAND...: run it, record "NAME <exit code> <seconds>" in stages.txt, return its exit code.
stage() {
  local name=$1 start code
  shift
  start=$(now)
  "$@"
  code=$?
  if [ $code -eq 5 ] && [ $ARGS -gt 0 ]; then code=0; fi  # 5: no test selected, fine with -k/-m arguments
  echo "$name $code $(seconds_since "$start")" >> "$STATE/stages.txt"
  return $code
}

# A stage in the background: output to var/test/NAME.log, printed by show().
background() {
  local name=$1
  shift
  stage "$name" "$@" > "$STATE/$name.log" 2>&1 &
}

show() {  # the JSON log lines of servers started by the tests are left out (they stay in the .log file)
  step "pytest ($1): ${*:2}"
  grep -v '^{"' "$STATE/$1.log"
}

lint() {
  "$BIN/ruff" check src tests bench conftest.py && "$BIN/ruff" format --check src tests bench conftest.py \
    && "$BIN/mypy"
}

servers() {
  "$PY" -m foundation.ops.devtools.postgres up --dir "$STATE/pg" && \
    "$PY" -m foundation.ops.devtools.redis up --dir "$STATE/redis"
}

step "lint: ruff, ruff format, mypy"
stage lint lint || exit 1

step "servers: private PostgreSQL and Redis"
stage servers servers || exit 1
eval "$("$PY" -m foundation.ops.devtools.postgres env --dir "$STATE/pg")"
eval "$("$PY" -m foundation.ops.devtools.redis env --dir "$STATE/redis")"
# The suite builds its own settings; these only tell it where the servers are.
export FOUNDATION_TEST_PG_URL FOUNDATION_TEST_REDIS_URL="$FOUNDATION_REDIS_URL"
export FOUNDATION_TEST_RUNTIME_BIN="$RUNTIME_BIN"
unset FOUNDATION_DATABASE_URL FOUNDATION_MIGRATION_DATABASE_URL FOUNDATION_REDIS_URL FOUNDATION_DB_APP_ROLE

HTTP_SUITE=(tests/api tests/auth)
step "sqlite, postgres and lowest side by side (output below, stage by stage)"
background sqlite env FOUNDATION_TEST_BACKEND=sqlite FOUNDATION_TEST_REQUIRE=redis,prometheus,chromium,runtime_install \
  "$BIN/pytest" -q -p no:cacheprovider -m "not postgres and not timing" "$@"
background postgres env FOUNDATION_TEST_BACKEND=postgres FOUNDATION_TEST_REQUIRE=postgres,redis \
  "$BIN/pytest" -q -p no:cacheprovider -m "not timing" "${HTTP_SUITE[@]}" tests/postgres "$@"
background lowest env FOUNDATION_TEST_BACKEND=sqlite \
  "$LOWEST_BIN/pytest" -q -p no:cacheprovider -m "not timing" "${HTTP_SUITE[@]}" "$@"
wait
show sqlite "everything but PostgreSQL-only and timing tests, on SQLite"
show postgres "${HTTP_SUITE[*]} tests/postgres on PostgreSQL"
show lowest "${HTTP_SUITE[*]} on SQLite with the lowest versions the floors admit ($LOWEST_BIN)"

step "timing: wall-clock tests alone (SQLite, then PostgreSQL)"
timing() {
  local code=0 each
  FOUNDATION_TEST_BACKEND=sqlite FOUNDATION_TEST_REQUIRE=redis,prometheus,chromium,runtime_install \
    "$BIN/pytest" -q -p no:cacheprovider -m "timing and not postgres" "$@"
  each=$?
  if [ $each -ne 0 ] && ! { [ $each -eq 5 ] && [ $ARGS -gt 0 ]; }; then code=$each; fi
  FOUNDATION_TEST_BACKEND=postgres FOUNDATION_TEST_REQUIRE=postgres,redis \
    "$BIN/pytest" -q -p no:cacheprovider -m timing "${HTTP_SUITE[@]}" tests/postgres "$@"
  each=$?
  if [ $each -ne 0 ] && ! { [ $each -eq 5 ] && [ $ARGS -gt 0 ]; }; then code=$each; fi
  return $code
}
stage timing timing "$@"

step "stages (wall time)"
for wanted in lint servers sqlite postgres lowest timing; do
  while read -r name code seconds; do
    [ "$name" = "$wanted" ] || continue
    printf '%-9s %5ss  %s\n' "$name" "$seconds" "$([ "$code" -eq 0 ] && echo ok || echo "FAILED (exit $code)")"
    [ "$code" -eq 0 ] || status=1
  done < "$STATE/stages.txt"
done
printf '%-9s %5ss\n' total "$(seconds_since "$STARTED")"
exit $status
