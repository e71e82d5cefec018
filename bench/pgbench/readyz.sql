-- GET /readyz (a reference row): the one statement the handler sends.
-- The server sends it with the simple protocol (batch_execute); this runs
-- it prepared, like every other script.
SELECT 1;
