DROP FUNCTION favorite_toggle(bigint, bigint, timestamp);
DROP FUNCTION favorite_remove(bigint, bigint);
DROP FUNCTION favorite_add(bigint, bigint, timestamp);
