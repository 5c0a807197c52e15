//! A per-thread copy of the verifications a thread has used, in front of the shared cache.
//!
//! A hit in the shared `moka` cache costs more than its lookup: an epoch pin, reference counts
//! taken and dropped, the read logged into a channel for the eviction policy and, now and then,
//! that log replayed — atomic instructions, each a locked bus operation, a third of a cached
//! request's own time in Portcullis (`bench/profile.sh`). A thread asking again for a token it
//! has just used finds it here with a plain lookup instead.
//!
//! What stays true: entries are the shared cache's (a miss here goes there, never straight to
//! a verification), keyed by the same SHA-256, and never used past the shared cache's own
//! limit (`until`, the time of verification plus `max_ttl`); the token's `exp` and `nbf` are
//! checked by the caller on every request, hit or miss. A snapshot's verifier owns the copies
//! its threads make: the first lookup for another verifier (after a reload) empties them, so
//! a verification a reload invalidated is never found here either.

use portcullis_core::principal::Caller;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A verification as the shared cache holds it.
#[derive(Clone)]
pub(super) struct Cached {
    pub identity: Arc<Caller>,
    /// The unix second it was verified in.
    pub since: u64,
    /// The unix second from which it is too old to use (`since` plus the cache's `max_ttl`).
    pub until: u64,
}

impl Cached {
    /// Whether a copy may still be used at `now`. The shared cache times its entries on the
    /// monotonic clock; a copy goes by the wall clock, so one that the clock was set back
    /// behind is not used either.
    fn usable_at(&self, now: u64) -> bool {
        (self.since..self.until).contains(&now)
    }
}

/// Entries a thread keeps at most; on the next insert past it, it starts over. A bound, not
/// a working set: the shared cache keeps the working set, this only its hottest part.
const CAPACITY: usize = 4096;

/// The thread's copies, and the verifier they belong to.
#[derive(Default)]
struct Front {
    owner: u64,
    entries: HashMap<Key, Cached, BuildHasherDefault<PrefixHasher>>,
}

thread_local! {
    static FRONT: RefCell<Front> = RefCell::default();
}

/// A cache key: a SHA-256.
#[derive(PartialEq, Eq)]
struct Key([u8; 32]);

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // A digest's bytes are already uniform: its first eight are a hash. Only verified
        // tokens are inserted, so nobody can crowd a bucket with keys they ground out.
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_ne_bytes(prefix));
    }
}

/// Passes a [`Key`]'s prefix through as its hash.
#[derive(Default)]
struct PrefixHasher(u64);

impl Hasher for PrefixHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not reached for a `Key`; folds anything else in rather than ignoring it.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }
}

/// A verifier's claim on the threads' copies.
pub(super) struct Owner(u64);

impl Owner {
    /// A new owner: each verifier gets its own, so copies never cross a reload.
    pub fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        Owner(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// This thread's copy of the verification under `key`, when it has one usable at `now`
    /// (unix seconds).
    pub fn get(&self, key: &[u8; 32], now: u64) -> Option<Arc<Caller>> {
        FRONT.with_borrow_mut(|front| {
            self.claim(front);
            let cached = front.entries.get(&Key(*key))?;
            if cached.usable_at(now) {
                Some(cached.identity.clone())
            } else {
                front.entries.remove(&Key(*key));
                None
            }
        })
    }

    /// Keeps a copy of what the shared cache answered for `key`.
    pub fn keep(&self, key: [u8; 32], cached: Cached) {
        FRONT.with_borrow_mut(|front| {
            self.claim(front);
            if front.entries.len() >= CAPACITY {
                front.entries.clear();
            }
            front.entries.insert(Key(key), cached);
        })
    }

    /// Empties the thread's copies if another verifier made them.
    fn claim(&self, front: &mut Front) {
        if front.owner != self.0 {
            front.entries.clear();
            front.owner = self.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use portcullis_core::principal::{Identity, Level};

    fn cached(subject: &str, until: u64) -> Cached {
        let identity = Identity::bare("test", subject, Level::Verified);
        Cached {
            identity: Arc::new(Caller::from(identity)),
            since: 10,
            until,
        }
    }

    #[test]
    fn a_copy_is_found_until_its_limit() {
        let owner = Owner::new();
        owner.keep([1; 32], cached("alice", 100));
        let found = owner.get(&[1; 32], 99).expect("within the limit");
        assert_eq!(found.subject, "alice");
        assert!(
            owner.get(&[1; 32], 10).is_some(),
            "from the second it was verified in"
        );
        assert!(owner.get(&[2; 32], 10).is_none(), "another key");
        assert!(owner.get(&[1; 32], 100).is_none(), "at the limit");
        assert!(owner.get(&[1; 32], 50).is_none(), "dropped once past it");
    }

    #[test]
    fn a_copy_is_not_used_when_the_clock_went_back_behind_it() {
        let owner = Owner::new();
        owner.keep([5; 32], cached("dave", 100));
        assert!(owner.get(&[5; 32], 9).is_none());
    }

    #[test]
    fn another_verifier_never_sees_the_copies() {
        let before = Owner::new();
        let after = Owner::new();
        before.keep([3; 32], cached("bob", u64::MAX));
        assert!(after.get(&[3; 32], 20).is_none());
        // The switch emptied the thread's copies: the first verifier starts again.
        assert!(before.get(&[3; 32], 20).is_none());
    }

    #[test]
    fn copies_stay_on_their_thread() {
        let owner = Arc::new(Owner::new());
        owner.keep([4; 32], cached("carol", u64::MAX));
        let elsewhere = owner.clone();
        let seen = std::thread::spawn(move || elsewhere.get(&[4; 32], 20).is_some())
            .join()
            .unwrap();
        assert!(!seen);
        assert!(owner.get(&[4; 32], 20).is_some());
    }

    #[test]
    fn a_full_thread_starts_over() {
        let owner = Owner::new();
        for i in 0..CAPACITY {
            let mut key = [0u8; 32];
            key[..8].copy_from_slice(&(i as u64).to_le_bytes());
            owner.keep(key, cached("many", u64::MAX));
        }
        assert!(owner.get(&[0; 32], 20).is_some());
        owner.keep([9; 32], cached("last", u64::MAX));
        assert!(owner.get(&[0; 32], 20).is_none(), "emptied when full");
        assert!(owner.get(&[9; 32], 20).is_some());
    }
}
