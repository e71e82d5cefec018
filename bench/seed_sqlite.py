#!/usr/bin/env python3
"""Seeds the benchmark dataset into a freshly migrated SQLite database: the
same shape as bench/seed_postgres.sql (see there), generated in Python.

usage: seed_sqlite.py DB --users N --interviews N --favorites N --tokens N --stride N --delete-pairs N
"""

import argparse
import random
import sqlite3
from datetime import datetime, timedelta

BODY = (
    "Four rounds: a phone screen, live coding on a shared editor, system design "
    "of a rate limiter, and a behavioural chat about a past incident. "
) * 12
TITLES = ["Backend engineer onsite", "Frontend take-home", "SRE phone screen",
          "Data engineer loop", "Mobile developer panel"]
COMPANIES = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries", "Wayne Enterprises"]
POSITIONS = ["Junior", "Mid-level", "Senior", "Staff", "Principal"]
FORMAT = "%Y-%m-%d %H:%M:%S.%f"


def stamp(base, seconds):
    return (base + timedelta(seconds=seconds)).strftime(FORMAT)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("db")
    for name in ("users", "interviews", "favorites", "tokens", "stride", "delete-pairs"):
        parser.add_argument("--" + name, type=int, required=True)
    args = parser.parse_args()
    rng = random.Random(5)
    n_users, n_interviews = args.users, args.interviews
    year = 365 * 86400

    db = sqlite3.connect(args.db)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = OFF")
    db.execute("PRAGMA foreign_keys = OFF")
    indexes = db.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        "AND tbl_name IN ('interviews', 'favorite_interviews')").fetchall()
    for name, _ in indexes:
        db.execute(f'DROP INDEX "{name}"')

    base = datetime(2023, 1, 1)
    db.executemany(
        "INSERT INTO users (id, subject, name, created_at) VALUES (?, ?, ?, ?)",
        ((g, f"bench-user-{g}", f"Bench User {g}", stamp(base, g * year / n_users + rng.random()))
         for g in range(1, n_users + 1)))

    base = datetime(2024, 1, 1)

    def interview(g):
        at = stamp(base, g * year / n_interviews + rng.random())
        return (g, 1 + int(n_users * rng.random() ** 2), f"{TITLES[g % 5]} #{g}", COMPANIES[g % 7],
                POSITIONS[g % 5], BODY[:200 + int(rng.random() * 1300)], at, at)

    db.executemany(
        "INSERT INTO interviews (id, author_id, title, company, position, body, favorites_count, "
        "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?)",
        (interview(g) for g in range(1, n_interviews + 1)))

    base = datetime(2025, 1, 1)
    insert = ("INSERT OR IGNORE INTO favorite_interviews (user_id, interview_id, created_at) "
              "VALUES (?, ?, ?)")
    token_users = [1 + args.stride * k for k in range(args.tokens)]
    db.executemany(insert, (
        (u, 1 + (u * 7919 + j * 104729) % n_interviews, stamp(base, rng.random() * year))
        for u in token_users for j in range(args.delete_pairs)))
    have = db.execute("SELECT count(*) FROM favorite_interviews").fetchone()[0]
    rounds = 0
    while have < args.favorites and rounds < 100:
        pairs = sorted({(1 + int(n_users * rng.random() ** 2), 1 + int(n_interviews * rng.random() ** 2.5))
                        for _ in range(args.favorites - have)})
        before = db.total_changes
        db.executemany(insert, ((u, i, stamp(base, rng.random() * year)) for u, i in pairs))
        have += db.total_changes - before
        rounds += 1
    for _, sql in indexes:
        db.execute(sql)
    db.execute(
        "UPDATE interviews SET favorites_count = "
        "(SELECT count(*) FROM favorite_interviews f WHERE f.interview_id = interviews.id)")
    db.commit()
    db.execute("ANALYZE")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    print(f"favorites: {have} rows in {rounds} rounds")


if __name__ == "__main__":
    main()
