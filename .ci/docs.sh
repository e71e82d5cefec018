#!/usr/bin/env bash
# Loads the interactive API documentation (GET /docs, the vendored Swagger UI)
# of a live server in headless Chromium and checks that Swagger UI really
# rendered the served document: the page's DOM must list every operation of
# openapi/openapi.json (by operation id) and show its paths. Chromium reaches
# nothing but the local server (background networking, sync and component
# updates off; every host name but 127.0.0.1 resolves to nothing), so this
# also shows the page works offline.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$CI_ROOT"

if ! command -v chromium >/dev/null; then
    ci_log "installing Debian's chromium"
    if [[ $(id -u) -eq 0 ]]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        sudo apt-get update -qq
        sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    fi
fi
ci_log "$(chromium --version 2>/dev/null | head -n 1)"

ci_start_server

PAGE="$CI_BASE_URL/docs"
DOM="$CI_TMP/docs-dom.html"
dump_dom() {
    timeout 120 chromium --headless --no-sandbox --disable-gpu \
        --disable-background-networking --disable-component-update --disable-sync \
        --disable-default-apps --disable-extensions --no-first-run --no-default-browser-check \
        --disable-dev-shm-usage --user-data-dir="$CI_TMP/chromium" \
        --host-resolver-rules="MAP * ~NOTFOUND, EXCLUDE 127.0.0.1" \
        --virtual-time-budget=10000 --dump-dom "$PAGE" >"$DOM" 2>"$CI_TMP/chromium.log"
}
# Swagger UI renders after fetching the document; one retry covers a slow start.
for attempt in 1 2; do
    if dump_dom && grep -q 'opblock' "$DOM"; then
        break
    fi
    ci_log "attempt $attempt: no rendered operations in the DOM yet"
    [[ $attempt -eq 2 ]] || sleep 2
done

# Every operation of the committed document, as Swagger UI renders it: an
# element with id `operations-<tag>-<operationId>`, and the path shown on it.
mapfile -t operations < <(python3 -c '
import json, sys
for path, item in json.load(open(sys.argv[1]))["paths"].items():
    for operation in item.values():
        print(operation.get("tags", ["default"])[0], operation["operationId"], path, sep="\t")
' openapi/openapi.json)
[[ ${#operations[@]} -gt 0 ]] || ci_die "no operations in openapi/openapi.json"

# Swagger UI breaks long paths with zero-width spaces (U+200B); drop them.
sed 's/\xe2\x80\x8b//g' "$DOM" >"$DOM.clean"
missing=()
for line in "${operations[@]}"; do
    IFS=$'\t' read -r tag operation_id path <<<"$line"
    grep -qF "id=\"operations-$tag-$operation_id\"" "$DOM.clean" || missing+=("$operation_id (operation)")
    grep -qF "data-path=\"$path\"" "$DOM.clean" || missing+=("$path (path)")
done
for expected in put_favorite '/api/v1/favorites/{interview_id}' 'swagger-ui'; do
    grep -qF "$expected" "$DOM.clean" || missing+=("$expected")
done

if [[ ${#missing[@]} -ne 0 ]]; then
    ci_log "the rendered page lacks: ${missing[*]}"
    ci_log "DOM: $(wc -c <"$DOM") bytes; chromium log tail:"
    tail -n 20 "$CI_TMP/chromium.log" >&2 || true
    echo "docs: FAILED: ${#missing[@]} of $((${#operations[@]} * 2 + 3)) expected items missing from the rendered /docs"
    exit 1
fi
echo "docs: passed: headless Chromium rendered /docs with all ${#operations[@]} operations of openapi/openapi.json ($(wc -c <"$DOM") bytes of DOM)"
