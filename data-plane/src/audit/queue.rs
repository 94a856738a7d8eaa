//! The bounded buffer between the request path and the shipper: a push never
//! blocks and never fails; when full, the oldest event is dropped and counted.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use tokio::sync::Notify;

use super::RequestOutcome;

/// Audit events waiting to be shipped.
#[derive(Debug)]
pub struct AuditQueue {
    events: Mutex<VecDeque<RequestOutcome>>,
    capacity: usize,
    dropped: AtomicU64,
    ready: Notify,
}

impl AuditQueue {
    /// A queue holding at most `capacity` events.
    pub fn new(capacity: usize) -> Self {
        Self {
            events: Mutex::new(VecDeque::with_capacity(capacity.min(4096))),
            capacity: capacity.max(1),
            dropped: AtomicU64::new(0),
            ready: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<RequestOutcome>> {
        // A poisoned lock only means a panic elsewhere; the queue itself is intact.
        self.events.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds an event, dropping the oldest when full.
    pub fn push(&self, event: RequestOutcome) {
        {
            let mut events = self.lock();
            if events.len() >= self.capacity {
                events.pop_front();
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            events.push_back(event);
        }
        self.ready.notify_one();
    }

    /// Takes up to `max` of the oldest events.
    pub fn take(&self, max: usize) -> Vec<RequestOutcome> {
        let mut events = self.lock();
        let n = events.len().min(max);
        events.drain(..n).collect()
    }

    /// Waits until an event may be there.
    pub async fn ready(&self) {
        self.ready.notified().await;
    }

    /// Events waiting.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no event waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Events dropped because the queue was full, since the edge started.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::OutcomeKind;

    fn event(n: i64) -> RequestOutcome {
        RequestOutcome { at_ms: n, ..RequestOutcome::for_tests(OutcomeKind::McpRequest) }
    }

    #[test]
    fn full_queue_drops_the_oldest_and_counts() {
        let q = AuditQueue::new(3);
        for n in 0..5 {
            q.push(event(n));
        }
        assert_eq!(q.dropped(), 2);
        let taken: Vec<i64> = q.take(10).into_iter().map(|e| e.at_ms).collect();
        assert_eq!(taken, [2, 3, 4]);
        assert!(q.is_empty());
    }

    #[test]
    fn take_returns_the_oldest_first_and_at_most_max() {
        let q = AuditQueue::new(10);
        for n in 0..4 {
            q.push(event(n));
        }
        assert_eq!(q.take(3).into_iter().map(|e| e.at_ms).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(q.len(), 1);
    }
}
