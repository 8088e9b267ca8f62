//! Password hashing as the server runs it: at most `concurrency` Argon2 computations at
//! once, up to `queue` more waiting their turn, and any beyond that refused at once
//! ([`FlowError::Busy`], answered 503 with `Retry-After`).
//!
//! Why: each Argon2id computation holds 19 MiB and a core for about 20 ms. Unbounded, a
//! burst of logins (anyone can send one) ran hundreds at once — gigabytes of memory, every
//! login slow — while only as many as there are cores make progress. Bounded, memory stays
//! at `concurrency` × 19 MiB (the buffers are reused, see `password`), queued logins wait
//! at most `queue` ÷ `concurrency` hashes, and an overload is told to come back rather
//! than making everyone wait.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use akin_domain::ports::PasswordHasher;
use tokio::sync::Semaphore;

use crate::error::{FlowError, FlowResult};

/// How much hashing runs at once, and how much may wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashingLimits {
    /// Computations at once (default: the cores this process may use).
    pub concurrency: usize,
    /// Computations waiting for one of those (default: 32 per core, well under a
    /// second's wait).
    pub queue: usize,
}

impl Default for HashingLimits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        HashingLimits {
            concurrency: cores,
            queue: 32 * cores,
        }
    }
}

/// The password hasher behind its limits. Cheap to clone; clones share the limits.
#[derive(Clone)]
pub struct Hashing {
    hasher: Arc<dyn PasswordHasher>,
    permits: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
    limits: HashingLimits,
}

/// What the hashing is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashingLoad {
    pub running: usize,
    pub waiting: usize,
    pub limits: HashingLimits,
}

/// Takes a place in the queue back when the waiting ends, however it ends (a client that
/// goes away drops its request's future while it waits).
struct Waiting<'a>(&'a AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Hashing {
    pub fn new(hasher: Arc<dyn PasswordHasher>, limits: HashingLimits) -> Self {
        let limits = HashingLimits {
            concurrency: limits.concurrency.max(1),
            queue: limits.queue,
        };
        Hashing {
            hasher,
            permits: Arc::new(Semaphore::new(limits.concurrency)),
            waiting: Arc::default(),
            limits,
        }
    }

    /// The hasher itself, for work outside requests (start-up, the CLI).
    pub fn hasher(&self) -> &Arc<dyn PasswordHasher> {
        &self.hasher
    }

    pub fn load(&self) -> HashingLoad {
        HashingLoad {
            running: self.limits.concurrency - self.permits.available_permits(),
            waiting: self.waiting.load(Ordering::Acquire),
            limits: self.limits,
        }
    }

    /// Runs `work` with the hasher on a blocking thread once a place is free; refused with
    /// [`FlowError::Busy`] when the queue is full too. A computation started finishes even
    /// if its request is gone, holding its place until then: the limits count real work.
    pub async fn run<T, F>(&self, work: F) -> FlowResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&dyn PasswordHasher) -> T + Send + 'static,
    {
        let permit = match self.permits.clone().try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.limits.queue {
                    self.waiting.fetch_sub(1, Ordering::AcqRel);
                    return Err(FlowError::Busy {
                        retry_after_seconds: 1,
                    });
                }
                let _waiting = Waiting(&self.waiting);
                self.permits
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|e| FlowError::Internal(e.to_string()))?
            }
        };
        let hasher = self.hasher.clone();
        Ok(tokio::task::spawn_blocking(move || {
            let done = work(hasher.as_ref());
            drop(permit);
            done
        })
        .await?)
    }

    /// A new hash of `password`.
    pub async fn hash(&self, password: String) -> FlowResult<String> {
        Ok(self.run(move |hasher| hasher.hash(&password)).await??)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use akin_domain::DomainError;
    use std::time::Duration;

    /// A hasher that takes 100 ms, like a slow Argon2, and counts how many run at once.
    struct Slow {
        running: AtomicUsize,
        most: AtomicUsize,
    }

    impl PasswordHasher for Slow {
        fn hash(&self, password: &str) -> Result<String, DomainError> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(100));
            self.running.fetch_sub(1, Ordering::SeqCst);
            Ok(format!("hashed {password}"))
        }
        fn verify(&self, _: &str, _: &str) -> bool {
            false
        }
        fn needs_rehash(&self, _: &str) -> bool {
            false
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_concurrency_run_the_queue_waits_and_the_rest_are_refused() {
        let slow = Arc::new(Slow {
            running: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
        });
        let hashing = Hashing::new(
            slow.clone(),
            HashingLimits {
                concurrency: 2,
                queue: 3,
            },
        );
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let hashing = hashing.clone();
                tokio::spawn(async move { hashing.hash(format!("p{i}")).await })
            })
            .collect();
        let mut done = 0;
        let mut busy = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(hash) => {
                    assert!(hash.starts_with("hashed p"));
                    done += 1;
                }
                Err(FlowError::Busy { .. }) => busy += 1,
                Err(other) => panic!("{other}"),
            }
        }
        // Two running and three waiting are served; three more are refused at once.
        assert_eq!((done, busy), (5, 3));
        assert_eq!(slow.most.load(Ordering::SeqCst), 2);
        let load = hashing.load();
        assert_eq!((load.running, load.waiting), (0, 0));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_waiter_that_goes_away_gives_its_place_back() {
        let slow = Arc::new(Slow {
            running: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
        });
        let hashing = Hashing::new(
            slow,
            HashingLimits {
                concurrency: 1,
                queue: 1,
            },
        );
        let first = tokio::spawn({
            let hashing = hashing.clone();
            async move { hashing.hash("a".into()).await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        // The queue's one place is taken, then given up (a client disconnecting).
        let gone = tokio::time::timeout(Duration::from_millis(20), hashing.hash("b".into())).await;
        assert!(gone.is_err(), "timed out while waiting");
        assert_eq!(hashing.load().waiting, 0);
        assert!(hashing.hash("c".into()).await.is_ok());
        assert!(first.await.unwrap().is_ok());
    }
}
