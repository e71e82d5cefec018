-- Fails while a team has no creator: decide those teams' fate first.
DROP INDEX teams_by_creator;
ALTER TABLE teams DROP CONSTRAINT teams_created_by_fkey;
ALTER TABLE teams ADD CONSTRAINT teams_created_by_fkey
    FOREIGN KEY (created_by) REFERENCES users (id) ON DELETE RESTRICT;
ALTER TABLE teams ALTER COLUMN created_by SET NOT NULL;
