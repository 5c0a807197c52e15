//! Warnings that repeat (a JWKS endpoint down, a broken config on disk) are worth one line per
//! interval with a count, not a line for every attempt: a log that scrolls a line a second hides
//! everything else and costs disk.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lets the first of a run of identical warnings through, then one per `interval`, each with
/// the number held back since the last.
#[derive(Debug)]
pub struct Repeats {
    interval: Duration,
    /// When a warning was last let through, and how many were held back since.
    state: Mutex<(Option<Instant>, u64)>,
    /// What the last warning was about (a new subject is logged at once).
    subject: Mutex<u64>,
}

impl Repeats {
    pub const fn every(interval: Duration) -> Self {
        Self {
            interval,
            state: Mutex::new((None, 0)),
            subject: Mutex::new(0),
        }
    }

    /// As [`Self::allow`], but a warning about another `subject` (another error) than the
    /// last one is let through at once.
    pub fn allow_about(&self, subject: &str, now: Instant) -> Option<u64> {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        subject.hash(&mut hasher);
        let key = hasher.finish();
        let changed =
            std::mem::replace(&mut *self.subject.lock().expect("not poisoned"), key) != key;
        if changed {
            self.state.lock().expect("not poisoned").0 = None;
        }
        self.allow(now)
    }

    /// `Some(held back)` when this warning may be logged now; `None` when it is counted instead.
    pub fn allow(&self, now: Instant) -> Option<u64> {
        let mut state = self.state.lock().expect("not poisoned");
        let (last, held) = &mut *state;
        if last.is_some_and(|at| now.duration_since(at) < self.interval) {
            *held += 1;
            return None;
        }
        *last = Some(now);
        Some(std::mem::take(held))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_with_the_count_held_back() {
        let repeats = Repeats::every(Duration::from_secs(60));
        let start = Instant::now();
        assert_eq!(repeats.allow(start), Some(0));
        for i in 1..=9 {
            assert_eq!(repeats.allow(start + Duration::from_secs(i)), None);
        }
        assert_eq!(repeats.allow(start + Duration::from_secs(61)), Some(9));
        assert_eq!(repeats.allow(start + Duration::from_secs(62)), None);
    }

    #[test]
    fn another_subject_is_logged_at_once() {
        let repeats = Repeats::every(Duration::from_secs(60));
        let now = Instant::now();
        assert_eq!(repeats.allow_about("a", now), Some(0));
        assert_eq!(repeats.allow_about("a", now), None);
        assert_eq!(repeats.allow_about("b", now), Some(1));
        assert_eq!(repeats.allow_about("b", now), None);
    }
}
