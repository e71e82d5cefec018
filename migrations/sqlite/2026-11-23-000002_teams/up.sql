-- Same tables as migrations/postgres (see the comments there).
CREATE TABLE teams (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_by    BIGINT NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    members_count BIGINT NOT NULL DEFAULT 0 CHECK (members_count >= 0),
    created_at    TIMESTAMP NOT NULL
);
CREATE INDEX teams_newest ON teams (created_at, id);

CREATE TABLE team_memberships (
    id          INTEGER PRIMARY KEY,
    team_id     BIGINT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id     BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    inviter_id  BIGINT REFERENCES users (id) ON DELETE SET NULL,
    joined_date DATE NOT NULL,
    reason      TEXT NOT NULL DEFAULT '' CHECK (length(reason) <= 64),
    created_at  TIMESTAMP NOT NULL,
    CONSTRAINT team_memberships_team_user UNIQUE (team_id, user_id)
);
CREATE INDEX team_memberships_by_team ON team_memberships (team_id, created_at, id);
CREATE INDEX team_memberships_by_user ON team_memberships (user_id, created_at, id);
CREATE INDEX team_memberships_by_inviter ON team_memberships (inviter_id, created_at, id);
