-- The three favorite writes as server-side functions, so that each is one
-- round trip instead of five (BEGIN, lock, change, count, COMMIT) and the
-- interview's row lock is not held across client round trips (the measured
-- effect is in bench/README.md).
--
-- The protocol is the repository's (src/repo/favorites.rs), statement for
-- statement: lock the interview row first (which proves it exists), then
-- change the through table, then move favorites_count by the rows that
-- changed. Each statement of a VOLATILE plpgsql function takes a fresh
-- snapshot under READ COMMITTED, exactly like separate statements in a
-- client-driven transaction, so what a write sees after waiting for the lock
-- includes everything committed before it got the lock.
--
-- Every function returns no row when the interview does not exist, else one
-- row: the count after the write, when the user favorited it (NULL when they
-- do not), and whether a favorite row was inserted or deleted.

-- The protocol's first and last steps, shared by the three writes.

-- Locks the interview's row for the rest of the transaction (FOR NO KEY
-- UPDATE: favorite writes on one interview queue, foreign-key checks of
-- other inserts do not) and returns its favorites_count; NULL when the
-- interview does not exist.
CREATE FUNCTION favorite_lock_interview(p_interview_id bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    current_count bigint;
BEGIN
    SELECT i.favorites_count INTO current_count
    FROM interviews i WHERE i.id = p_interview_id FOR NO KEY UPDATE;
    RETURN current_count;
END
$$;

-- Moves the interview's favorites_count by p_delta; returns the new count.
CREATE FUNCTION favorite_move_count(p_interview_id bigint, p_delta bigint)
RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    new_count bigint;
BEGIN
    UPDATE interviews i SET favorites_count = i.favorites_count + p_delta
    WHERE i.id = p_interview_id
    RETURNING i.favorites_count INTO new_count;
    RETURN new_count;
END
$$;

CREATE FUNCTION favorite_add(p_user_id bigint, p_interview_id bigint, p_now timestamp,
    OUT favorites_count bigint, OUT favorited_at timestamp, OUT changed boolean)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    favorites_count := favorite_lock_interview(p_interview_id);
    IF favorites_count IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO favorite_interviews (user_id, interview_id, created_at)
    VALUES (p_user_id, p_interview_id, p_now)
    ON CONFLICT DO NOTHING;
    changed := FOUND;
    IF changed THEN
        favorites_count := favorite_move_count(p_interview_id, 1);
        favorited_at := p_now;
    ELSE
        SELECT f.created_at INTO favorited_at
        FROM favorite_interviews f
        WHERE f.user_id = p_user_id AND f.interview_id = p_interview_id;
    END IF;
    RETURN NEXT;
END
$$;

CREATE FUNCTION favorite_remove(p_user_id bigint, p_interview_id bigint,
    OUT favorites_count bigint, OUT favorited_at timestamp, OUT changed boolean)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    favorites_count := favorite_lock_interview(p_interview_id);
    IF favorites_count IS NULL THEN
        RETURN;
    END IF;
    DELETE FROM favorite_interviews f
    WHERE f.user_id = p_user_id AND f.interview_id = p_interview_id;
    changed := FOUND;
    IF changed THEN
        favorites_count := favorite_move_count(p_interview_id, -1);
    END IF;
    favorited_at := NULL;
    RETURN NEXT;
END
$$;

CREATE FUNCTION favorite_toggle(p_user_id bigint, p_interview_id bigint, p_now timestamp,
    OUT favorites_count bigint, OUT favorited_at timestamp, OUT changed boolean)
RETURNS SETOF record
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF favorite_lock_interview(p_interview_id) IS NULL THEN
        RETURN;
    END IF;
    DELETE FROM favorite_interviews f
    WHERE f.user_id = p_user_id AND f.interview_id = p_interview_id;
    IF FOUND THEN
        favorites_count := favorite_move_count(p_interview_id, -1);
        favorited_at := NULL;
    ELSE
        -- With the interview locked nobody else can insert this pair.
        INSERT INTO favorite_interviews (user_id, interview_id, created_at)
        VALUES (p_user_id, p_interview_id, p_now)
        ON CONFLICT DO NOTHING;
        favorites_count := favorite_move_count(p_interview_id, 1);
        favorited_at := p_now;
    END IF;
    changed := true;
    RETURN NEXT;
END
$$;
