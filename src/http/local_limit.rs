//! The limits counted in this process: governor's keyed GCRA.

use std::hash::Hash;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use super::decision::{Decision, WINDOW};

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

/// `quota` requests a [`WINDOW`] per key, with bursts of as many: governor's
/// GCRA, where one request's worth comes back every `WINDOW / quota`.
pub struct Gcra<K: Hash + Eq + Clone> {
    limiter: Keyed<K>,
    quota: u32,
    interval: Duration,
}

impl<K: Hash + Eq + Clone> Gcra<K> {
    pub fn new(quota: NonZeroU32) -> Gcra<K> {
        let quota = Quota::per_minute(quota);
        Gcra {
            limiter: RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
            quota: quota.burst_size().get(),
            interval: quota.replenish_interval(),
        }
    }

    /// Counts one request of `key` against `policy`.
    ///
    /// `r` is governor's remaining burst capacity after this request. `t`
    /// is the draft's "seconds until the quota … resets", which for GCRA
    /// means until the quota is fully restored (`q` requests available
    /// again), not until the next request's worth comes back: whoever
    /// spends at most `r` before `t` is not refused, and has `q` at `t`.
    /// An accepted request's state tells `r` but not how far into an
    /// interval the bucket is, so `t` is then the latest moment the missing
    /// `q - r` are back, `(q - r) · w/q`: never early, at most one interval
    /// late (exact when `q` is 60). A refusal tells the wait for the next
    /// request exactly (`Retry-After`), and the other `q - 1` follow one
    /// interval apart; so a 429's `t` is later than its `Retry-After`
    /// (unless `q` is 1), which the draft lets take precedence (section 7).
    pub fn check(&self, policy: &'static str, key: &K) -> Decision {
        let (remaining, reset, retry_after) = match self.limiter.check_key(key) {
            Ok(state) => {
                let remaining = state.remaining_burst_capacity();
                (remaining, self.interval * (self.quota - remaining), None)
            }
            Err(refusal) => {
                let wait = refusal.wait_time_from(self.limiter.clock().now());
                let retry_after = wait.max(Duration::from_secs(1));
                let reset = (wait + self.interval * (self.quota - 1)).max(retry_after);
                (0, reset, Some(retry_after))
            }
        };
        Decision {
            policy,
            quota: self.quota,
            window: WINDOW,
            remaining,
            reset,
            retry_after,
        }
    }
}
