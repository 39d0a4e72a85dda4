//! Indexing as background work: the index follows the journal, so its CPU
//! can wait while requests (a burst of received offers, searches) need it.
//!
//! - [`lower_priority`] renices the calling thread (Linux: niceness is per
//!   thread, and threads inherit it from the thread that creates them) and,
//!   with `idle`, moves it to `SCHED_IDLE`: the smallest scheduler weight
//!   (3, against 1,024 at niceness 0), so it gets next to nothing of a core
//!   that a request's thread wants, and such a thread that wakes takes the
//!   core from it at once.
//! - The index writers are created on a thread at that niceness, so
//!   tantivy's indexing, merge and segment threads inherit it (merges stay
//!   at the niceness, never idle: segments must not pile up under a long
//!   load). Tantivy respawns its indexing threads from whichever thread
//!   commits: normally the index's committer, which lowers itself (idle
//!   included for the offer index). A rebuild commits from its own thread;
//!   the threads it respawns keep that thread's priority until the
//!   committer's next commit.
//! - [`Background`] is one thread at that priority where the follower
//!   builds documents and hands them to the writers (one per index).
//! - Only the offer index goes idle (`index_idle`): offers are what peers
//!   send in bursts; the candidate index holds our own people's records and
//!   must follow their changes and erasures whatever the load (it has its
//!   own follower loop, see `journal`).
//!
//! An idle index can lag as long as the cores are busy: the inbox refuses
//! new batches while the journal is too far ahead of the indexes
//! (`[federation] inbox_max_index_backlog`, see `journal::measure_backlog`),
//! which stops a flood of received offers from adding to it.

use std::sync::mpsc;
use std::sync::Mutex;

use tokio::sync::oneshot;

/// Lower the calling thread's scheduling priority to `nice` (0 leaves it)
/// and, with `idle`, to `SCHED_IDLE` (Linux; elsewhere the niceness only).
/// Best effort: a refusal is logged, the work goes on at the priority it
/// had. Lowering needs no privilege; raising it again would, so it is done
/// on threads that keep it for their life.
pub(crate) fn lower_priority(nice: i32, idle: bool) {
    if idle {
        idle_self();
    }
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

/// Move the calling thread to `SCHED_IDLE` (Linux; nothing elsewhere).
fn idle_self() {
    #[cfg(target_os = "linux")]
    {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: `param` outlives the call; on Linux pid 0 is the calling
        // thread, whose policy alone changes.
        let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) };
        if rc != 0 {
            tracing::warn!(
                error = %std::io::Error::last_os_error(),
                "could not move an indexing thread to SCHED_IDLE"
            );
        }
    }
}

/// Run `f` on a new thread at niceness `nice` and return its result (the
/// threads `f` creates inherit the niceness).
pub(crate) fn at_priority<T: Send>(nice: i32, f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| {
        let handle = s.spawn(|| {
            lower_priority(nice, false);
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

/// One long-lived thread at the indexing priority, running the follower's
/// blocking work in order.
pub struct Background {
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
}

impl Background {
    /// Start the thread.
    pub fn start(name: &str, nice: i32, idle: bool) -> std::io::Result<Background> {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                lower_priority(nice, idle);
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
        let bg = Background::start("t", nice, false).expect("start");
        let mut seen = Vec::new();
        for i in 0..5 {
            seen.push(bg.run(move || (i, own_nice())).await.expect("run"));
        }
        assert_eq!(seen, (0..5).map(|i| (i, nice)).collect::<Vec<_>>());
        bg.shutdown();
        assert!(bg.run(|| ()).await.is_none(), "no job after shutdown");
    }

    #[cfg(target_os = "linux")]
    fn own_policy() -> i32 {
        // SAFETY: no memory effects; pid 0 is the calling thread.
        unsafe { libc::sched_getscheduler(0) }
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn an_idle_background_and_the_threads_it_creates_are_sched_idle() {
        let base = own_policy();
        let bg = Background::start("t", 0, true).expect("start");
        let seen = bg
            .run(|| {
                let child = std::thread::spawn(own_policy).join().expect("child");
                (own_policy(), child)
            })
            .await
            .expect("run");
        assert_eq!(seen, (libc::SCHED_IDLE, libc::SCHED_IDLE));
        // Not idle: the normal policy, and the caller keeps its own.
        let normal = Background::start("t", 0, false).expect("start");
        assert_eq!(normal.run(own_policy).await, Some(libc::SCHED_OTHER));
        assert_eq!(own_policy(), base);
        bg.shutdown();
        normal.shutdown();
    }
}
