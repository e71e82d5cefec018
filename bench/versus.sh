#!/usr/bin/env bash
# The service beside the Node.js peer (../shared/peers/node-fastify, run
# from a copy), under the same load, on PostgreSQL:
#
#   bash bench/versus.sh [--duration 10] [--connections 32] [--binary PATH]
#
# Each implementation runs twice, in A-B-B-A order (service, peer, peer,
# service). Every run starts on a fresh database seeded through the API
# (200 users, 2,000 interviews, 20,000 favorites: bench/seed_api.py), then
# drives wrk with bench/wrk's scripts and pre-minted tokens of random users:
# the reads (list_first, favorited_by, get_interview), then the writes
# (put, toggle). The table gives the mean req/s of the two runs of each, and
# service / peer. Raw output in bench/out/versus-<time>/.
#
# Options:
#   --duration S      seconds of wrk per scenario [10] (after 2 s of warm-up)
#   --connections N   wrk connections [32]     --threads N  wrk threads [2]
#   --peer DIR        the peer's folder [../shared/peers/node-fastify]
#   --binary PATH     the service binary [a fresh target/release/favorites]
#   --pool-size N     the service's DATABASE_POOL_SIZE [its default]
#   --keep-autogroup  leave the kernel's autogroup scheduling on (by default
#                     it is off for the run and restored after: bench/lib.sh)
#
# Needs: cargo, wrk, curl, python3, node and npm (the peer's `npm ci`), and a
# PostgreSQL superuser at PGHOST:PGPORT (default 127.0.0.1:5432, postgres).
# The product never needs the peer; only this comparison does.
set -euo pipefail

DURATION=10
WARMUP=2
CONNECTIONS=32
THREADS=2
USERS=200
INTERVIEWS=2000
FAVORITES=20000
BIN=""
POOL_SIZE=""
KEEP_AUTOGROUP=0
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PEER_SRC=$ROOT/../shared/peers/node-fastify
SECRET="favorites-versus-secret-0123456789abcdef"
READS="list_first favorited_by get_interview"
WRITES="put toggle"

while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --peer) PEER_SRC=$2; shift 2 ;;
    --binary) BIN=$2; shift 2 ;;
    --pool-size) POOL_SIZE=$2; shift 2 ;;
    --keep-autogroup) KEEP_AUTOGROUP=1; shift ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done

cd "$ROOT"
. "$ROOT/bench/lib.sh"
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres}
OUT=$ROOT/bench/out/versus-$(date +%Y%m%d-%H%M%S)
DATA=$OUT/data
mkdir -p "$DATA"
log() { printf '\n== %s  %s\n' "$(date +%H:%M:%S)" "$*"; }

if [ -z "$BIN" ]; then
  log "cargo build --release"
  cargo build --release --quiet
  BIN=$ROOT/target/release/favorites
fi
command -v wrk >/dev/null || { echo "needs wrk (apt-get install -y wrk)" >&2; exit 2; }

PEER=$OUT/peer
log "copying the peer to $PEER and installing its packages"
cp -r "$PEER_SRC" "$PEER"
(cd "$PEER" && ./setup.sh > "$OUT/peer-setup.log" 2>&1)

log "minting $USERS tokens"
: > "$DATA/tokens.txt"
for ((k = 1; k <= USERS; k++)); do
  JWT_SECRET=$SECRET "$BIN" token --sub "versus-user-$k" --ttl 86400 >> "$DATA/tokens.txt"
done
cat > "$DATA/params.txt" <<PARAMS
interviews=$INTERVIEWS
stride=1
delete_pairs=0
npopular=10
hot=1
PARAMS

PID=""
stop() { if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=""; fi; }
trap 'stop; autogroup_restore' EXIT
autogroup_off "$KEEP_AUTOGROUP"
log "kernel autogroup scheduling: $AUTOGROUP"

# run NAME ROUND: fresh database, start NAME, seed through its API, measure.
run() {
  local name=$1 round=$2 db=favorites_versus port url
  port=$(free_port)
  url=postgres://$PGUSER@$PGHOST:$PGPORT/$db?sslmode=disable
  log "$name, run $round: fresh database, start on port $port"
  dropdb --if-exists --force "$db"
  createdb "$db"
  if [ "$name" = service ]; then
    (
      export DATABASE_URL=$url JWT_SECRET=$SECRET BIND=127.0.0.1:$port RUST_LOG=warn
      if [ -n "$POOL_SIZE" ]; then export DATABASE_POOL_SIZE=$POOL_SIZE; fi
      exec "$BIN" serve
    ) > "$OUT/$name-$round.log" 2>&1 &
  else
    (
      export DATABASE_URL=$url JWT_SECRET=$SECRET BIND=127.0.0.1:$port
      exec "$PEER/run.sh"
    ) > "$OUT/$name-$round.log" 2>&1 &
  fi
  PID=$!
  wait_up "http://127.0.0.1:$port/healthz" "$PID" "$OUT/$name-$round.log"
  log "$name, run $round: seeding $USERS users, $INTERVIEWS interviews, $FAVORITES favorites through the API"
  python3 "$ROOT/bench/seed_api.py" "http://127.0.0.1:$port" "$DATA/tokens.txt" "$INTERVIEWS" "$FAVORITES"
  psql -qAt -d "$db" -c "VACUUM ANALYZE" >/dev/null
  for scenario in $READS $WRITES; do
    export BENCH_DATA=$DATA BENCH_WRK_DIR=$ROOT/bench/wrk
    wrk -c "$CONNECTIONS" -t "$THREADS" -d "${WARMUP}s" -s "bench/wrk/$scenario.lua" "http://127.0.0.1:$port" > /dev/null
    wrk -c "$CONNECTIONS" -t "$THREADS" -d "${DURATION}s" --latency -s "bench/wrk/$scenario.lua" "http://127.0.0.1:$port" \
      > "$OUT/wrk_${name}_${round}_$scenario.txt"
    printf '%s %s %s %s\n' "$name" "$round" "$scenario" \
      "$(grep -o 'BENCH_JSON .*' "$OUT/wrk_${name}_${round}_$scenario.txt" | cut -d' ' -f2-)" >> "$OUT/results.txt"
  done
  local drift
  drift=$(psql -qAt -d "$db" -c "SELECT count(*) FROM interviews i WHERE favorites_count <> (SELECT count(*) FROM favorite_interviews f WHERE f.interview_id = i.id)")
  printf '%s %s counters_differ %s\n' "$name" "$round" "$drift" >> "$OUT/results.txt"
  stop
}

run service 1
run peer 1
run peer 2
run service 2

python3 - "$OUT/results.txt" "$DURATION" <<'PY' | tee "$OUT/report.md"
import json, sys
rows, drift = {}, []
for line in open(sys.argv[1]):
    name, rnd, scenario, rest = line.rstrip("\n").split(" ", 3)
    if scenario == "counters_differ":
        drift.append(f"{name} run {rnd}: {rest} interviews whose favorites_count differs from its rows")
        continue
    r = json.loads(rest)
    e = r["errors"]
    rows.setdefault(scenario, {}).setdefault(name, []).append(
        (r["requests"] / (r["duration_us"] / 1e6), r["latency_us"]["p99"] / 1000, e["status"] + e["connect"] + e["read"] + e["write"] + e["timeout"]))
print("| scenario | service req/s (runs) | p99 ms | peer req/s (runs) | p99 ms | errors | service / peer |")
print("|---|---:|---:|---:|---:|---:|---:|")
for scenario, by in rows.items():
    s, p = by.get("service", []), by.get("peer", [])
    mean = lambda xs, i: sum(x[i] for x in xs) / len(xs)
    runs = lambda xs: " / ".join(f"{x[0]:,.0f}" for x in xs)
    print(f"| {scenario} | {mean(s,0):,.0f} ({runs(s)}) | {mean(s,1):.1f} | {mean(p,0):,.0f} ({runs(p)}) | {mean(p,1):.1f} | "
          f"{sum(x[2] for x in s)} / {sum(x[2] for x in p)} | {mean(s,0) / mean(p,0):.2f} |")
print()
print("\n".join(drift))
PY
echo "kernel autogroup scheduling: $AUTOGROUP" | tee -a "$OUT/report.md"
