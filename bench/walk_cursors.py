#!/usr/bin/env python3
"""Walks each given user's favorites through the real API until `rows` rows
deep and prints "token next_cursor" for the page that starts there, which is
what the list_deep scenario requests.

usage: walk_cursors.py BASE_URL ROWS < "user_id token" lines > deep.txt
"""

import json
import sys
import urllib.request

PAGE = 100


def page(base, token, limit, cursor):
    url = f"{base}/api/v1/favorites?limit={limit}"
    if cursor:
        url += f"&cursor={cursor}"
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def main():
    base, rows = sys.argv[1], int(sys.argv[2])
    for line in sys.stdin:
        if not line.strip():
            continue
        user_id, token = line.split()
        cursor, walked = None, 0
        while walked < rows:
            limit = min(PAGE, rows - walked)
            body = page(base, token, limit, cursor)
            walked += len(body["items"])
            cursor = body["next_cursor"]
            if cursor is None:
                sys.exit(f"user {user_id} has only {walked} favorites, fewer than {rows}")
        print(f"{token} {cursor}")


if __name__ == "__main__":
    main()
