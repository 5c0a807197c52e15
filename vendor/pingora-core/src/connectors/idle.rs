// Portcullis patch: the HTTP/1 keep-alive pool of `TransportConnector`, one shelf per thread.
//
// Why: `pingora_pool::ConnectionPool` wraps each released stream in an `Arc<Mutex<_>>`, files it
// in a shared LRU and a `DashMap` of per-peer nodes (a node is freed when it empties and built
// again on the next release), and spawns a tokio task per release that watches the idle stream
// (a oneshot channel and a `Notify` to call it off). Taking the stream back sends on the channel
// and then waits for that task to run and let go of the lock: two task switches and ~6k
// instructions a request, 10 % of a bare keep-alive proxy's user-space work. Like nginx's
// per-worker `keepalive` cache, a shelf per thread needs none of it: release and take are a push
// and a pop under a lock no other thread takes in the common case, and one sweeper task a thread
// looks at all of the thread's idle streams once a second, for streams the server closed (or
// wrote to) and streams idle past their timeout.

use super::test_reusable_stream;
use crate::protocols::Stream;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use thread_local::ThreadLocal;

/// How often a thread's sweeper looks at its idle streams: how long a stream the server closed
/// may hold its socket before it is dropped, and how late an idle timeout may close a stream
/// that nothing takes (one that is taken is checked against its deadline then).
const SWEEP_EVERY: Duration = Duration::from_secs(1);

/// Idle streams by thread, each shelf capped at `per_thread` (the least recently released is
/// dropped to make room).
pub(crate) struct IdleStreams {
    shelves: ThreadLocal<Arc<Shelf>>,
    per_thread: usize,
    unexpected_data: Arc<AtomicU64>,
    on_evict: Option<super::PoolCallback>,
}

/// One thread's idle streams, oldest first.
#[derive(Default)]
struct Shelf {
    streams: Mutex<VecDeque<Idle>>,
}

struct Idle {
    key: u64,
    stream: Stream,
    since: Instant,
    expires: Option<Instant>,
}

impl IdleStreams {
    pub(crate) fn new(
        per_thread: usize,
        unexpected_data: Arc<AtomicU64>,
        on_evict: Option<super::PoolCallback>,
    ) -> Self {
        IdleStreams {
            shelves: ThreadLocal::new(),
            per_thread,
            unexpected_data,
            on_evict,
        }
    }

    /// The stream released last on this thread under `key` and not yet past its idle timeout;
    /// expired ones met on the way are dropped. The caller still checks that it is usable.
    pub(crate) fn take(&self, key: u64) -> Option<Stream> {
        let shelf = self.shelves.get()?;
        let mut now = None;
        loop {
            let idle = {
                let mut streams = shelf.streams.lock();
                let at = streams.iter().rposition(|idle| idle.key == key)?;
                streams.remove(at)?
            };
            match idle.expires {
                Some(at) if at <= *now.get_or_insert_with(Instant::now) => drop(idle),
                _ => return Some(idle.stream),
            }
        }
    }

    /// Keeps `stream` on this thread's shelf for reuse under `key`, until `idle_timeout` (if
    /// any) passes or the server closes it.
    pub(crate) fn put(&self, key: u64, stream: Stream, idle_timeout: Option<Duration>) {
        if self.per_thread == 0 {
            return;
        }
        let shelf = self.shelves.get_or(|| self.new_shelf());
        let since = Instant::now();
        let idle = Idle {
            key,
            stream,
            since,
            expires: idle_timeout.and_then(|timeout| since.checked_add(timeout)),
        };
        let evicted = {
            let mut streams = shelf.streams.lock();
            let evicted = (streams.len() >= self.per_thread)
                .then(|| streams.pop_front())
                .flatten();
            streams.push_back(idle);
            evicted
        };
        // Closed outside the lock.
        if let Some(evicted) = evicted {
            if let Some(callback) = &self.on_evict {
                callback(evicted.since.elapsed());
            }
        }
    }

    /// A shelf for the calling thread, and its sweeper on the runtime the thread runs (if it
    /// runs one); the sweeper ends when the shelf is dropped with its connector.
    fn new_shelf(&self) -> Arc<Shelf> {
        let shelf = Arc::new(Shelf::default());
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let shelf = Arc::downgrade(&shelf);
            let unexpected_data = self.unexpected_data.clone();
            runtime.spawn(sweep(shelf, unexpected_data));
        }
        shelf
    }
}

async fn sweep(shelf: Weak<Shelf>, unexpected_data: Arc<AtomicU64>) {
    loop {
        pingora_timeout::sleep(SWEEP_EVERY).await;
        let Some(shelf) = shelf.upgrade() else {
            return;
        };
        let now = Instant::now();
        shelf.streams.lock().retain_mut(|idle| {
            idle.expires.is_none_or(|at| at > now)
                && test_reusable_stream(&mut idle.stream, &unexpected_data)
        });
    }
}
