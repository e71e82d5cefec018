DROP TABLE favorite_interviews;
DROP TABLE interviews;
DROP TABLE users;
