//! What a rate limit decided about one request, and the one place that
//! turns a request's decisions into the `RateLimit-Policy` and `RateLimit`
//! fields of draft-ietf-httpapi-ratelimit-headers-09, whatever limiter
//! made them.

use std::time::Duration;

use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// The settings count requests a minute.
pub const WINDOW: Duration = Duration::from_secs(60);

/// What one limit decided about one request: the draft's quota policy
/// (`q`, `w`) and service limit (`r`, `t`), and whether it refused.
#[derive(Debug, Clone)]
pub struct Decision {
    /// The policy's name in both fields (`per-ip`, `per-user`).
    pub policy: &'static str,
    /// `q`: requests allowed in a window, all at once if need be.
    pub quota: u32,
    /// `w`: the window the quota is allocated for.
    pub window: Duration,
    /// `r`: requests left after this one; 0 when it was refused.
    pub remaining: u32,
    /// `t`: until the whole quota is available again.
    pub reset: Duration,
    /// `Some(wait)` when the request was refused: how long until one more
    /// request would be accepted (`Retry-After`).
    pub retry_after: Option<Duration>,
}

/// Writes `RateLimit-Policy` and `RateLimit` for `decisions`, in their
/// order, replacing any already there; nothing when no limit applied.
/// Durations are whole seconds, rounded up.
pub fn render(decisions: &[Decision], headers: &mut HeaderMap) {
    if decisions.is_empty() {
        return;
    }
    let list = |item: fn(&Decision) -> String| {
        let items: Vec<String> = decisions.iter().map(item).collect();
        HeaderValue::try_from(items.join(", "))
    };
    let policies = list(|d| {
        format!(
            "\"{}\";q={};w={}",
            d.policy,
            d.quota,
            whole_seconds(d.window)
        )
    });
    let limits = list(|d| {
        format!(
            "\"{}\";r={};t={}",
            d.policy,
            d.remaining,
            whole_seconds(d.reset)
        )
    });
    // Policy names are constants and numbers are digits: always valid.
    if let (Ok(policies), Ok(limits)) = (policies, limits) {
        headers.insert(RATELIMIT_POLICY, policies);
        headers.insert(RATELIMIT, limits);
    }
}

/// Seconds, rounded up: a client that waits this long has waited enough.
pub fn whole_seconds(duration: Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision(policy: &'static str, remaining: u32, reset: Duration) -> Decision {
        Decision {
            policy,
            quota: 100,
            window: WINDOW,
            remaining,
            reset,
            retry_after: None,
        }
    }

    #[test]
    fn render_gives_one_item_per_decision_in_seconds_rounded_up() {
        let mut headers = HeaderMap::new();
        let decisions = [
            decision("per-ip", 99, Duration::from_millis(600)),
            decision("per-user", 0, Duration::from_millis(60_001)),
        ];
        render(&decisions, &mut headers);
        assert_eq!(
            headers.get(RATELIMIT_POLICY).unwrap(),
            r#""per-ip";q=100;w=60, "per-user";q=100;w=60"#
        );
        assert_eq!(
            headers.get(RATELIMIT).unwrap(),
            r#""per-ip";r=99;t=1, "per-user";r=0;t=61"#
        );
    }

    #[test]
    fn render_without_decisions_writes_nothing() {
        let mut headers = HeaderMap::new();
        render(&[], &mut headers);
        assert!(headers.is_empty());
    }
}
