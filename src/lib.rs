//! favorites: a JSON REST API over two many-to-many relations in through
//! tables, on SQLite (embedded default) or PostgreSQL. `ARCHITECTURE.md`
//! describes the floors, from `startup`/`router` down to `db`.

pub mod api;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod http;
pub mod metrics;
pub mod openapi;
pub mod policy;
pub mod repo;
pub mod router;
pub mod startup;
pub mod state;
