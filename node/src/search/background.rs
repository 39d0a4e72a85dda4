//! Indexing as background work: the index follows the journal, so its CPU
//! can wait while requests (a burst of received offers, searches) need it.
//!
//! - [`lower_priority`] renices the calling thread (Linux: niceness is per
//!   thread, and threads inherit it from the thread that creates them).
//! - The index writers are created on a thread at that niceness, so
//!   tantivy's indexing, merge and segment threads inherit it; the
//!   committer threads lower themselves (tantivy respawns its indexing
//!   threads from the committing thread).
//! - [`Background`] is one thread at that niceness where the follower
//!   builds documents and hands them to the writers.

use std::sync::mpsc;
use std::sync::Mutex;

use tokio::sync::oneshot;

/// Lower the calling thread's scheduling priority to `nice` (0 leaves it).
/// Best effort: a refusal is logged, the work goes on at normal priority.
pub(crate) fn lower_priority(nice: i32) {
    if nice <= 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        // SAFETY: gettid and setpriority have no memory effects; on Linux
        // PRIO_PROCESS with a thread id applies to that thread only.
        let rc = unsafe {
            let tid = libc::gettid();
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice)
        };
        if rc != 0 {
            tracing::warn!(
                nice,
                error = %std::io::Error::last_os_error(),
                "could not lower the indexing threads' priority"
            );
        }
    }
}

/// Run `f` on a new thread at niceness `nice` and return its result (the
/// threads `f` creates inherit the niceness).
pub(crate) fn at_priority<T: Send>(nice: i32, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        let handle = s.spawn(|| {
            lower_priority(nice);
            f()
        });
        match handle.join() {
            Ok(v) => v,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// `f` of each item, the first on this thread and each other on a thread
/// of its own, the results in the items' order (a panic on any thread is
/// resumed here): one query's work split across cores.
pub(crate) fn on_threads<I: Send, R: Send>(items: Vec<I>, f: impl Fn(I) -> R + Sync) -> Vec<R> {
    let mut items = items.into_iter();
    let Some(first) = items.next() else {
        return Vec::new();
    };
    let f = &f;
    std::thread::scope(|s| {
        let running: Vec<_> = items.map(|item| s.spawn(move || f(item))).collect();
        let mut results = Vec::with_capacity(running.len() + 1);
        results.push(f(first));
        for thread in running {
            match thread.join() {
                Ok(r) => results.push(r),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        results
    })
}

type Job = Box<dyn FnOnce() + Send>;

/// One long-lived thread at the indexing niceness, running the follower's
/// blocking work in order.
pub struct Background {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
}

impl Background {
    /// Start the thread.
    pub fn start(nice: i32) -> std::io::Result<Background> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("vivier-index".into())
            .spawn(move || {
                lower_priority(nice);
                // Ends when every sender is gone. A job that panics fails
                // alone (its caller gets `None`); the thread goes on.
                for job in rx {
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
            })?;
        Ok(Background {
            jobs: Mutex::new(Some(tx)),
        })
    }

    /// Run `f` on the thread; `None` if `f` panicked or the thread was
    /// shut down.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        {
            let jobs = self.jobs.lock().ok()?;
            jobs.as_ref()?.send(job).ok()?;
        }
        rx.await.ok()
    }

    /// Let the thread end once its queued jobs are done.
    pub fn shutdown(&self) {
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.take();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn own_nice() -> i32 {
        // SAFETY: as above.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
    }

    #[test]
    fn threads_created_at_a_priority_inherit_it() {
        let base = own_nice();
        let nice = (base + 5).min(19);
        let (own, child) = at_priority(nice, || {
            let child = std::thread::spawn(own_nice).join().expect("child");
            (own_nice(), child)
        });
        assert_eq!((own, child), (nice, nice));
        // The caller keeps its own.
        assert_eq!(own_nice(), base);
    }

    #[tokio::test]
    async fn background_runs_jobs_in_order_at_its_priority() {
        let base = own_nice();
        let nice = (base + 3).min(19);
        let bg = Background::start(nice).expect("start");
        let mut seen = Vec::new();
        for i in 0..5 {
            seen.push(bg.run(move || (i, own_nice())).await.expect("run"));
        }
        assert_eq!(seen, (0..5).map(|i| (i, nice)).collect::<Vec<_>>());
        bg.shutdown();
        assert!(bg.run(|| ()).await.is_none(), "no job after shutdown");
    }
}
