//! The render's worker threads: how many there may be, and running
//! contiguous runs of independent work on them with results in order.

/// How many threads a render may use: the machine's cores, or
/// `FLOTILLA_RENDER_THREADS` (1 renders sequentially).
pub(crate) fn limit() -> usize {
    static LIMIT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *LIMIT.get_or_init(|| {
        std::env::var("FLOTILLA_RENDER_THREADS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    })
}

/// Runs `work` on each of `runs`, one scoped thread per run, and returns
/// the results in run order, so output and the first error reported never
/// depend on scheduling.
pub(crate) fn in_order<I: Send, R: Send>(
    runs: impl IntoIterator<Item = I>,
    work: impl Fn(I) -> R + Sync,
) -> Vec<R> {
    let work = &work;
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
