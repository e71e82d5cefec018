#!/usr/bin/env bash
# Fuzzes a live server with schemathesis against the committed OpenAPI
# document: every check on, a valid bearer token, all phases (examples,
# coverage, fuzzing, stateful via links inferred from Location headers).
# Fails on any server error, schema violation or other check failure.
#
#   FUZZ_MAX_EXAMPLES  test cases per operation and phase (default 200: some
#                      4,500 requests in two and a half minutes)
#   FUZZ_WORKERS       concurrent schemathesis workers (default 1: with a fixed
#                      seed that makes runs repeatable, and it steers clear of a
#                      CPython 3.11 thread-safety bug in ast.parse that several
#                      workers can trip inside schemathesis/hypothesis)
#   FUZZ_SEED          the seed (default 20261123, so CI runs are repeatable;
#                      `random` picks a new one, printed, to explore further)
#   FUZZ_REPORT_DIR    keep schemathesis' JUnit and NDJSON reports here
#
# Every request goes to 127.0.0.1 only: --url pins the base URL, redirects are
# not followed, and openapi/fuzz/hooks.py stops the run if any request would
# go elsewhere. Settings: openapi/fuzz/schemathesis.toml; pinned versions:
# openapi/fuzz/requirements.txt.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$CI_ROOT"

MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-200}"
WORKERS="${FUZZ_WORKERS:-1}"
SEED="${FUZZ_SEED:-20261123}"
if [[ "$SEED" == random ]]; then
    SEED=$((RANDOM * 32768 + RANDOM))
fi
DOCUMENT="$CI_ROOT/openapi/openapi.json"
VENV="$CI_ROOT/openapi/fuzz/.venv"

ci_venv "$VENV" "$CI_ROOT/openapi/fuzz/requirements.txt"
ci_start_server

# The server must serve exactly the committed document being fuzzed.
ci_http_get "$CI_BASE_URL/api/v1/openapi.json" "$CI_TMP/served.json"
if ! python3 -c 'import json, sys; sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))' \
    "$DOCUMENT" "$CI_TMP/served.json"; then
    ci_die "the served document differs from $DOCUMENT; regenerate it with \`cargo run -q -- openapi > openapi/openapi.json\`"
fi

TOKEN="$(ci_token fuzzer "Fuzzer")"
REPORT_DIR="${FUZZ_REPORT_DIR:-$CI_TMP/report}"
mkdir -p "$REPORT_DIR"

ci_log "schemathesis $("$VENV/bin/schemathesis" --version | awk '{print $NF}') against $CI_BASE_URL, seed $SEED, max examples $MAX_EXAMPLES"
before="$(ci_requests_logged)"
started=$(date +%s)
status=0
# Run from the temporary directory: schemathesis keeps a cache in ./.schemathesis.
(cd "$CI_TMP" && NO_COLOR=1 SCHEMATHESIS_HOOKS="$CI_ROOT/openapi/fuzz/hooks.py" \
    "$VENV/bin/schemathesis" --config-file "$CI_ROOT/openapi/fuzz/schemathesis.toml" \
    run "$DOCUMENT" \
    --url "$CI_BASE_URL" \
    --header "Authorization: Bearer $TOKEN" \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "$MAX_EXAMPLES" \
    --seed "$SEED" \
    --workers "$WORKERS" \
    --max-redirects 0 \
    --request-timeout 10 \
    --generation-database none \
    --suppress-health-check too_slow,filter_too_much \
    --report junit,ndjson \
    --report-dir "$REPORT_DIR" \
    --no-color) \
    || status=$?
elapsed=$(($(date +%s) - started))

requests=$(($(ci_requests_logged) - before))
errors="$(ci_server_errors_logged)"
if [[ "$errors" != 0 ]]; then
    ci_log "the server answered $errors requests with 5xx:"
    grep '"message":"request"' "$CI_TMP/server.log" | grep '"status":5[0-9][0-9]' | head -n 20 >&2 || true
    [[ $status -ne 0 ]] || status=1
fi
result=passed
[[ $status -eq 0 ]] || result=FAILED
echo "fuzz: $result: schemathesis sent $requests requests in ${elapsed}s (seed $SEED, max examples $MAX_EXAMPLES), server errors: $errors"
exit "$status"
