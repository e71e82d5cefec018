-- Idempotency-Key (POST /interviews, POST /teams): one row per caller and
-- key. While `status` is NULL the first request is still running (its
-- `claim` token tells it from a later taker-over); then the row holds the
-- response to replay. Rows older than 24 hours are purged by keyed requests.
CREATE TABLE idempotency_keys (
    user_id         BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    idempotency_key TEXT NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    fingerprint     TEXT NOT NULL,
    claim           TEXT NOT NULL,
    claimed_at      TIMESTAMP NOT NULL,
    status          INTEGER,
    location        TEXT,
    body            TEXT,
    created_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (user_id, idempotency_key)
);

CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
