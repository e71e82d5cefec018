//! Black-box tests of the favorites service: one binary, every test through
//! real HTTP against the real actix `App`, on SQLite and on PostgreSQL.

mod harness;

mod browser;
mod concurrency;
mod favorites;
mod identity;
mod openapi;
mod outage;
mod production;
mod shutdown;
mod teams;
