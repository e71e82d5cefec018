-- Same change to `teams` as migrations/postgres (see the comment there),
-- and one PostgreSQL has already: ids are never used twice. A plain
-- INTEGER PRIMARY KEY takes the largest rowid + 1, so a new account (or
-- interview, or team) could get the id of one just deleted, and anything
-- still holding that id (a link, another instance's cache) would reach the
-- wrong row; AUTOINCREMENT never hands an id out again.
--
-- SQLite changes a column only by rebuilding its table: new table, copy,
-- drop, rename, indexes. Other tables refer to these by name, and so point
-- at the rebuilt ones.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

CREATE TABLE users_rebuilt (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    subject    TEXT NOT NULL UNIQUE CHECK (length(subject) BETWEEN 1 AND 255),
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    created_at TIMESTAMP NOT NULL
);
INSERT INTO users_rebuilt (id, subject, name, created_at)
    SELECT id, subject, name, created_at FROM users;
DROP TABLE users;
ALTER TABLE users_rebuilt RENAME TO users;

CREATE TABLE interviews_rebuilt (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    author_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title           TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    company         TEXT NOT NULL DEFAULT '' CHECK (length(company) <= 100),
    position        TEXT NOT NULL DEFAULT '' CHECK (length(position) <= 100),
    body            TEXT NOT NULL DEFAULT '' CHECK (length(body) <= 20000),
    favorites_count BIGINT NOT NULL DEFAULT 0 CHECK (favorites_count >= 0),
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);
INSERT INTO interviews_rebuilt
    (id, author_id, title, company, position, body, favorites_count, created_at, updated_at)
    SELECT id, author_id, title, company, position, body, favorites_count, created_at, updated_at
    FROM interviews;
DROP TABLE interviews;
ALTER TABLE interviews_rebuilt RENAME TO interviews;
CREATE INDEX interviews_newest ON interviews (created_at, id);
CREATE INDEX interviews_by_author_newest ON interviews (author_id, created_at, id);

CREATE TABLE teams_rebuilt (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_by    BIGINT REFERENCES users (id) ON DELETE SET NULL,
    members_count BIGINT NOT NULL DEFAULT 0 CHECK (members_count >= 0),
    created_at    TIMESTAMP NOT NULL
);
INSERT INTO teams_rebuilt (id, name, created_by, members_count, created_at)
    SELECT id, name, created_by, members_count, created_at FROM teams;
DROP TABLE teams;
ALTER TABLE teams_rebuilt RENAME TO teams;
CREATE INDEX teams_newest ON teams (created_at, id);
CREATE INDEX teams_by_creator ON teams (created_by);

COMMIT;
PRAGMA foreign_keys = ON;
