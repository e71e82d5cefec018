#!/usr/bin/env bash
# Generates the TypeScript client (openapi-typescript + openapi-fetch) and the
# Python client (openapi-python-client) from the committed openapi/openapi.json,
# type-checks the TypeScript program, and runs both programs against a live
# server: create an interview, PUT a favorite, toggle it, list favorites and
# favorited-by, and check the answers. Generated code goes to the clients'
# git-ignored generated/ directories.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$CI_ROOT"

TS_DIR="$CI_ROOT/openapi/clients/typescript"
PY_DIR="$CI_ROOT/openapi/clients/python"

command -v node >/dev/null || ci_die "node is not installed"
command -v npm >/dev/null || ci_die "npm is not installed"

ci_log "typescript: npm ci, generate, type-check"
(
    cd "$TS_DIR"
    npm ci --no-audit --no-fund --loglevel=error
    rm -rf generated
    npm run --silent generate
    npm run --silent typecheck
) >&2

ci_log "python: generate"
ci_venv "$PY_DIR/.venv" "$PY_DIR/requirements.txt"
rm -rf "$PY_DIR/generated"
(cd "$PY_DIR" && .venv/bin/openapi-python-client generate \
    --path ../../openapi.json --meta none --output-path generated/favorites_client \
    --config generator.yaml --fail-on-warning) >&2

ci_start_server
export FAVORITES_BASE_URL="$CI_BASE_URL"
FAVORITES_TOKEN_ALICE="$(ci_token alice Alice)"
FAVORITES_TOKEN_BOB="$(ci_token bob Bob)"
export FAVORITES_TOKEN_ALICE FAVORITES_TOKEN_BOB

failed=()
ts_result="$(cd "$TS_DIR" && npx --no-install tsx smoke.ts)" || failed+=(typescript)
echo "$ts_result"
py_result="$("$PY_DIR/.venv/bin/python" "$PY_DIR/smoke.py")" || failed+=(python)
echo "$py_result"

if [[ ${#failed[@]} -ne 0 ]]; then
    echo "clients: FAILED: ${failed[*]}"
    exit 1
fi
echo "clients: passed: typescript and python clients generated from openapi/openapi.json, both programs green against $CI_BASE_URL"
