//! HTTP plumbing below the handlers: request bodies, conditional requests,
//! the request context (ids, logs, in-flight gauge), rate limits, and the
//! answers for requests no handler took. Knows no route and no handler.

pub mod body;
pub mod conditional;
pub mod context;
pub mod decision;
pub mod fallback;
pub mod local_limit;
pub mod ratelimit;
pub mod shared_limit;
