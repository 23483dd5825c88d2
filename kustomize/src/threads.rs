//! The render's worker threads: how many there may be, and running
//! contiguous runs of independent work on them with results in order.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::resource::Resource;

/// How many threads a render may use: the machine's cores, or
/// `FLOTILLA_RENDER_THREADS` (1 renders sequentially).
fn limit() -> usize {
    static LIMIT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(|| {
        std::env::var("FLOTILLA_RENDER_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    })
}

/// Worker threads currently running, across all levels of a render (and
/// renders running at once), so nested levels do not multiply threads.
static BUSY: AtomicUsize = AtomicUsize::new(0);

/// How many more threads may start now: [`limit`] less those running.
pub(crate) fn spare() -> usize {
    // A test's own count stands alone: threads of other tests running at
    // the same time must not take it off the threaded path unnoticed.
    #[cfg(test)]
    if let Some(n) = tests::LIMIT.with(std::cell::Cell::get) {
        return n;
    }
    limit().saturating_sub(BUSY.load(Ordering::Relaxed))
}

/// Runs `work` on each of `runs`, one scoped thread per run, and returns
/// the results in run order, so output and the first error reported never
/// depend on scheduling.
pub(crate) fn in_order<I: Send, R: Send>(
    runs: impl IntoIterator<Item = I>,
    work: impl Fn(I) -> R + Sync,
) -> Vec<R> {
    let work = &work;
    let runs: Vec<I> = runs.into_iter().collect();
    let _busy = Busy::add(runs.len());
    std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .into_iter()
            .map(|run| scope.spawn(move || work(run)))
            .collect();
        handles
            .into_iter()
            .map(|h| match h.join() {
                Ok(result) => result,
                // The work only panics on a bug; surface it where it happened.
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// Runs a per-object transform over `resources`: split into contiguous
/// runs on the spare threads when each gets at least `min_per_thread`
/// objects, else in one go. Only for work where each object's result
/// depends on that object alone, so any split gives the same result.
pub(crate) fn each_run(
    resources: &mut [Resource],
    min_per_thread: usize,
    work: impl Fn(&mut [Resource]) + Sync,
) {
    let threads = spare().min(resources.len() / min_per_thread);
    if threads < 2 {
        work(resources);
        return;
    }
    let per_thread = resources.len().div_ceil(threads);
    in_order(resources.chunks_mut(per_thread), work);
}

/// Counts threads as busy while it lives (a panic unwinding through
/// [`in_order`] releases them too).
struct Busy(usize);

impl Busy {
    fn add(threads: usize) -> Self {
        BUSY.fetch_add(threads, Ordering::Relaxed);
        Busy(threads)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        BUSY.fetch_sub(self.0, Ordering::Relaxed);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::cell::Cell;

    thread_local! {
        /// A test's own limit, so one test can compare thread counts.
        pub(super) static LIMIT: Cell<Option<usize>> = const { Cell::new(None) };
    }

    /// Runs `f` with `threads` spare threads for the decisions made on this
    /// thread.
    pub(crate) fn with_limit<R>(threads: usize, f: impl FnOnce() -> R) -> R {
        LIMIT.with(|l| l.set(Some(threads)));
        let result = f();
        LIMIT.with(|l| l.set(None));
        result
    }
}
