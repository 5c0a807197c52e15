//! How many anonymous device tokens one client address may be given: minting needs no
//! credential and each token is kept for `device_ttl`, so without a bound a single client could
//! fill the store (300 tokens in 0.3 s, each kept 30 days). Counted per address in a window that
//! restarts with each token issued; past the limit the client gets 429 until the window has
//! passed without one.

use moka::ops::compute::{CompResult, Op};
use moka::sync::Cache;
use std::net::IpAddr;
use std::time::Duration;

pub struct IssueLimiter {
    issued: Cache<IpAddr, u32>,
    max_per_address: u32,
    window: Duration,
}

impl IssueLimiter {
    /// `max_per_address` tokens per address within `window`; memory is bounded by `capacity`
    /// addresses (the least recently seen are forgotten first).
    pub fn new(max_per_address: u32, window: Duration, capacity: u64) -> Self {
        Self {
            issued: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(window)
                .build(),
            max_per_address,
            window,
        }
    }

    /// Counts one token for `address`; `false` (nothing counted) when it is at its limit.
    /// Requests without an address (Unix sockets) are the operator's own and not limited.
    pub fn admit(&self, address: Option<IpAddr>) -> bool {
        let Some(address) = address else {
            return true;
        };
        count_below(&self.issued, address, self.max_per_address)
    }

    /// How long a limited client should wait.
    pub fn window(&self) -> Duration {
        self.window
    }
}

/// Adds one to `key`'s count unless that would pass `max`; whether it did. Atomic per key
/// (moka's `and_compute_with` runs one computation per key at a time), so concurrent callers
/// can never both take the last place. Shared with the sign-in limiter.
pub(super) fn count_below<K>(counts: &Cache<K, u32>, key: K, max: u32) -> bool
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
{
    let result =
        counts
            .entry(key)
            .and_compute_with(|entry| match entry.map_or(0, |e| e.into_value()) {
                count if count < max => Op::Put(count + 1),
                _ => Op::Nop,
            });
    !matches!(result, CompResult::Unchanged(_))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_gets_its_share_and_no_more() {
        let limiter = IssueLimiter::new(3, Duration::from_secs(60), 100);
        let a: Option<IpAddr> = Some("10.0.0.1".parse().unwrap());
        let b: Option<IpAddr> = Some("10.0.0.2".parse().unwrap());
        assert_eq!((0..5).filter(|_| limiter.admit(a)).count(), 3);
        assert!(limiter.admit(b), "another address has its own count");
        assert!(limiter.admit(None), "no address, no limit");
    }

    #[test]
    fn the_limit_lifts_after_the_window() {
        let limiter = IssueLimiter::new(1, Duration::from_millis(50), 100);
        let a: Option<IpAddr> = Some("10.0.0.1".parse().unwrap());
        assert!(limiter.admit(a));
        assert!(!limiter.admit(a));
        std::thread::sleep(Duration::from_millis(120));
        assert!(limiter.admit(a));
    }
}
