#!/usr/bin/env python3
"""Prints the benchmark's table from the raw results of one run.

usage: report.py bench/out/<run>

Reads meta.txt (key=value lines), wrk_<scenario>.txt (the BENCH_JSON line
bench/wrk/common.lua prints) and pgbench_<scenario>.txt (pgbench's summary).
"""

import json
import re
import sys
from pathlib import Path

ORDER = ["list_first", "list_deep", "favorited_by", "get_interview", "list_interviews",
         "put", "delete", "toggle", "hot_put", "hot_toggle", "healthz", "readyz"]
LABELS = {
    "list_first": "GET /favorites (first page)",
    "list_deep": "GET /favorites?cursor= (deep page)",
    "favorited_by": "GET /interviews/{popular}/favorited-by",
    "get_interview": "GET /interviews/{id}",
    "list_interviews": "GET /interviews",
    "put": "PUT /favorites/{id}",
    "delete": "DELETE /favorites/{id}",
    "toggle": "POST /favorites/{id}/toggle",
    "hot_put": "PUT /favorites/{hot}",
    "hot_toggle": "POST /favorites/{hot}/toggle",
    "healthz": "reference: GET /healthz (no database)",
    "readyz": "reference: GET /readyz (SELECT 1)",
}
READS = {"list_first", "list_deep", "favorited_by", "get_interview", "list_interviews"}
HOT = {"hot_put", "hot_toggle"}
# Rows that measure the machine and the stack, not an endpoint of the API:
# shown in the table, left out of the targets.
REFERENCE = {"healthz", "readyz"}


def wrk_result(path):
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        if line.startswith("BENCH_JSON "):
            r = json.loads(line[len("BENCH_JSON "):])
            r["rps"] = r["requests"] / (r["duration_us"] / 1e6) if r["duration_us"] else 0.0
            r["error_count"] = sum(r["errors"].values())
            return r
    return None


def inflated_latency(w, connections):
    """Whether wrk's latencies add up to more time than its connections had.

    Each wrk connection has one request in flight at a time, so the measured
    latencies cannot add up to more than connections x duration. wrk 4.1
    then corrects for coordinated omission (`stats_correct` in its source):
    for every request that took longer than twice the mean interval between
    a connection's requests, it adds the requests that connection would have
    sent meanwhile, at latencies stepping down by that interval. A few real
    stalls of a second then fill its tail (p99, mean) with thousands of
    samples; the sum going over the bound is the sign of it. Whether the
    server itself saw the stalls, its own histogram says
    (`server_slower_than`).
    """
    if not connections or not w["duration_us"]:
        return False
    spent = w["latency_us"]["mean"] * w["requests"]
    # A quarter of slack for wrk's own bookkeeping at the run's edges.
    return spent > 1.25 * connections * w["duration_us"]


HISTOGRAM = re.compile(
    r'^favorites_http_requests_duration_seconds_bucket\{(?P<labels>.*)\} (?P<count>[\d.e+]+)$')


def server_buckets(path):
    """The server's request-duration histogram (every endpoint but /metrics,
    summed): {upper bound in seconds: cumulative count}."""
    if not path.exists():
        return None
    buckets = {}
    for line in path.read_text().splitlines():
        m = HISTOGRAM.match(line)
        if not m or 'endpoint="/metrics"' in m["labels"]:
            continue
        le = re.search(r'le="([^"]+)"', m["labels"]).group(1)
        bound = float("inf") if le == "+Inf" else float(le)
        buckets[bound] = buckets.get(bound, 0) + float(m["count"])
    return buckets


def server_run(out, scenario):
    """The server's histogram for the measured run alone (the snapshot after
    it minus the one before): {upper bound in seconds: cumulative count}, or
    None without both snapshots."""
    before = server_buckets(out / f"metrics_before_{scenario}.txt")
    after = server_buckets(out / f"metrics_after_{scenario}.txt")
    if before is None or not after or float("inf") not in after:
        return None
    return {bound: count - before.get(bound, 0) for bound, count in after.items()}


def server_within_10ms(out, scenario):
    """The share of the requests of the measured run that the server itself
    answered within 10 ms (its histogram has a bucket there, so this is
    exact: p99 <= 10 ms exactly when it is at least 99 %); None without both
    snapshots."""
    run = server_run(out, scenario)
    if run is None or 0.01 not in run or run[float("inf")] <= 0:
        return None
    return run[0.01] / run[float("inf")]


def server_slower_than(out, scenario, seconds):
    """How many requests of the measured run the server itself took longer
    than `seconds` over (a bucket of its histogram); None without both
    snapshots."""
    run = server_run(out, scenario)
    if run is None or seconds not in run:
        return None
    return run[float("inf")] - run[seconds]


def pgbench_result(path):
    if not path.exists():
        return None
    text = path.read_text()
    tps = re.search(r"^tps = ([\d.]+)", text, re.M)
    if not tps:
        return {"tps": None, "problem": text.strip().splitlines()[-1] if text.strip() else "no output"}
    failed = re.search(r"number of failed transactions: (\d+)", text)
    aborted = len(re.findall(r"client \d+ aborted", text))
    latency = re.search(r"latency average = ([\d.]+) ms", text)
    return {
        "tps": float(tps.group(1)),
        "failed": int(failed.group(1)) if failed else 0,
        "aborted": aborted,
        "latency_ms": float(latency.group(1)) if latency else None,
    }


def cpu_shares(path):
    """Shares of the machine's capacity (all cores) during the wrk run: the
    server, PostgreSQL, wrk, and every other process on the machine."""
    if not path.exists():
        return None
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    if len(lines) < 2:
        return None
    before, after = json.loads(lines[0]), json.loads(lines[1])
    total = after["total"] - before["total"]
    if total <= 0:
        return None
    # Processes that exit between the snapshots make a difference negative.
    busy = after["busy"] - before["busy"]
    server = max(0, after["server"] - before["server"])
    postgres = max(0, after["postgres"] - before["postgres"])
    wrk = max(0, after.get("wrk", 0) - before.get("wrk", 0))
    return {"busy": busy / total, "server": server / total, "postgres": postgres / total,
            "wrk": wrk / total, "other": max(0, busy - server - postgres - wrk) / total}


def main():
    out = Path(sys.argv[1])
    meta = {}
    for line in (out / "meta.txt").read_text().splitlines():
        key, _, value = line.partition("=")
        meta[key] = value
    scenarios = sorted(
        {p.stem.split("_", 1)[1] for p in out.glob("wrk_*.txt")},
        key=lambda s: ORDER.index(s) if s in ORDER else len(ORDER))

    match = re.search(r"connections (\d+)", meta.get("load", ""))
    connections = int(match.group(1)) if match else 0
    rows, results = [], {}
    # Scenarios whose wrk tail is inflated: the server's own count of
    # requests over 100 ms (None when its histogram is missing).
    stalled = {}
    for s in scenarios:
        w = wrk_result(out / f"wrk_{s}.txt")
        pg = pgbench_result(out / f"pgbench_{s}.txt")
        results[s] = (w, pg)
        if w is None:
            rows.append([s, "wrk failed", "", "", "", "", "", ""])
            continue
        errors = str(w["error_count"])
        if w["error_count"]:
            e = w["errors"]
            errors += f" (non-2xx {e['status']}, socket {e['connect'] + e['read'] + e['write'] + e['timeout']})"
        if pg is None:
            limit, ratio = "–", "–"
        elif pg["tps"] is None:
            limit, ratio = f"failed: {pg['problem']}", "–"
        else:
            limit = f"{pg['tps']:,.0f}"
            if pg["failed"] or pg["aborted"]:
                limit += f" ({pg['failed']} failed, {pg['aborted']} clients aborted)"
            ratio = f"{100 * w['rps'] / pg['tps']:.0f} %"
        p99 = f"{w['latency_us']['p99'] / 1000:.2f}"
        if inflated_latency(w, connections):
            stalled[s] = server_slower_than(out, s, 0.1)
            p99 += " !"
        within = server_within_10ms(out, s)
        w["server_within_10ms"] = within
        rows.append([
            s, f"{w['rps']:,.0f}", f"{w['latency_us']['p50'] / 1000:.2f}",
            p99, "–" if within is None else f"{100 * within:.2f} %", errors, limit, ratio])

    header = ["scenario", "req/s", "p50 ms", "p99 ms", "server ≤ 10 ms", "errors", "pgbench tps",
              "service/limit"]
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]

    def line(cells):
        return "| " + " | ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                                 for i, (c, w) in enumerate(zip(cells, widths))) + " |"

    print(f"favorites benchmark, {meta.get('backend')}, commit {meta.get('commit')}")
    print(f"machine: {meta.get('machine')}; {meta.get('cpu')}")
    print(f"data: {meta.get('rows', meta.get('sizes'))}; seeded in {meta.get('seed_seconds')} s")
    print(f"load: {meta.get('load')}; DATABASE_POOL_SIZE {meta.get('pool_size')}, DATABASE_WRITE_POOL_SIZE {meta.get('write_pool_size', 'server default')}")
    if meta.get("pg_session"):
        print(f"pgbench sessions, like the server's connections: PGOPTIONS='{meta.get('pg_session')}'")
    print(f"load average before/after: {meta.get('loadavg_before')} / {meta.get('loadavg_after')}")
    print(f"kernel autogroup scheduling: {meta.get('autogroup', 'not recorded')}")
    print()
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))
    if stalled:
        print()
        named = [s if n is None else f"{s} ({n:.0f} over 100 ms on the server's clock)"
                 for s, n in stalled.items()]
        print(f"! {', '.join(named)}: wrk's latencies add up to more than {connections} "
              "connections x the run's length. wrk 4.1 corrects for coordinated omission: for "
              "each request slower than twice the mean interval it adds the requests that "
              "connection would have sent meanwhile, so a few stalls of a second fill its tail. "
              "In brackets, the requests the server itself took over 100 ms for: the stalls it "
              "saw are real; those it did not see were outside its timing (its sockets, the "
              "kernel's run queues, wrk). On Linux the usual cause of many is autogroup "
              f"scheduling (this run: {meta.get('autogroup', 'not recorded')}; bench/lib.sh).")
    print()
    print("server ≤ 10 ms: the share of the run's requests that the server itself answered "
          "within 10 ms (its own histogram, monotonic clock, from reading the request to "
          "writing the response; p99 <= 10 ms exactly when it is at least 99 %). wrk's p99 "
          "adds the sockets, the kernel's queues and wrk itself.")
    print()
    print("scenarios; pgbench's own mean latency at the same clients; CPU during the wrk run "
          "(percent of all cores):")
    for s in scenarios:
        w, pg = results[s]
        extra = ""
        if pg and pg.get("latency_ms") is not None:
            extra += f"pgbench mean {pg['latency_ms']:.1f} ms"
        cpu = cpu_shares(out / f"cpu_{s}.txt")
        if cpu:
            extra += (("; " if extra else "") + f"CPU busy {100 * cpu['busy']:.0f} %: "
                      f"server {100 * cpu['server']:.0f}, postgres {100 * cpu['postgres']:.0f}, "
                      f"wrk {100 * cpu['wrk']:.0f}, other processes {100 * cpu['other']:.0f}")
        print(f"  {s:<16} {LABELS.get(s, s):<40} {extra}")
    print()
    rss_kb = meta.get("peak_rss_kb")
    rss_mb = int(rss_kb) / 1024 if rss_kb and rss_kb.isdigit() else None
    print(f"server peak RSS (VmHWM): {f'{rss_mb:.1f} MB' if rss_mb is not None else 'unknown'}")
    print(f"hot interview: {meta.get('hot_interview')}; after the run {meta.get('hot_after')}")
    print(f"popular interviews: {meta.get('popular')}; deep users: {meta.get('deep_users')}")
    print(f"counters: {meta.get('counters')}; {meta.get('duplicates')}")

    # The targets (issues 6 and 11).
    print()
    print("targets:")
    checks = []
    with_limit = [(s, w, pg) for s, (w, pg) in results.items()
                  if w and pg and pg.get("tps") and s not in REFERENCE]
    if with_limit:
        below = [f"{s} {100 * w['rps'] / pg['tps']:.0f} %" for s, w, pg in with_limit
                 if w["rps"] < 0.6 * pg["tps"]]
        checks.append(("every scenario >= 60 % of pgbench", not below,
                       "below: " + ", ".join(below) if below else "all at or above"))
    slow = [f"{s} {w['latency_us']['p99'] / 1000:.1f} ms" + (" (stalls, see !)" if s in stalled else "")
            for s, (w, _) in results.items()
            if w and s in READS and w["latency_us"]["p99"] > 10_000]
    checks.append(("p99 <= 10 ms for reads (wrk)", not slow, "over: " + ", ".join(slow) if slow else "all within"))
    server_slow = [f"{s} {100 * w['server_within_10ms']:.2f} % within 10 ms"
                   for s, (w, _) in results.items()
                   if w and s in READS and w.get("server_within_10ms") is not None
                   and w["server_within_10ms"] < 0.99]
    if any(w and w.get("server_within_10ms") is not None for w, _ in results.values()):
        checks.append(("p99 <= 10 ms for reads (the server's own)", not server_slow,
                       "over: " + ", ".join(server_slow) if server_slow else "all within"))
    first, deep = results.get("list_first", (None,))[0], results.get("list_deep", (None,))[0]
    if first and deep:
        diff = deep["rps"] / first["rps"] - 1
        checks.append(("deep page within 20 % of first page", abs(diff) <= 0.2,
                       f"deep {deep['rps']:,.0f} vs first {first['rps']:,.0f} req/s ({100 * diff:+.0f} %), "
                       f"p50 {deep['latency_us']['p50'] / 1000:.2f} vs {first['latency_us']['p50'] / 1000:.2f} ms"))
    hot = [(s, w) for s, (w, _) in results.items() if s in HOT and w]
    if hot:
        errs = sum(w["error_count"] for _, w in hot)
        exact = (meta.get("counters", "").startswith("0 of")
                 and meta.get("duplicates", "").startswith("0 "))
        checks.append(("hot interview: 0 errors, exact counters", errs == 0 and exact,
                       ", ".join(f"{s} {w['rps']:,.0f} req/s, {w['error_count']} errors" for s, w in hot)))
    if rss_mb is not None:
        checks.append(("peak RSS <= 50 MB", rss_mb <= 50, f"{rss_mb:.1f} MB"))
    for name, ok, detail in checks:
        print(f"  [{'met' if ok else 'NOT met'}] {name}: {detail}")


if __name__ == "__main__":
    main()
