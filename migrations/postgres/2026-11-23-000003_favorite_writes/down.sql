DROP FUNCTION favorite_toggle(bigint, bigint, timestamp);
DROP FUNCTION favorite_remove(bigint, bigint);
DROP FUNCTION favorite_add(bigint, bigint, timestamp);
DROP FUNCTION favorite_move_count(bigint, bigint);
DROP FUNCTION favorite_lock_interview(bigint);
