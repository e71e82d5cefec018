#!/usr/bin/env bash
# The favorites benchmark. One command, from the repository root:
#
#   bash bench/run.sh [--favorites 1000000] [--sqlite] [--connections 32] [--duration 12]
#
# It builds the release binary, seeds a fresh database directly in SQL
# (PostgreSQL `favorites_bench` by default, a SQLite file with --sqlite),
# mints tokens, starts `favorites serve`, drives HTTP load with wrk for each
# scenario, runs pgbench with the same SQL for each scenario (PostgreSQL
# only), checks that every favorites_count equals its rows, and prints one
# table (bench/report.py). Raw results go to bench/out/<run>/.
#
# Options (defaults in brackets):
#   --favorites N     favorite rows to seed [1000000]; 10000000 for the big run
#   --users N         users [10000]          --interviews N   interviews [100000]
#   --sqlite          run against SQLite instead of PostgreSQL (no pgbench)
#   --connections N   wrk connections = pgbench clients [32]
#   --threads N       wrk threads = pgbench threads (-j) [2]
#   --duration S      seconds of wrk and of pgbench per scenario [12]
#   --warmup S        seconds of unmeasured wrk load before each scenario [2]
#   --pool-size N     the server's DATABASE_POOL_SIZE [unset: the server's default]
#   --write-pool-size N  the server's DATABASE_WRITE_POOL_SIZE [unset: the default]
#   --tokens N        users the load is spread over (pre-minted tokens) [1000]
#   --deep-rows N     how deep in a list the deep cursor page starts [2000]
#   --scenarios a,b   run only these scenarios [all]
#   --skip-build      use the existing target/release/favorites
#   --binary PATH     run this favorites binary instead (no build): an older
#                     build, to compare two commits in one sitting
#   --keep-autogroup  leave the kernel's autogroup scheduling on when the host
#                     has it on (by default the run turns it off and restores
#                     it after: bench/lib.sh says why)
#
# Needs: cargo, wrk, curl, python3; psql and pgbench (PostgreSQL 15's
# /usr/lib/postgresql/*/bin is searched) with a superuser at PGHOST:PGPORT
# (default 127.0.0.1:5432, PGUSER postgres, trust or ~/.pgpass auth); for
# --sqlite nothing else (the seeding uses Python's sqlite3).
# On Debian: apt-get install -y wrk postgresql-client (done by this script
# when it runs as root and they are missing).

set -euo pipefail

FAVORITES=1000000
USERS=10000
INTERVIEWS=100000
BACKEND=postgres
CONNECTIONS=32
THREADS=2
DURATION=12
WARMUP=2
POOL_SIZE=""
WRITE_POOL_SIZE=""
TOKENS=1000
DEEP_ROWS=2000
DEEP_USERS=10
NPOPULAR=10
DELETE_PAIRS=40
SCENARIOS="list_first list_deep favorited_by get_interview list_interviews put delete toggle hot_put hot_toggle healthz readyz"
BUILD=1
BIN=""
KEEP_AUTOGROUP=0
JWT_SECRET_BENCH="favorites-benchmark-secret-0123456789abcdef"

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit "${1:-0}"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --favorites) FAVORITES=$2; shift 2 ;;
    --users) USERS=$2; shift 2 ;;
    --interviews) INTERVIEWS=$2; shift 2 ;;
    --sqlite) BACKEND=sqlite; shift ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --pool-size) POOL_SIZE=$2; shift 2 ;;
    --write-pool-size) WRITE_POOL_SIZE=$2; shift 2 ;;
    --tokens) TOKENS=$2; shift 2 ;;
    --deep-rows) DEEP_ROWS=$2; shift 2 ;;
    --scenarios) SCENARIOS=${2//,/ }; shift 2 ;;
    --skip-build) BUILD=0; shift ;;
    --keep-autogroup) KEEP_AUTOGROUP=1; shift ;;
    --binary) BIN=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); BUILD=0; shift 2 ;;
    -h|--help) usage ;;
    *) echo "unknown option: $1" >&2; usage 2 ;;
  esac
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
. "$ROOT/bench/lib.sh"
BENCH=$ROOT/bench
BIN=${BIN:-$ROOT/target/release/favorites}
STRIDE=$((USERS / TOKENS))
if [ "$STRIDE" -lt 1 ]; then echo "--tokens must not exceed --users" >&2; exit 2; fi

log() { printf '\n== %s  %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
# Installs a missing Debian package when we may (root with apt-get), as a
# fresh machine of this kind has PostgreSQL but not wrk or psql.
install_if_missing() { # command package
  command -v "$1" >/dev/null && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing $2 (for $1)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2"; } >&2 || true
  fi
}
need() { command -v "$1" >/dev/null || { echo "needs $1 ($2)" >&2; exit 2; }; }
install_if_missing wrk wrk
need wrk "apt-get install -y wrk"
need curl "apt-get install -y curl"
need python3 "apt-get install -y python3"
need cargo "https://rustup.rs"

# Server and pgbench both reach PostgreSQL on this host without TLS (libpq's
# default, sslmode=prefer, would encrypt every result on both sides).
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
export PGSSLMODE=${PGSSLMODE:-disable}
DBNAME=favorites_bench
if [ "$BACKEND" = postgres ]; then
  install_if_missing psql postgresql-client
  need psql "apt-get install -y postgresql-client"
  PGBENCH=$(command -v pgbench || ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | sort -V | tail -1 || true)
  [ -x "$PGBENCH" ] || { echo "needs pgbench (apt-get install -y postgresql-contrib or postgresql-15)" >&2; exit 2; }
fi
PSQL=(psql -X -q -v ON_ERROR_STOP=1)

RUN=$(date +%Y%m%d-%H%M%S)-$BACKEND-$FAVORITES
OUT=$BENCH/out/$RUN
DATA=$OUT/data
mkdir -p "$DATA" "$OUT/pgbench"
echo "results: $OUT" >&2

SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  autogroup_restore
}
trap cleanup EXIT

meta() { printf '%s=%s\n' "$1" "$2" >> "$OUT/meta.txt"; }
meta backend "$BACKEND"
meta binary "$BIN"
meta commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock migrations 2>/dev/null || echo ' (with uncommitted changes)')"
meta machine "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -sr)"
meta cpu "$(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
meta sizes "$USERS users, $INTERVIEWS interviews, $FAVORITES favorites"
meta load "connections $CONNECTIONS, threads $THREADS, $DURATION s per scenario (after $WARMUP s warm-up), tokens $TOKENS, deep page after $DEEP_ROWS rows"
meta pool_size "${POOL_SIZE:-server default}"
meta write_pool_size "${WRITE_POOL_SIZE:-server default}"
meta loadavg_before "$(cut -d' ' -f1-3 /proc/loadavg)"
autogroup_off "$KEEP_AUTOGROUP"
meta autogroup "$AUTOGROUP"

# ---------------------------------------------------------------- build
if [ "$BUILD" = 1 ]; then
  log "cargo build --release"
  cargo build --release --quiet
fi
[ -x "$BIN" ] || { echo "no $BIN; drop --skip-build" >&2; exit 2; }
meta server_version "$("$BIN" --version 2>/dev/null || echo favorites)"

# ---------------------------------------------------------------- database
export JWT_SECRET=$JWT_SECRET_BENCH
unset RATE_LIMIT_PER_IP RATE_LIMIT_PER_USER CORS_ALLOWED_ORIGINS JWT_PUBLIC_KEY_FILE JWT_JWKS_FILE JWT_ISSUER JWT_AUDIENCE
if [ "$BACKEND" = postgres ]; then
  export DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$DBNAME?sslmode=$PGSSLMODE"
  log "fresh database $DBNAME"
  "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DBNAME WITH (FORCE)" -c "CREATE DATABASE $DBNAME"
else
  export DATABASE_URL="$OUT/favorites.db"
  log "fresh SQLite database $DATABASE_URL"
fi
RUST_LOG=warn "$BIN" migrate

log "seeding $USERS users, $INTERVIEWS interviews, $FAVORITES favorites"
SEED_START=$(date +%s%N)
if [ "$BACKEND" = postgres ]; then
  "${PSQL[@]}" -o /dev/null -d "$DBNAME" -v users="$USERS" -v interviews="$INTERVIEWS" \
    -v favorites="$FAVORITES" -v tokens="$TOKENS" -v stride="$STRIDE" \
    -v delete_pairs="$DELETE_PAIRS" -f "$BENCH/seed_postgres.sql"
  sql() { "${PSQL[@]}" -d "$DBNAME" -At -c "$1"; }
else
  python3 "$BENCH/seed_sqlite.py" "$DATABASE_URL" --users "$USERS" --interviews "$INTERVIEWS" \
    --favorites "$FAVORITES" --tokens "$TOKENS" --stride "$STRIDE" --delete-pairs "$DELETE_PAIRS"
  sql() { python3 -c 'import sqlite3, sys
for row in sqlite3.connect(sys.argv[1]).execute(sys.argv[2]): print("|".join(map(str, row)))' "$DATABASE_URL" "$1"; }
fi
SEED_MS=$((($(date +%s%N) - SEED_START) / 1000000))
SEED_SECONDS=$((SEED_MS / 1000)).$(((SEED_MS % 1000) / 100))
echo "seeded in $SEED_SECONDS s" >&2
meta seed_seconds "$SEED_SECONDS"
meta rows "$(sql "SELECT (SELECT count(*) FROM users) || ' users, ' || (SELECT count(*) FROM interviews) || ' interviews, ' || (SELECT count(*) FROM favorite_interviews) || ' favorites'")"

HOT=$(sql "SELECT id FROM interviews ORDER BY favorites_count DESC, id LIMIT 1")
meta hot_interview "$HOT ($(sql "SELECT favorites_count FROM interviews WHERE id = $HOT") favorites before the run)"
meta popular "ids 1..$NPOPULAR with $(sql "SELECT favorites_count FROM interviews WHERE id <= $NPOPULAR ORDER BY id" | paste -sd' ' -) favorites"

cat > "$DATA/params.txt" <<EOF
interviews=$INTERVIEWS
stride=$STRIDE
delete_pairs=$DELETE_PAIRS
npopular=$NPOPULAR
hot=$HOT
EOF

# ---------------------------------------------------------------- tokens
log "minting $TOKENS tokens (users 1 + $STRIDE k)"
mint() { "$BIN" token --sub "bench-user-$1" --ttl 86400; }
: > "$DATA/tokens.txt"
for ((k = 0; k < TOKENS; k++)); do mint $((1 + k * STRIDE)) >> "$DATA/tokens.txt"; done
DEEP_IDS=$(sql "SELECT user_id FROM favorite_interviews GROUP BY user_id HAVING count(*) >= $((DEEP_ROWS + 21)) ORDER BY count(*) DESC, user_id LIMIT $DEEP_USERS")
[ -n "$DEEP_IDS" ] || { echo "no user has $((DEEP_ROWS + 21)) favorites; lower --deep-rows" >&2; exit 1; }
: > "$DATA/deep_users.txt"
for uid in $DEEP_IDS; do echo "$uid $(mint "$uid")" >> "$DATA/deep_users.txt"; done
meta deep_users "$(echo $DEEP_IDS | tr ' ' ',') ($(sql "SELECT min(n) || '..' || max(n) FROM (SELECT count(*) AS n FROM favorite_interviews WHERE user_id IN ($(echo $DEEP_IDS | tr ' ' ',')) GROUP BY user_id) s") favorites each)"

# ---------------------------------------------------------------- server
PORT=$(free_port)
BASE=http://127.0.0.1:$PORT
log "starting favorites serve on $BASE"
(
  export BIND=127.0.0.1:$PORT RUST_LOG=warn
  # An option left unset leaves the server its default, whatever the caller exported.
  export_or_unset() { if [ -n "$2" ]; then export "$1=$2"; else unset "$1"; fi; }
  export_or_unset DATABASE_POOL_SIZE "$POOL_SIZE"
  export_or_unset DATABASE_WRITE_POOL_SIZE "$WRITE_POOL_SIZE"
  exec "$BIN" serve
) > "$OUT/server.log" 2>&1 &
SERVER_PID=$!
wait_up "$BASE/readyz" "$SERVER_PID" "$OUT/server.log"

log "walking $DEEP_ROWS rows into the lists of users $(echo $DEEP_IDS | tr '\n' ' ')"
python3 "$BENCH/walk_cursors.py" "$BASE" "$DEEP_ROWS" < "$DATA/deep_users.txt" > "$DATA/deep.txt"

# pgbench variant of the deep page: one script per deep user, the cursor's
# row taken from the database (the same row the cursor names).
DEEP_SCRIPTS=()
DEEP_DEFINES=()
if [ "$BACKEND" = postgres ]; then
  n=0
  for uid in $DEEP_IDS; do
    n=$((n + 1))
    row=$(sql "SELECT to_char(created_at, 'YYYY-MM-DD HH24:MI:SS.US') || '|' || interview_id FROM favorite_interviews WHERE user_id = $uid ORDER BY created_at DESC, interview_id DESC OFFSET $((DEEP_ROWS - 1)) LIMIT 1")
    sed -e "s/@UID@/$uid/" -e "s/@CID@/${row#*|}/" -e "s/@N@/$n/g" \
      "$BENCH/pgbench/list_deep.sql" > "$OUT/pgbench/list_deep_$n.sql"
    DEEP_SCRIPTS+=(-f "$OUT/pgbench/list_deep_$n.sql@1")
    DEEP_DEFINES+=(-D "deep_at_$n=${row%%|*}")
  done
fi

# ---------------------------------------------------------------- load
export BENCH_DATA=$DATA BENCH_WRK_DIR=$BENCH/wrk
run_wrk() { # scenario seconds
  wrk -t "$THREADS" -c "$CONNECTIONS" -d "$2s" --timeout 10s -s "$BENCH/wrk/$1.lua" "$BASE"
}
# pgbench's sessions get the settings the server gives each of its
# connections (PG_SESSION_SETTINGS in src/db/mod.rs), so both run the same
# SQL under the same plans.
PG_SESSION_OPTIONS=$(grep -A1 'pub const PG_SESSION_SETTINGS' "$ROOT/src/db/mod.rs" \
  | grep -o 'SET [a-z_]* = [a-z_0-9]*' | sed -E 's/SET ([a-z_]+) = ([a-z_0-9]+)/-c \1=\2/' | paste -sd' ')
if [ "$BACKEND" = postgres ]; then
  # Without them pgbench would plan differently from the server: refuse.
  [ -n "$PG_SESSION_OPTIONS" ] || { echo "no SET found in PG_SESSION_SETTINGS (src/db/mod.rs)" >&2; exit 2; }
  meta pg_session "$PG_SESSION_OPTIONS"
fi
run_pgbench() { # scenario
  local scripts
  if [ "$1" = list_deep ]; then scripts=("${DEEP_SCRIPTS[@]}" "${DEEP_DEFINES[@]}"); else scripts=(-f "$BENCH/pgbench/$1.sql"); fi
  PGOPTIONS="$PG_SESSION_OPTIONS" "$PGBENCH" -n -M prepared -c "$CONNECTIONS" -j "$THREADS" -T "$DURATION" \
    -D ntokens="$TOKENS" -D stride="$STRIDE" -D interviews="$INTERVIEWS" -D npopular="$NPOPULAR" \
    -D hot="$HOT" -D delete_pairs="$DELETE_PAIRS" \
    "${scripts[@]}" "$DBNAME"
}

for scenario in $SCENARIOS; do
  [ -f "$BENCH/wrk/$scenario.lua" ] || { echo "unknown scenario $scenario" >&2; exit 2; }
  log "$scenario: wrk"
  if [ "$WARMUP" -gt 0 ]; then run_wrk "$scenario" "$WARMUP" > "$OUT/warmup_$scenario.txt" 2>&1 || true; fi
  python3 "$BENCH/cpu.py" "$SERVER_PID" > "$OUT/cpu_$scenario.txt"
  # The server's own latency histogram around the measured run: its
  # durations (monotonic clock, from the request read to the response
  # written) are the check on wrk's.
  curl -sf "$BASE/metrics" > "$OUT/metrics_before_$scenario.txt" || true
  run_wrk "$scenario" "$DURATION" > "$OUT/wrk_$scenario.txt" 2>&1 &
  WRK_PID=$!
  # The second CPU snapshot while wrk still runs, so that its time counts.
  sleep $((DURATION > 2 ? DURATION - 1 : 1))
  python3 "$BENCH/cpu.py" "$SERVER_PID" >> "$OUT/cpu_$scenario.txt"
  wait "$WRK_PID" || true
  curl -sf "$BASE/metrics" > "$OUT/metrics_after_$scenario.txt" || true
  grep -E 'Requests/sec|Non-2xx|Socket errors' "$OUT/wrk_$scenario.txt" >&2 || true
  if [ "$BACKEND" = postgres ] && [ -f "$BENCH/pgbench/$scenario.sql" ]; then
    log "$scenario: pgbench"
    run_pgbench "$scenario" > "$OUT/pgbench_$scenario.txt" 2>&1 || true
    grep -E '^tps|aborted|failed' "$OUT/pgbench_$scenario.txt" >&2 || true
  fi
done

meta peak_rss_kb "$(awk '/VmHWM/ {print $2}' "/proc/$SERVER_PID/status")"
meta loadavg_after "$(cut -d' ' -f1-3 /proc/loadavg)"
cleanup
SERVER_PID=""

# ---------------------------------------------------------------- invariants
log "checking favorites_count against the rows"
meta counters "$(sql "SELECT count(*) FILTER (WHERE i.favorites_count <> coalesce(c.n, 0)) || ' of ' || count(*) || ' interviews differ from their row count' FROM interviews i LEFT JOIN (SELECT interview_id, count(*) AS n FROM favorite_interviews GROUP BY interview_id) c ON c.interview_id = i.id")"
meta hot_after "$(sql "SELECT 'interview $HOT: favorites_count ' || favorites_count || ', rows ' || (SELECT count(*) FROM favorite_interviews WHERE interview_id = $HOT) FROM interviews WHERE id = $HOT")"
meta duplicates "$(sql "SELECT count(*) FROM (SELECT user_id, interview_id FROM favorite_interviews GROUP BY 1, 2 HAVING count(*) > 1) d") duplicate (user, interview) pairs"

python3 "$BENCH/report.py" "$OUT" | tee "$OUT/report.md"
