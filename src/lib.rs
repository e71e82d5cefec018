//! favorites: a JSON REST API over two many-to-many relations in through
//! tables, on SQLite (embedded default) or PostgreSQL.

pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod http;
pub mod metrics;
pub mod openapi;
pub mod ratelimit;
pub mod repo;

pub use app::{AppState, build_app};
