"""Seeds a favorites API through HTTP, as a client would: each user's first
request creates it, then every user writes interviews, then random users
favorite random interviews until the target count is reached.

  python3 bench/seed_api.py BASE_URL TOKENS_FILE INTERVIEWS FAVORITES

TOKENS_FILE has one token per line (user k+1 is line k+1; the users are
created in that order, so user ids are 1..N on a fresh database). Interviews
are created in order too (ids 1..INTERVIEWS), round-robin over the users.
Standard library only; 16 concurrent connections.
"""

import http.client
import json
import random
import sys
import threading
import urllib.parse


def main():
    base, tokens_file, interviews, favorites = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    url = urllib.parse.urlsplit(base)
    tokens = [line.strip() for line in open(tokens_file) if line.strip()]
    local = threading.local()

    def call(method, path, token, body=None):
        if not hasattr(local, "conn"):
            local.conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
        headers = {"Authorization": "Bearer " + token}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        local.conn.request(method, path, body=data, headers=headers)
        response = local.conn.getresponse()
        payload = response.read()
        if response.status >= 300:
            raise SystemExit(f"{method} {path}: {response.status} {payload[:200]!r}")
        return payload

    # Users in order (ids 1..N), then interviews in order (ids 1..INTERVIEWS).
    for token in tokens:
        call("GET", "/api/v1/me", token)
    for i in range(interviews):
        body = {
            "title": f"Interview {i + 1}",
            "company": "Company",
            "position": "Engineer",
            "body": "x" * (200 + (i * 7919) % 1300),
        }
        call("POST", "/api/v1/interviews", tokens[i % len(tokens)], body)

    rng = random.Random(42)
    pairs = set()
    while len(pairs) < favorites:
        pairs.add((rng.randrange(len(tokens)), rng.randrange(1, interviews + 1)))
    work = sorted(pairs)
    rng.shuffle(work)
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                if not work:
                    return
                user, interview = work.pop()
            call("PUT", f"/api/v1/favorites/{interview}", tokens[user])

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


if __name__ == "__main__":
    main()
