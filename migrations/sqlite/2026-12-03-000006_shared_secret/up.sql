-- Nothing to do on SQLite: its generated secret stays a file beside the
-- database (one machine), as before. Kept so that both backends' migrations
-- have the same names.
SELECT 1;
