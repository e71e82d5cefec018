# Shared by .ci/fuzz.sh, .ci/clients.sh and .ci/docs.sh (sourced, not run):
# build or reuse the release binary, start a throwaway server on SQLite in a
# temporary directory on a free loopback port, mint bearer tokens, and stop
# the server and remove its directory when the calling script exits.
#
# Everything here talks to 127.0.0.1 only.

CI_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The only host these scripts ever send a request to.
CI_HOST=127.0.0.1

# Loopback traffic must never go through a proxy from the environment.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY
export no_proxy="127.0.0.1,localhost" NO_PROXY="127.0.0.1,localhost"

CI_SERVER_PID=""
CI_TMP=""

ci_log() { printf '[%s] %s\n' "$(basename "$0")" "$*" >&2; }

ci_die() {
    ci_log "error: $*"
    exit 1
}

ci_cleanup() {
    local status=$?
    set +e
    if [[ -n "$CI_SERVER_PID" ]] && kill -0 "$CI_SERVER_PID" 2>/dev/null; then
        kill "$CI_SERVER_PID" 2>/dev/null
        for _ in $(seq 1 50); do
            kill -0 "$CI_SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$CI_SERVER_PID" 2>/dev/null
        wait "$CI_SERVER_PID" 2>/dev/null
    fi
    if [[ $status -ne 0 && -n "$CI_TMP" && -s "$CI_TMP/server.log" ]]; then
        ci_log "last lines of the server log:"
        tail -n 20 "$CI_TMP/server.log" >&2
    fi
    if [[ -n "$CI_TMP" && -d "$CI_TMP" ]]; then
        rm -rf "$CI_TMP"
    fi
    exit "$status"
}
trap ci_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The server binary: $FAVORITES_BIN if set, else the release build (cargo
# rebuilds it only when sources changed).
ci_binary() {
    if [[ -n "${FAVORITES_BIN:-}" ]]; then
        CI_BIN="$FAVORITES_BIN"
    else
        ci_log "cargo build --release (reused when up to date)"
        (cd "$CI_ROOT" && cargo build --release --quiet)
        CI_BIN="$CI_ROOT/target/release/favorites"
    fi
    [[ -x "$CI_BIN" ]] || ci_die "no server binary at $CI_BIN"
}

# GET $1 (a URL on 127.0.0.1) quietly; the body goes to $2 if given. Fails
# unless the answer is 2xx. (Python's standard library, so neither curl nor
# jq is needed on the machine.)
ci_http_get() {
    python3 - "$1" "${2:-/dev/null}" <<'PY'
import sys, urllib.parse, urllib.request
url, out = sys.argv[1], sys.argv[2]
if urllib.parse.urlsplit(url).hostname != "127.0.0.1":
    sys.exit(f"refusing to request {url}: only 127.0.0.1 is a target")
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
try:
    with opener.open(url, timeout=5) as response:
        body = response.read()
except Exception:
    sys.exit(1)
with open(out, "wb") as f:
    f.write(body)
PY
}

# A TCP port on 127.0.0.1 that nothing listens on right now.
ci_free_port() {
    python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

# Starts the server; sets CI_TMP, CI_PORT, CI_BASE_URL, CI_SERVER_PID and
# exports CI_JWT_SECRET and CI_DATABASE_URL for ci_token.
ci_start_server() {
    ci_binary
    CI_TMP="$(mktemp -d "${TMPDIR:-/tmp}/favorites-ci.XXXXXX")"
    CI_JWT_SECRET="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
    CI_DATABASE_URL="$CI_TMP/favorites.db"
    export CI_JWT_SECRET CI_DATABASE_URL
    local attempt
    for attempt in 1 2 3; do
        CI_PORT="$(ci_free_port)"
        CI_BASE_URL="http://$CI_HOST:$CI_PORT"
        env -u CORS_ALLOWED_ORIGINS -u JWT_PUBLIC_KEY_FILE -u JWT_JWKS_FILE \
            -u JWT_ISSUER -u JWT_AUDIENCE -u RATE_LIMIT_PER_IP -u RATE_LIMIT_PER_USER \
            DATABASE_URL="$CI_DATABASE_URL" BIND="$CI_HOST:$CI_PORT" \
            JWT_SECRET="$CI_JWT_SECRET" LOG_FORMAT=json RUST_LOG=info \
            "$CI_BIN" serve >"$CI_TMP/server.out" 2>>"$CI_TMP/server.log" &
        CI_SERVER_PID=$!
        for _ in $(seq 1 100); do
            if ci_http_get "$CI_BASE_URL/readyz" 2>/dev/null; then
                ci_log "server pid $CI_SERVER_PID at $CI_BASE_URL (data in $CI_TMP)"
                return 0
            fi
            kill -0 "$CI_SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill "$CI_SERVER_PID" 2>/dev/null || true
        wait "$CI_SERVER_PID" 2>/dev/null || true
        CI_SERVER_PID=""
        ci_log "the server did not come up on port $CI_PORT (attempt $attempt)"
    done
    ci_die "could not start the server; log: $(tail -n 5 "$CI_TMP/server.log" 2>/dev/null)"
}

# Prints a bearer token for subject $1 (display name $2, default the subject).
ci_token() {
    local sub="$1" name="${2:-$1}"
    DATABASE_URL="$CI_DATABASE_URL" JWT_SECRET="$CI_JWT_SECRET" \
        "$CI_BIN" token --sub "$sub" --name "$name" --ttl 7200
}

# How many requests the server has answered, and how many of those were 5xx
# (it logs one `request` line with a `status` per request).
ci_requests_logged() {
    grep -c '"message":"request"' "$CI_TMP/server.log" || true
}
ci_server_errors_logged() {
    grep '"message":"request"' "$CI_TMP/server.log" | grep -c '"status":5[0-9][0-9]' || true
}

# A Python virtualenv at $1 with the packages of requirements file $2,
# reinstalled only when the requirements file changed.
ci_venv() {
    local venv="$1" requirements="$2"
    local stamp="$venv/.requirements.sha256"
    local want
    want="$(sha256sum "$requirements" | cut -d' ' -f1)"
    if [[ ! -x "$venv/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
        ci_log "installing $requirements into $venv"
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
        echo "$want" >"$stamp"
    fi
}
