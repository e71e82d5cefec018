-- Same tables as migrations/postgres; INTEGER PRIMARY KEY is SQLite's 64-bit rowid.
CREATE TABLE users (
    id         INTEGER PRIMARY KEY,
    subject    TEXT NOT NULL UNIQUE CHECK (length(subject) BETWEEN 1 AND 255),
    name       TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 255),
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE interviews (
    id              INTEGER PRIMARY KEY,
    author_id       BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title           TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    company         TEXT NOT NULL DEFAULT '' CHECK (length(company) <= 100),
    position        TEXT NOT NULL DEFAULT '' CHECK (length(position) <= 100),
    body            TEXT NOT NULL DEFAULT '' CHECK (length(body) <= 20000),
    favorites_count BIGINT NOT NULL DEFAULT 0 CHECK (favorites_count >= 0),
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);
CREATE INDEX interviews_newest ON interviews (created_at, id);
CREATE INDEX interviews_by_author_newest ON interviews (author_id, created_at, id);

CREATE TABLE favorite_interviews (
    user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    interview_id BIGINT NOT NULL REFERENCES interviews (id) ON DELETE CASCADE,
    created_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, interview_id)
);
CREATE INDEX favorite_interviews_by_user_newest ON favorite_interviews (user_id, created_at, interview_id);
CREATE INDEX favorite_interviews_by_interview_newest ON favorite_interviews (interview_id, created_at, user_id);
