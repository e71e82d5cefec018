-- Accounts can be deleted (DELETE /api/v1/me). A team outlives its creator:
-- `created_by` becomes NULL instead of blocking the deletion (it was
-- RESTRICT), and an index on it lets that SET NULL find the creator's teams
-- without a scan. The other columns that point at users already have one
-- (a primary key or a list index starting with the column).
ALTER TABLE teams ALTER COLUMN created_by DROP NOT NULL;
ALTER TABLE teams DROP CONSTRAINT teams_created_by_fkey;
ALTER TABLE teams ADD CONSTRAINT teams_created_by_fkey
    FOREIGN KEY (created_by) REFERENCES users (id) ON DELETE SET NULL;
CREATE INDEX teams_by_creator ON teams (created_by);
