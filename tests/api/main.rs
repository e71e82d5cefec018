//! Black-box tests of the favorites service: one binary, every test through
//! real HTTP against the real actix `App`, on SQLite and on PostgreSQL.

mod harness;

mod accounts;
mod auth;
mod browser;
mod cancellation;
mod cli;
mod cluster;
mod concurrency;
mod conditional;
mod durability;
mod errors;
mod explain;
mod favorites;
mod idempotency;
mod identity;
mod instances;
mod interviews;
mod openapi;
mod outage;
mod pagination;
mod pgcluster;
mod pipelining;
mod production;
mod prometheus;
mod ratelimit;
mod replicas;
mod shared_limits;
mod shutdown;
mod teams;
