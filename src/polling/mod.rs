//! Polling for slow upstreams: routes with `respond_within` answer `202 Accepted` and a polling
//! id when the upstream is slower than that; the request runs on and its answer waits here to
//! be fetched once at `{prefix}/poll/{id}`.
//!
//! Ids are 128 random bits. Each entry remembers who asked (a digest of issuer, subject and
//! tenant — no token, no claims) and the route and method, so a poll is authorized like the
//! original request and answered only to the same principal. Entries are bounded in number
//! (`max_entries`: beyond it requests simply wait for their upstream) and answers in size
//! (`max_body_bytes` each, `max_stored_bytes` in all).

pub mod exchange;

use crate::config::model::PollingConfig;
use aws_lc_rs::digest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes;
use http::Method;
use moka::notification::RemovalCause;
use moka::sync::Cache;
use portcullis_core::principal::Principal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A polling id: 16 random bytes, written as 22 base64url characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PollId([u8; 16]);

impl PollId {
    fn random() -> Self {
        Self(rand::random())
    }

    /// Reads an id from its text; `None` for anything that is not exactly one.
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() != 22 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        Some(Self(bytes.try_into().ok()?))
    }
}

impl std::fmt::Display for PollId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&URL_SAFE_NO_PAD.encode(self.0))
    }
}

/// Who may fetch an answer: a digest of the principal, or anyone holding the id when the
/// request had no identity (routes without auth, anonymous access).
pub type Owner = Option<[u8; 32]>;

/// The owner of requests made by `principal`.
pub fn owner_of(principal: &Principal) -> Owner {
    let identity = principal.identity()?;
    let mut context = digest::Context::new(&digest::SHA256);
    for part in [
        identity.issuer.as_bytes(),
        identity.subject.as_bytes(),
        identity.tenant.as_deref().unwrap_or_default().as_bytes(),
    ] {
        context.update(&(part.len() as u64).to_be_bytes());
        context.update(part);
    }
    context.finish().as_ref().try_into().ok()
}

/// An upstream answer, kept whole.
#[derive(Debug, Clone)]
pub struct StoredResponse {
    pub status: u16,
    /// End-to-end headers only (hop-by-hop ones and the framing are dropped).
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    pub body: Bytes,
}

impl StoredResponse {
    /// A small JSON answer standing in for one that could not be had or kept.
    pub fn error(status: u16, code: &str, message: &str) -> Self {
        let body = serde_json::json!({ "error": code, "message": message }).to_string();
        Self {
            status,
            headers: vec![(
                http::header::CONTENT_TYPE,
                http::HeaderValue::from_static("application/json"),
            )],
            body: Bytes::from(body),
        }
    }

    /// Roughly what keeping it costs.
    fn weight(&self) -> u64 {
        let headers: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len())
            .sum();
        (self.body.len() + headers) as u64
    }
}

/// What a pending request was: enough to authorize a poll like the request itself.
#[derive(Debug, Clone)]
pub struct Origin {
    pub owner: Owner,
    /// The route's name and index in the snapshot the request was decided on.
    pub route: String,
    pub route_index: usize,
    pub method: Method,
    pub tenant: Option<String>,
}

#[derive(Debug)]
pub struct PollEntry {
    pub origin: Origin,
    /// `None` while the upstream is still working.
    pub answer: Option<Arc<StoredResponse>>,
}

impl PollEntry {
    fn weight(&self) -> u64 {
        self.answer.as_ref().map_or(0, |a| a.weight())
    }
}

/// What a poll finds.
pub enum Poll {
    Pending,
    Ready(Arc<StoredResponse>),
}

/// The settings, resolved.
#[derive(Debug, Clone)]
pub struct PollSettings {
    pub prefix: String,
    pub result_ttl: Duration,
    pub upstream_timeout: Duration,
    pub max_entries: u64,
    pub max_body_bytes: u64,
    pub max_stored_bytes: u64,
}

impl From<&PollingConfig> for PollSettings {
    fn from(config: &PollingConfig) -> Self {
        Self {
            prefix: config.prefix.get_ref().clone(),
            result_ttl: config.result_ttl.get(),
            upstream_timeout: config.upstream_timeout.get(),
            max_entries: config.max_entries,
            max_body_bytes: config.max_body_bytes,
            max_stored_bytes: config.max_stored_bytes,
        }
    }
}

/// Pending requests and kept answers.
pub struct PollStore {
    pub settings: PollSettings,
    entries: Cache<PollId, Arc<PollEntry>>,
    /// Entries admitted and not yet removed (exact, unlike the cache's own count).
    live: Arc<AtomicU64>,
    /// Bytes of kept answers.
    stored: Arc<AtomicU64>,
}

/// Pending entries live as long as their upstream may take; answers for `result_ttl`.
struct Lifetimes {
    pending: Duration,
    answered: Duration,
}

impl moka::Expiry<PollId, Arc<PollEntry>> for Lifetimes {
    fn expire_after_create(
        &self,
        _: &PollId,
        entry: &Arc<PollEntry>,
        _: Instant,
    ) -> Option<Duration> {
        Some(self.lifetime(entry))
    }

    fn expire_after_update(
        &self,
        _: &PollId,
        entry: &Arc<PollEntry>,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(self.lifetime(entry))
    }
}

impl Lifetimes {
    fn lifetime(&self, entry: &PollEntry) -> Duration {
        if entry.answer.is_some() {
            self.answered
        } else {
            self.pending
        }
    }
}

impl PollStore {
    pub fn new(settings: PollSettings) -> Self {
        let live = Arc::new(AtomicU64::new(0));
        let stored = Arc::new(AtomicU64::new(0));
        let (live_count, stored_bytes) = (live.clone(), stored.clone());
        let entries = Cache::builder()
            .max_capacity(settings.max_entries)
            .expire_after(Lifetimes {
                // A little past the upstream's deadline, so its answer (even a 504) lands.
                pending: settings.upstream_timeout + Duration::from_secs(5),
                answered: settings.result_ttl,
            })
            .eviction_listener(move |_, entry: Arc<PollEntry>, cause| {
                stored_bytes.fetch_sub(entry.weight(), Ordering::Relaxed);
                if cause != RemovalCause::Replaced {
                    live_count.fetch_sub(1, Ordering::Relaxed);
                }
            })
            .build();
        Self {
            settings,
            entries,
            live,
            stored,
        }
    }

    /// The id in `path` when it is a poll path (`{prefix}/poll/{id}`); `Some(None)` for a
    /// poll path whose id is malformed.
    pub fn poll_path(&self, path: &str) -> Option<Option<PollId>> {
        let rest = path.strip_prefix(self.settings.prefix.as_str())?;
        let id = rest.strip_prefix("/poll/")?;
        Some(PollId::parse(id))
    }

    /// The path a client polls `id` at.
    pub fn location(&self, id: PollId) -> String {
        format!("{}/poll/{id}", self.settings.prefix)
    }

    /// Registers a pending request; `None` when the store is full (the caller then waits).
    pub fn admit(&self, origin: Origin) -> Option<PollId> {
        let reserve = || {
            self.live
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < self.settings.max_entries).then_some(n + 1)
                })
                .is_ok()
        };
        if !reserve() {
            // Expired entries leave the count when the cache gets round to evicting them.
            self.entries.run_pending_tasks();
            if !reserve() {
                return None;
            }
        }
        let id = PollId::random();
        let entry = PollEntry {
            origin,
            answer: None,
        };
        self.entries.insert(id, Arc::new(entry));
        Some(id)
    }

    /// Keeps the answer of a pending request (nothing happens when the entry has expired).
    /// Answers that would overflow `max_stored_bytes` are replaced by a small 503.
    pub fn complete(&self, id: PollId, answer: StoredResponse) {
        let answer = self.fit(answer);
        let weight = answer.weight();
        let answer = Arc::new(answer);
        self.entries
            .entry(id)
            .and_compute_with(|existing| match existing {
                Some(entry) if entry.value().answer.is_none() => {
                    self.stored.fetch_add(weight, Ordering::Relaxed);
                    moka::ops::compute::Op::Put(Arc::new(PollEntry {
                        origin: entry.value().origin.clone(),
                        answer: Some(answer),
                    }))
                }
                _ => moka::ops::compute::Op::Nop,
            });
    }

    fn fit(&self, answer: StoredResponse) -> StoredResponse {
        let budget = self.settings.max_stored_bytes;
        if self.stored.load(Ordering::Relaxed) + answer.weight() > budget {
            tracing::warn!(
                "polling store is full; an upstream answer was dropped (raise max_stored_bytes)"
            );
            return StoredResponse::error(
                503,
                "answer_not_kept",
                "the answer could not be kept; try the request again",
            );
        }
        answer
    }

    /// The entry's origin (to authorize the poll) without taking its answer.
    pub fn origin(&self, id: PollId) -> Option<Origin> {
        self.entries.get(&id).map(|e| e.origin.clone())
    }

    /// Takes the answer for `owner`: `Ready` once (the entry is removed), `Pending` before
    /// it has arrived, `None` when there is no such entry for this owner.
    pub fn take(&self, id: PollId, owner: &Owner) -> Option<Poll> {
        let entry = self.entries.get(&id)?;
        if entry.origin.owner != *owner {
            return None;
        }
        if entry.answer.is_none() {
            return Some(Poll::Pending);
        }
        // Only one of two racing polls gets the answer.
        let removed = self.entries.remove(&id)?;
        removed.answer.clone().map(Poll::Ready)
    }

    /// Pending and kept entries.
    #[cfg(test)]
    fn len(&self) -> u64 {
        self.live.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(max_entries: u64, max_stored_bytes: u64) -> PollSettings {
        PollSettings {
            prefix: "/_portcullis".into(),
            result_ttl: Duration::from_secs(60),
            upstream_timeout: Duration::from_secs(60),
            max_entries,
            max_body_bytes: 1024,
            max_stored_bytes,
        }
    }

    fn origin(owner: Owner) -> Origin {
        Origin {
            owner,
            route: "slow".into(),
            route_index: 0,
            method: Method::GET,
            tenant: None,
        }
    }

    fn answer(body: &str) -> StoredResponse {
        StoredResponse {
            status: 200,
            headers: Vec::new(),
            body: Bytes::from(body.to_string()),
        }
    }

    #[test]
    fn ids_round_trip_and_reject_anything_else() {
        let id = PollId::random();
        let text = id.to_string();
        assert_eq!(text.len(), 22);
        assert_eq!(PollId::parse(&text), Some(id));
        assert_ne!(PollId::random(), id);
        for bad in ["", "short", &format!("{text}A"), "!!!!!!!!!!!!!!!!!!!!!!"] {
            assert_eq!(PollId::parse(bad), None, "{bad}");
        }
        let store = PollStore::new(settings(10, 1024));
        assert_eq!(store.poll_path(&store.location(id)), Some(Some(id)));
        assert_eq!(store.poll_path("/_portcullis/poll/nope"), Some(None));
        assert_eq!(store.poll_path("/other/poll/x"), None);
    }

    #[test]
    fn answers_go_once_and_only_to_their_owner() {
        let store = PollStore::new(settings(10, 1024));
        let alice = Some([1; 32]);
        let id = store.admit(origin(alice)).unwrap();
        assert!(matches!(store.take(id, &alice), Some(Poll::Pending)));
        assert!(store.take(id, &Some([2; 32])).is_none());
        assert!(store.take(id, &None).is_none());
        store.complete(id, answer("done"));
        assert!(store.take(id, &Some([2; 32])).is_none());
        match store.take(id, &alice) {
            Some(Poll::Ready(a)) => assert_eq!(a.body, "done"),
            _ => panic!("expected the answer"),
        }
        assert!(store.take(id, &alice).is_none(), "fetched once");
        store.entries.run_pending_tasks();
        assert_eq!(store.len(), 0);
        assert_eq!(store.stored.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn bounded_in_count_and_bytes() {
        let store = PollStore::new(settings(2, 10));
        let a = store.admit(origin(None)).unwrap();
        let b = store.admit(origin(None)).unwrap();
        assert!(
            store.admit(origin(None)).is_none(),
            "full: the caller waits"
        );
        store.complete(a, answer("12345678"));
        store.complete(b, answer("this is too much to keep"));
        let Some(Poll::Ready(kept)) = store.take(a, &None) else {
            panic!("a was kept")
        };
        assert_eq!(kept.status, 200);
        let Some(Poll::Ready(dropped)) = store.take(b, &None) else {
            panic!("b has a stand-in")
        };
        assert_eq!(dropped.status, 503);
        store.entries.run_pending_tasks();
        assert!(store.admit(origin(None)).is_some(), "room again");
    }

    #[test]
    fn completing_an_expired_entry_does_not_revive_it() {
        let store = PollStore::new(settings(10, 1024));
        store.complete(PollId::random(), answer("late"));
        store.entries.run_pending_tasks();
        assert_eq!(store.entries.entry_count(), 0);
    }

    #[test]
    fn owners_differ_by_issuer_subject_and_tenant() {
        use portcullis_core::principal::{Identity, Level};
        let identity = |issuer: &str, subject: &str, tenant: Option<&str>| {
            Principal::authenticated(Identity {
                issuer: issuer.into(),
                subject: subject.into(),
                tenant: tenant.map(str::to_string),
                scopes: vec![],
                level: Level::Verified,
                audiences: vec![],
                expires_at: None,
                not_before: None,
                leeway: 0,
                token_id: None,
                claimed_subject: None,
            })
        };
        let a = owner_of(&identity("idp", "alice", None));
        assert!(a.is_some());
        assert_eq!(a, owner_of(&identity("idp", "alice", None)));
        assert_ne!(a, owner_of(&identity("idp", "bob", None)));
        assert_ne!(a, owner_of(&identity("other", "alice", None)));
        assert_ne!(a, owner_of(&identity("idp", "alice", Some("t"))));
        // Length-prefixed: parts cannot slide into each other.
        assert_ne!(
            owner_of(&identity("ab", "c", None)),
            owner_of(&identity("a", "bc", None))
        );
        assert_eq!(owner_of(&Principal::Anonymous), None);
    }
}
