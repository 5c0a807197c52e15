//! Failed sign-ins, counted per user name and per client address: after `max_failures` within
//! `window` (counted from the latest failure), further attempts for that name or from that
//! address are refused until the window has passed — without checking the password, so a
//! guessing run learns nothing and costs no argon2 time.
//!
//! An attempt is counted *before* its password is checked ([`LoginLimiter::begin`] reserves
//! it, atomically per key) and given back only when it succeeds: checking first and counting
//! afterwards let 21 concurrent guesses with `max_failures = 5` all reach the slow hash.

use super::issue_limit::count_below;
use moka::ops::compute::Op;
use moka::sync::Cache;
use std::net::IpAddr;
use std::time::Duration;

pub struct LoginLimiter {
    /// Failures plus attempts in flight, per key.
    attempts: Cache<Key, u32>,
    max_failures: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    User(String),
    Address(IpAddr),
}

/// A reserved attempt: a failure unless [`LoginLimiter::succeeded`] says otherwise.
#[must_use = "an attempt counts as a failure unless it is reported a success"]
pub struct Attempt {
    user: String,
    address: Option<IpAddr>,
}

impl LoginLimiter {
    pub fn new(max_failures: u32, window: Duration, capacity: u64) -> Self {
        Self {
            attempts: Cache::builder()
                .max_capacity(capacity)
                .time_to_live(window)
                .build(),
            max_failures,
        }
    }

    fn keys(user: &str, address: Option<IpAddr>) -> impl Iterator<Item = Key> {
        std::iter::once(Key::User(user.to_string())).chain(address.map(Key::Address))
    }

    /// Reserves an attempt for `user` from `address`; `None` when either is at its limit
    /// (nothing is counted then). Each key is counted atomically ([`count_below`]), so no two
    /// concurrent attempts can both take the last place.
    pub fn begin(&self, user: &str, address: Option<IpAddr>) -> Option<Attempt> {
        let mut reserved = Vec::with_capacity(2);
        for key in Self::keys(user, address) {
            if !count_below(&self.attempts, key.clone(), self.max_failures) {
                reserved.iter().for_each(|key| self.give_back(key));
                return None;
            }
            reserved.push(key);
        }
        Some(Attempt {
            user: user.to_string(),
            address,
        })
    }

    /// A good sign-in: the name's count is cleared, and the address gets its reservation back
    /// (its failures stay: one good account must not reset a guessing run against others).
    pub fn succeeded(&self, attempt: Attempt) {
        self.attempts.invalidate(&Key::User(attempt.user));
        if let Some(address) = attempt.address {
            self.give_back(&Key::Address(address));
        }
    }

    /// A failed sign-in: the reservation stays counted.
    pub fn failed(&self, attempt: Attempt) {
        drop(attempt);
    }

    fn give_back(&self, key: &Key) {
        self.attempts.entry(key.clone()).and_compute_with(|entry| {
            match entry.map(|e| e.into_value()) {
                Some(count) if count > 1 => Op::Put(count - 1),
                Some(_) => Op::Remove,
                None => Op::Nop,
            }
        });
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
            limiter.failed(limiter.begin("alice", here).expect("allowed"));
        }
        assert!(limiter.begin("alice", here).is_none(), "the name is locked");
        assert!(limiter.begin("alice", there).is_none(), "from anywhere");
        assert!(
            limiter.begin("bob", here).is_none(),
            "and the address, for any name"
        );
        let bob = limiter.begin("bob", there).expect("elsewhere, bob may try");
        limiter.succeeded(bob);
        assert!(
            limiter.begin("alice", there).is_none(),
            "bob's success does not clear alice"
        );
    }

    #[test]
    fn concurrent_attempts_cannot_pass_the_limit() {
        let limiter = std::sync::Arc::new(LoginLimiter::new(5, Duration::from_secs(60), 1000));
        let address: Option<IpAddr> = Some("10.0.0.9".parse().unwrap());
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(21));
        let handles: Vec<_> = (0..21)
            .map(|_| {
                let (limiter, barrier) = (limiter.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    // Held across the (slow) password check in real use.
                    limiter.begin("alice", address).is_some()
                })
            })
            .collect();
        let admitted = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|&admitted| admitted)
            .count();
        assert_eq!(
            admitted, 5,
            "exactly max_failures attempts reach the password check"
        );
    }

    #[test]
    fn a_success_gives_its_reservation_back() {
        let limiter = LoginLimiter::new(2, Duration::from_secs(60), 1000);
        let here: Option<IpAddr> = Some("10.0.0.1".parse().unwrap());
        for _ in 0..5 {
            let attempt = limiter.begin("alice", here).expect("successes never lock");
            limiter.succeeded(attempt);
        }
        limiter.failed(limiter.begin("alice", here).unwrap());
        limiter.failed(limiter.begin("bob", here).unwrap());
        assert!(
            limiter.begin("carol", here).is_none(),
            "two failures lock the address"
        );
    }

    #[test]
    fn locks_lift_after_the_window() {
        let limiter = LoginLimiter::new(1, Duration::from_millis(50), 1000);
        limiter.failed(limiter.begin("alice", None).unwrap());
        assert!(limiter.begin("alice", None).is_none());
        std::thread::sleep(Duration::from_millis(120));
        assert!(limiter.begin("alice", None).is_some());
    }
}
