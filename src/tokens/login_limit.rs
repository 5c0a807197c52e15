//! Failed sign-ins, counted per user name and per client address: after `max_failures` within
//! `window` (counted from the latest failure), further attempts for that name or from that
//! address are refused until the window has passed — without checking the password, so a
//! guessing run learns nothing and costs no argon2 time.

use moka::sync::Cache;
use std::net::IpAddr;
use std::time::Duration;

pub struct LoginLimiter {
    failures: Cache<Key, u32>,
    max_failures: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Address(IpAddr),
}

impl LoginLimiter {
    pub fn new(max_failures: u32, window: Duration, capacity: u64) -> Self {
        Self {
            failures: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(window)
                .build(),
            max_failures,
        }
    }

    fn keys(user: &str, address: Option<IpAddr>) -> impl Iterator<Item = Key> {
        std::iter::once(Key::User(user.to_string())).chain(address.map(Key::Address))
    }

    /// Whether an attempt for `user` from `address` may be checked at all.
    pub fn allows(&self, user: &str, address: Option<IpAddr>) -> bool {
        Self::keys(user, address)
            .all(|key| self.failures.get(&key).unwrap_or(0) < self.max_failures)
    }

    pub fn record_failure(&self, user: &str, address: Option<IpAddr>) {
        for key in Self::keys(user, address) {
            self.failures
                .entry(key)
                .and_upsert_with(|count| count.map_or(1, |c| c.into_value().saturating_add(1)));
        }
    }

    /// A good sign-in clears the name's count (the address keeps its own: one good account
    /// must not reset a guessing run against others).
    pub fn record_success(&self, user: &str) {
        self.failures.invalidate(&Key::User(user.to_string()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_addresses_lock_after_too_many_failures() {
        let limiter = LoginLimiter::new(3, Duration::from_secs(60), 1000);
        let here: Option<IpAddr> = Some("10.0.0.1".parse().unwrap());
        let there: Option<IpAddr> = Some("10.0.0.2".parse().unwrap());
        for _ in 0..3 {
            assert!(limiter.allows("alice", here));
            limiter.record_failure("alice", here);
        }
        assert!(!limiter.allows("alice", here), "the name is locked");
        assert!(!limiter.allows("alice", there), "from anywhere");
        assert!(
            !limiter.allows("bob", here),
            "and the address, for any name"
        );
        assert!(limiter.allows("bob", there));
        limiter.record_success("alice");
        assert!(
            limiter.allows("alice", there),
            "a good sign-in clears the name"
        );
        assert!(!limiter.allows("alice", here), "not the address");
    }

    #[test]
    fn locks_lift_after_the_window() {
        let limiter = LoginLimiter::new(1, Duration::from_millis(50), 1000);
        limiter.record_failure("alice", None);
        assert!(!limiter.allows("alice", None));
        std::thread::sleep(Duration::from_millis(120));
        assert!(limiter.allows("alice", None));
    }
}
