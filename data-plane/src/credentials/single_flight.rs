//! One in-flight fetch per key: concurrent callers share the first caller's
//! future. The work runs in its own task, so a caller that goes away (client
//! disconnect) cannot abandon a refresh halfway, after the authorization
//! server rotated the refresh token but before it was committed.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use futures::future::{BoxFuture, FutureExt as _, Shared};

use super::error::BrokerError;

type Flight<T> = Shared<BoxFuture<'static, Result<T, BrokerError>>>;

/// Deduplicates concurrent fetches by key.
pub struct SingleFlight<T: Clone> {
    inflight: Arc<Mutex<HashMap<String, Flight<T>>>>,
}

impl<T: Clone> std::fmt::Debug for SingleFlight<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SingleFlight").finish_non_exhaustive()
    }
}

impl<T: Clone> Default for SingleFlight<T> {
    fn default() -> Self {
        Self { inflight: Arc::default() }
    }
}

impl<T: Clone + Send + Sync + 'static> SingleFlight<T> {
    /// Joins the fetch in flight for `key`, or starts `work` as that fetch.
    pub async fn run<F>(&self, key: String, work: F) -> Result<T, BrokerError>
    where
        F: Future<Output = Result<T, BrokerError>> + Send + 'static,
    {
        let flight = {
            let mut inflight = self.inflight.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(flight) = inflight.get(&key) {
                flight.clone()
            } else {
                let map = self.inflight.clone();
                let task_key = key.clone();
                // The map lock is held until the flight is inserted, so the task's
                // removal always comes after the insert.
                let task = tokio::spawn(async move {
                    let result = work.await;
                    map.lock().unwrap_or_else(|e| e.into_inner()).remove(&task_key);
                    result
                });
                let flight = async move {
                    task.await.unwrap_or_else(|err| {
                        tracing::error!(%err, "credential fetch task failed");
                        Err(BrokerError::ControlPlane("internal task failure".to_owned()))
                    })
                }
                .boxed()
                .shared();
                inflight.insert(key, flight.clone());
                flight
            }
        };
        flight.await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn concurrent_callers_share_one_run_and_later_callers_start_another() {
        let flights = Arc::new(SingleFlight::<u32>::default());
        let runs = Arc::new(AtomicUsize::new(0));
        let (release, released) = tokio::sync::watch::channel(false);
        let mut callers = Vec::new();
        for _ in 0..20 {
            let (flights, runs, mut released) = (flights.clone(), runs.clone(), released.clone());
            callers.push(tokio::spawn(async move {
                flights
                    .run("grant-1".into(), async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        let _ = released.wait_for(|r| *r).await;
                        Ok(7)
                    })
                    .await
            }));
        }
        crate::credentials::tests_support::eventually(|| runs.load(Ordering::SeqCst) == 1).await;
        release.send(true).unwrap();
        for caller in callers {
            assert_eq!(caller.await.unwrap().unwrap(), 7);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1, "one fetch for twenty callers");
        let runs2 = runs.clone();
        let again = flights.run("grant-1".into(), async move {
            runs2.fetch_add(1, Ordering::SeqCst);
            Ok(8)
        });
        assert_eq!(again.await.unwrap(), 8);
        assert_eq!(runs.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn the_work_finishes_even_if_its_caller_goes_away() {
        let flights = Arc::new(SingleFlight::<u32>::default());
        let done = Arc::new(AtomicUsize::new(0));
        let (started_tx, started) = tokio::sync::oneshot::channel::<()>();
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let caller = tokio::spawn({
            let (flights, done) = (flights.clone(), done.clone());
            async move {
                flights
                    .run("k".into(), async move {
                        let _ = started_tx.send(());
                        let _ = released.await;
                        done.fetch_add(1, Ordering::SeqCst);
                        Ok(1)
                    })
                    .await
            }
        });
        started.await.unwrap();
        caller.abort();
        let _ = caller.await;
        release.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(5), async {
            crate::credentials::tests_support::eventually(|| done.load(Ordering::SeqCst) == 1).await
        })
        .await
        .unwrap();
    }
}
