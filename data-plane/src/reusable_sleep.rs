//! Timers that are armed again for every request instead of made anew.
//!
//! A new tokio `Sleep` per request is filed in its runtime's timer wheel when first polled
//! and taken out again when dropped, and filing one can wake the runtime's driver to
//! recompute its next wake-up (a write to its eventfd). A `Sleep` kept and re-armed for a
//! later deadline costs an atomic store: tokio leaves it where it is in the wheel and, when
//! the earlier deadline comes round, files it again for the later one. Request deadlines
//! only move forward on one connection, so a kept timer is filed about once per timeout
//! period instead of once per request.
//!
//! - [`ReusableSleep`]: one kept timer (each upstream connection has one for its exchanges).
//! - [`ConnectionTimer`]: hyper's timer for one client connection (the header-read
//!   timeout), lending the same kept timer to every request head it waits for.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Instant;

use tokio::time::Sleep;

/// A timer kept for reuse; none is made until it is first armed.
#[derive(Default)]
pub struct ReusableSleep(Option<Pin<Box<Sleep>>>);

impl std::fmt::Debug for ReusableSleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReusableSleep").field("armed", &self.0.is_some()).finish()
    }
}

impl ReusableSleep {
    /// The timer, set to complete at `deadline` (and pending again if it had completed).
    pub fn arm(&mut self, deadline: tokio::time::Instant) -> Pin<&mut Sleep> {
        if let Some(sleep) = &mut self.0 {
            sleep.as_mut().reset(deadline);
        }
        self.0.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline))).as_mut()
    }
}

/// `future`'s output, or `None` if `deadline` completes first.
pub async fn before<F: Future>(deadline: Pin<&mut Sleep>, future: F) -> Option<F::Output> {
    tokio::select! {
        biased;
        output = future => Some(output),
        () = deadline => None,
    }
}

/// hyper's timer for one connection: every sleep it hands out is the connection's one kept
/// timer, re-armed, which goes back to the connection when hyper drops the sleep (hyper
/// drops its header-read timer once each request head is read, and asks for a new one
/// for the next).
#[derive(Clone, Default)]
pub struct ConnectionTimer {
    spare: Arc<Mutex<ReusableSleep>>,
}

impl std::fmt::Debug for ConnectionTimer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionTimer").finish_non_exhaustive()
    }
}

impl ConnectionTimer {
    fn take(&self) -> ReusableSleep {
        // A poisoned lock only means a panic elsewhere; a timer in it is still a timer.
        std::mem::take(&mut *self.spare.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl hyper::rt::Timer for ConnectionTimer {
    fn sleep(&self, duration: std::time::Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let mut sleep = self.take();
        sleep.arm(deadline.into());
        Box::pin(Lent { sleep, home: self.spare.clone() })
    }
}

/// A connection's kept timer while hyper holds it.
struct Lent {
    sleep: ReusableSleep,
    home: Arc<Mutex<ReusableSleep>>,
}

impl Future for Lent {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // `Lent` is `Unpin`: the timer itself is pinned in its own box.
        match &mut self.get_mut().sleep.0 {
            Some(sleep) => sleep.as_mut().poll(cx),
            None => Poll::Ready(()),
        }
    }
}

impl hyper::rt::Sleep for Lent {}

impl Drop for Lent {
    fn drop(&mut self) {
        let mut spare = self.home.lock().unwrap_or_else(PoisonError::into_inner);
        if spare.0.is_none() {
            *spare = std::mem::take(&mut self.sleep);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use hyper::rt::Timer as _;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_kept_timer_completes_at_its_latest_deadline_and_again_after_rearming() {
        let mut kept = ReusableSleep::default();
        let start = tokio::time::Instant::now();
        kept.arm(start + Duration::from_secs(1)).await;
        assert_eq!(start.elapsed(), Duration::from_secs(1));
        // Armed again after completing: pending again, for the new deadline.
        let rearmed = tokio::time::Instant::now() + Duration::from_secs(5);
        let sleep = kept.arm(rearmed);
        assert!(!sleep.is_elapsed());
        sleep.await;
        assert_eq!(start.elapsed(), Duration::from_secs(6));
    }

    #[tokio::test(start_paused = true)]
    async fn a_timer_moved_later_before_it_fires_waits_for_the_later_deadline() {
        let mut kept = ReusableSleep::default();
        let start = tokio::time::Instant::now();
        // Polled while the future yields once, so it is filed for the first deadline; then
        // moved later before that deadline comes.
        let first = before(kept.arm(start + Duration::from_secs(1)), tokio::task::yield_now()).await;
        assert_eq!(first, Some(()));
        assert_eq!(start.elapsed(), Duration::ZERO);
        let outcome = before(kept.arm(start + Duration::from_secs(3)), std::future::pending::<()>()).await;
        assert_eq!(outcome, None);
        assert_eq!(start.elapsed(), Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_timer_lends_its_one_timer_and_gets_it_back() {
        let timer = ConnectionTimer::default();
        // hyper hands over std instants; under the paused clock, tokio's own in std terms.
        let now = || tokio::time::Instant::now().into_std();
        let first = timer.sleep_until(now() + Duration::from_secs(2));
        assert!(timer.spare.lock().unwrap().0.is_none(), "lent out");
        drop(first);
        assert!(timer.spare.lock().unwrap().0.is_some(), "back");
        // Two lent at once: the second is a timer of its own; both complete on time.
        let a = timer.sleep_until(now() + Duration::from_secs(1));
        let b = timer.sleep_until(now() + Duration::from_secs(2));
        let t0 = tokio::time::Instant::now();
        a.await;
        assert_eq!(t0.elapsed(), Duration::from_secs(1));
        b.await;
        assert_eq!(t0.elapsed(), Duration::from_secs(2));
        assert!(timer.spare.lock().unwrap().0.is_some());
    }
}
