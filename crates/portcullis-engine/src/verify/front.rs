//! A per-thread copy of the verifications a thread has used, in front of the shared cache.
//!
//! A hit in the shared `moka` cache costs more than its lookup: the token's SHA-256 (its key;
//! ~0.45 µs for a 700-byte token even with SHA instructions), an epoch pin, reference counts
//! taken and dropped, the read logged into a channel for the eviction policy and, now and then,
//! that log replayed. A thread asking again for a token it has just used finds it here with a
//! plain lookup and a comparison of the token's bytes instead.
//!
//! What stays true: entries are the shared cache's (a miss here goes there, never straight to
//! a verification) and never used past the shared cache's own limit (`until`, the time of
//! verification plus `max_ttl`); the token's `exp` and `nbf` are checked by the caller on
//! every request, hit or miss. A copy is found only for the very token it was made for: the
//! whole token is kept and compared, so it is at least as strict as the shared cache's digest.
//! A snapshot's verifier owns the copies its threads make: the first lookup for another
//! verifier (after a reload) empties them, so a verification a reload invalidated is never
//! found here either.

use portcullis_core::principal::Caller;
use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
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

/// Token bytes a thread keeps at most; on the insert that would pass it, it starts over. A
/// bound, not a working set: the shared cache keeps the working set, this only its hottest
/// part (some 1,400 tokens of 700 bytes).
const CAPACITY_BYTES: usize = 1 << 20;

/// A copy and the token it was made for.
struct Kept {
    token: Box<str>,
    cached: Cached,
}

/// The thread's copies, and the verifier they belong to.
#[derive(Default)]
struct Front {
    owner: u64,
    /// Copies by [`tail_hash`]; two tokens with the same hash share a slot, the later one kept.
    entries: HashMap<u64, Kept, BuildHasherDefault<PassThrough>>,
    /// The kept tokens' bytes.
    bytes: usize,
}

impl Front {
    fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }
}

thread_local! {
    static FRONT: RefCell<Front> = RefCell::default();
}

/// Where a token goes in the map: its last 16 bytes and its length, mixed. A JWT ends in its
/// signature, whose bytes are as good as random for every token that gets here — only
/// verified tokens are kept, so nobody can crowd a slot with tokens they ground out, and a
/// lookup that lands on a slot still has to match the whole token. Hashing the whole token
/// (SHA-256 or SipHash alike) would cost as much as the lookup it saves.
fn tail_hash(token: &str) -> u64 {
    let bytes = token.as_bytes();
    let mut tail = [0u8; 16];
    let n = bytes.len().min(16);
    tail[16 - n..].copy_from_slice(&bytes[bytes.len() - n..]);
    let (high, low) = tail.split_at(8);
    let high = u64::from_le_bytes(high.try_into().expect("8 bytes"));
    let low = u64::from_le_bytes(low.try_into().expect("8 bytes"));
    // A folded multiply (as foldhash and wyhash do) spreads every input bit over the result's
    // low bits (the bucket) and high bits (hashbrown's tag) alike.
    let mixed = u128::from(high ^ bytes.len() as u64) * u128::from(low ^ 0x9e37_79b9_7f4a_7c15);
    (mixed as u64) ^ ((mixed >> 64) as u64)
}

/// Whether `a` and `b` are the same bytes, without leaving the loop at the first difference.
/// Not `digest::same_secret`: aws-lc's `CRYPTO_memcmp` goes a byte a turn, and this runs on
/// every cached request; the fold compiles to vector code.
fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |differ, (x, y)| differ | (x ^ y))
            == 0
}

/// Passes a `u64` key through as its hash: the key is [`tail_hash`] already.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, value: u64) {
        self.0 = value;
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not reached for a `u64`; folds anything else in rather than ignoring it.
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

    /// This thread's copy of the verification of `token`, when it has one usable at `now`
    /// (unix seconds).
    pub fn get(&self, token: &str, now: u64) -> Option<Arc<Caller>> {
        FRONT.with_borrow_mut(|front| {
            self.claim(front);
            let slot = tail_hash(token);
            let kept = front.entries.get(&slot)?;
            if !same_token(&kept.token, token) {
                return None;
            }
            if kept.cached.usable_at(now) {
                Some(kept.cached.identity.clone())
            } else {
                let gone = front.entries.remove(&slot).expect("just found");
                front.bytes -= gone.token.len();
                None
            }
        })
    }

    /// Keeps a copy of what the shared cache answered for `token`.
    pub fn keep(&self, token: &str, cached: Cached) {
        FRONT.with_borrow_mut(|front| {
            self.claim(front);
            if token.len() > CAPACITY_BYTES {
                return;
            }
            if front.bytes + token.len() > CAPACITY_BYTES {
                front.clear();
            }
            let kept = Kept {
                token: token.into(),
                cached,
            };
            front.bytes += token.len();
            if let Some(replaced) = front.entries.insert(tail_hash(token), kept) {
                front.bytes -= replaced.token.len();
            }
        })
    }

    /// Empties the thread's copies if another verifier made them.
    fn claim(&self, front: &mut Front) {
        if front.owner != self.0 {
            front.clear();
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

    /// A token-like string: `body` then a 20-byte tail made from `tail`.
    fn token(body: &str, tail: u8) -> String {
        format!(
            "eyJ{body}.{}",
            char::from(b'A' + tail).to_string().repeat(20)
        )
    }

    #[test]
    fn a_copy_is_found_until_its_limit() {
        let owner = Owner::new();
        let alice = token("alice", 1);
        owner.keep(&alice, cached("alice", 100));
        let found = owner.get(&alice, 99).expect("within the limit");
        assert_eq!(found.subject, "alice");
        assert!(
            owner.get(&alice, 10).is_some(),
            "from the second it was verified in"
        );
        assert!(owner.get(&token("alice", 2), 10).is_none(), "another token");
        assert!(owner.get(&alice, 100).is_none(), "at the limit");
        assert!(owner.get(&alice, 50).is_none(), "dropped once past it");
    }

    #[test]
    fn only_the_very_token_finds_its_copy() {
        let owner = Owner::new();
        let kept = token("payload-of-alice", 3);
        owner.keep(&kept, cached("alice", u64::MAX));
        // The same signature (tail) and length, another payload: the same slot, not the same token.
        let forged = token("payload-of-mallo", 3);
        assert_eq!(tail_hash(&kept), tail_hash(&forged));
        assert!(owner.get(&forged, 20).is_none());
        for at in [0, 3, kept.len() / 2, kept.len() - 1] {
            let mut bytes = kept.clone().into_bytes();
            bytes[at] ^= 1;
            let altered = String::from_utf8(bytes).unwrap();
            assert!(owner.get(&altered, 20).is_none(), "one bit off at {at}");
        }
        assert!(owner.get(&kept[..kept.len() - 1], 20).is_none(), "a prefix");
        assert!(owner.get(&kept, 20).is_some(), "the token itself still");
    }

    #[test]
    fn tokens_sharing_a_slot_keep_the_later_one() {
        let owner = Owner::new();
        let first = token("first", 4);
        let second = token("secnd", 4);
        owner.keep(&first, cached("first", u64::MAX));
        owner.keep(&second, cached("second", u64::MAX));
        assert!(owner.get(&first, 20).is_none());
        assert_eq!(owner.get(&second, 20).unwrap().subject, "second");
        FRONT.with_borrow(|front| assert_eq!(front.bytes, second.len()));
    }

    #[test]
    fn short_tokens_have_slots_too() {
        let owner = Owner::new();
        owner.keep("a.b.c", cached("short", u64::MAX));
        owner.keep("", cached("empty", u64::MAX));
        assert_eq!(owner.get("a.b.c", 20).unwrap().subject, "short");
        assert_eq!(owner.get("", 20).unwrap().subject, "empty");
        assert!(owner.get("a.b.d", 20).is_none());
    }

    #[test]
    fn a_copy_is_not_used_when_the_clock_went_back_behind_it() {
        let owner = Owner::new();
        let dave = token("dave", 5);
        owner.keep(&dave, cached("dave", 100));
        assert!(owner.get(&dave, 9).is_none());
    }

    #[test]
    fn another_verifier_never_sees_the_copies() {
        let before = Owner::new();
        let after = Owner::new();
        let bob = token("bob", 6);
        before.keep(&bob, cached("bob", u64::MAX));
        assert!(after.get(&bob, 20).is_none());
        // The switch emptied the thread's copies: the first verifier starts again.
        assert!(before.get(&bob, 20).is_none());
    }

    #[test]
    fn copies_stay_on_their_thread() {
        let owner = Arc::new(Owner::new());
        let carol = token("carol", 7);
        owner.keep(&carol, cached("carol", u64::MAX));
        let elsewhere = owner.clone();
        let there = carol.clone();
        let seen = std::thread::spawn(move || elsewhere.get(&there, 20).is_some())
            .join()
            .unwrap();
        assert!(!seen);
        assert!(owner.get(&carol, 20).is_some());
    }

    #[test]
    fn a_full_thread_starts_over() {
        let owner = Owner::new();
        let tokens: Vec<String> = (0..)
            .map(|i| format!("eyJ.{i:0>1000}"))
            .take(CAPACITY_BYTES / 1004)
            .collect();
        for t in &tokens {
            owner.keep(t, cached("many", u64::MAX));
        }
        assert!(tokens.iter().all(|t| owner.get(t, 20).is_some()), "all fit");
        let last = format!("eyJ.{:0>1000}", "last");
        owner.keep(&last, cached("last", u64::MAX));
        assert!(owner.get(&tokens[0], 20).is_none(), "emptied when full");
        assert!(owner.get(&last, 20).is_some());
        FRONT.with_borrow(|front| assert_eq!(front.bytes, last.len()));
    }

    #[test]
    fn a_token_larger_than_the_whole_front_is_not_kept() {
        let owner = Owner::new();
        let small = token("small", 8);
        owner.keep(&small, cached("small", u64::MAX));
        let huge = "x".repeat(CAPACITY_BYTES + 1);
        owner.keep(&huge, cached("huge", u64::MAX));
        assert!(owner.get(&huge, 20).is_none());
        assert!(owner.get(&small, 20).is_some(), "the others stay");
    }
}
