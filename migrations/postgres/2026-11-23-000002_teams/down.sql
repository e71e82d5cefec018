DROP TABLE team_memberships;
DROP TABLE teams;
