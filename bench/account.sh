#!/usr/bin/env bash
# The cost of leaving (issue 13), on PostgreSQL and SQLite:
#
#   - DELETE /api/v1/me for a user with N favorites (default 10,000): wall
#     time, and the longest of its transactions (from the server's
#     `account deleted` log line), which is how long it holds the row locks
#     of the interviews in one batch;
#   - meanwhile, another user PUTs and DELETEs favorites on the interviews the
#     deletion is working through: the slowest of those requests shows how
#     long the deletion kept other users waiting;
#   - GET /api/v1/me/export for a user with M favorites (default 100,000):
#     wall time, size, and the server's peak RSS (VmHWM) before and after.
#
#   bash bench/account.sh [--binary PATH] [--favorites N] [--export-favorites M]
#
# Uses the release binary (built unless --binary is given), a fresh
# PostgreSQL database `favorites_account_bench` on 127.0.0.1:5432 and a
# temporary SQLite file. Seeds in SQL: one author with max(N, M)
# interviews, the deleting user favoriting N of them, the exporting user M.
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

BINARY=""
FAVORITES=10000
EXPORT_FAVORITES=100000
while [[ $# -gt 0 ]]; do
  case "$1" in
    --binary) BINARY=$2; shift 2 ;;
    --favorites) FAVORITES=$2; shift 2 ;;
    --export-favorites) EXPORT_FAVORITES=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
if [[ -z "$BINARY" ]]; then
  cargo build --release --quiet
  BINARY=target/release/favorites
fi
INTERVIEWS=$(( FAVORITES > EXPORT_FAVORITES ? FAVORITES : EXPORT_FAVORITES ))
PG_ADMIN="postgres://postgres@127.0.0.1:5432/postgres"
PG_URL="postgres://postgres@127.0.0.1:5432/favorites_account_bench"
WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
  [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

export JWT_SECRET="account-bench-secret-account-bench-secret"
token() { "$BINARY" token --sub "$1"; }

start() {
  local url=$1 port
  port=$(free_port)
  BASE="http://127.0.0.1:$port"
  DATABASE_URL="$url" BIND="127.0.0.1:$port" RUST_LOG=info LOG_FORMAT=json \
    "$BINARY" serve >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  wait_up "$BASE/readyz" "$SERVER_PID" "$WORK/server.log"
}

stop() { kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""; }

hwm_kb() { awk '/VmHWM/ {print $2}' "/proc/$SERVER_PID/status"; }

sql() {
  case "$BACKEND" in
    postgres) psql -q -v ON_ERROR_STOP=1 "$PG_URL" -c "$1" >/dev/null ;;
    sqlite) python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.executescript(sys.argv[2]); c.commit()' "$DB_FILE" "$1" ;;
  esac
}

user_id() { curl -fsS "$BASE/api/v1/me" -H "Authorization: Bearer $1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])'; }

seed() {
  local author=$1 leaver=$2 exporter=$3 series
  case "$BACKEND" in
    postgres) series="SELECT g AS n FROM generate_series(1, $INTERVIEWS) g" ;;
    sqlite) series="WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < $INTERVIEWS) SELECT n FROM s" ;;
  esac
  local stamp="'2026-12-01 00:00:00'"
  sql "INSERT INTO interviews (author_id, title, created_at, updated_at) SELECT $author, 'seeded ' || n, $stamp, $stamp FROM ($series) AS seq;
       INSERT INTO favorite_interviews (user_id, interview_id, created_at) SELECT $leaver, id, $stamp FROM interviews WHERE author_id = $author ORDER BY id LIMIT $FAVORITES;
       INSERT INTO favorite_interviews (user_id, interview_id, created_at) SELECT $exporter, id, $stamp FROM interviews WHERE author_id = $author ORDER BY id LIMIT $EXPORT_FAVORITES;
       UPDATE interviews SET favorites_count = (SELECT count(*) FROM favorite_interviews f WHERE f.interview_id = interviews.id);"
}

# Another user's favorite writes on the first interviews of the batches,
# while the deletion runs; prints the slowest request's time in ms.
other_writes() {
  local tok=$1 first=$2
  python3 - "$BASE" "$tok" "$first" "$FAVORITES" <<'EOF'
import os, sys, time, urllib.request
base, token, first, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
slowest, count, deadline = 0.0, 0, time.time() + 120
while os.path.exists(os.environ["RUNNING"]) and time.time() < deadline:
    interview = first + (count * 37) % n
    for method in ("PUT", "DELETE"):
        request = urllib.request.Request(f"{base}/api/v1/favorites/{interview}", method=method,
                                         headers={"Authorization": f"Bearer {token}"})
        started = time.perf_counter()
        urllib.request.urlopen(request).read()
        slowest = max(slowest, time.perf_counter() - started)
    count += 1
    if count == 20:
        # Warmed up: the deletion may start (and the slowest so far is forgotten).
        slowest = 0.0
        open(os.environ["WRITING"], "w").close()
print(f"{slowest * 1e3:.1f} {(count - 20) * 2}")
EOF
}

run_backend() {
  BACKEND=$1
  local url
  case "$BACKEND" in
    postgres)
      psql -q "$PG_ADMIN" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS favorites_account_bench" -c "CREATE DATABASE favorites_account_bench" >/dev/null
      url=$PG_URL ;;
    sqlite)
      DB_FILE="$WORK/account.db"
      url="sqlite://$DB_FILE" ;;
  esac
  start "$url"
  local author leaver exporter other
  author=$(token author); leaver=$(token leaver); exporter=$(token exporter); other=$(token other)
  local author_id leaver_id exporter_id
  author_id=$(user_id "$author"); leaver_id=$(user_id "$leaver"); exporter_id=$(user_id "$exporter"); user_id "$other" >/dev/null
  seed "$author_id" "$leaver_id" "$exporter_id"
  # A fresh database: the seeded interviews are 1..N, the leaver's favorites 1..FAVORITES.
  local first=1
  # The deletion, with another user writing on the same interviews.
  export RUNNING="$WORK/running"
  touch "$RUNNING"
  export WRITING="$WORK/writing"
  rm -f "$WRITING"
  other_writes "$other" "$first" >"$WORK/other.txt" &
  local writer=$!
  while [[ ! -e "$WRITING" ]]; do
    kill -0 "$writer" || { echo "the other writer died" >&2; exit 1; }
    sleep 0.01
  done
  local t0 t1
  t0=$(date +%s.%N)
  curl -fsS -o /dev/null -X DELETE "$BASE/api/v1/me" -H "Authorization: Bearer $leaver"
  t1=$(date +%s.%N)
  rm -f "$RUNNING"
  wait "$writer"
  local line
  line=$(grep '"account deleted"' "$WORK/server.log" | tail -1)
  local longest transactions
  read -r longest transactions < <(python3 -c '
import json, sys
line = json.loads(sys.argv[1])
fields = line.get("fields", line)
print("%.1f %d" % (fields["longest_transaction_ms"], fields["transactions"]))' "$line")
  read -r slowest writes <"$WORK/other.txt"
  printf '%-8s DELETE /me, %s favorites: %.2f s, %s transactions, longest %s ms; %s concurrent writes by another user, slowest %s ms\n' \
    "$BACKEND" "$FAVORITES" "$(echo "$t1 - $t0" | bc)" "$transactions" "$longest" "$writes" "$slowest"
  # The export.
  local before after size
  before=$(hwm_kb)
  t0=$(date +%s.%N)
  size=$(curl -fsS "$BASE/api/v1/me/export" -H "Authorization: Bearer $exporter" | wc -c)
  t1=$(date +%s.%N)
  after=$(hwm_kb)
  printf '%-8s GET /me/export, %s favorites: %.2f s, %s bytes; peak RSS %s MB before, %s MB after\n' \
    "$BACKEND" "$EXPORT_FAVORITES" "$(echo "$t1 - $t0" | bc)" "$size" "$((before / 1024))" "$((after / 1024))"
  stop
}

echo "account benchmark, commit $(git rev-parse --short HEAD), $(nproc) cores"
run_backend postgres
run_backend sqlite
psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS favorites_account_bench" >/dev/null
