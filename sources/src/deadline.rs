//! Timeouts and cancellation for blocking gix calls.
//!
//! gix checks an interrupt flag between steps of a fetch; a watchdog thread
//! raises that flag when the deadline passes or the caller cancels. Blocking
//! socket reads cannot see the flag, so the transports also get read
//! timeouts derived from the same deadline (see `transport`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Why the interrupt flag was raised, if it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    TimedOut,
    Cancelled,
}

/// A deadline plus the interrupt flag handed to gix.
pub(crate) struct Deadline {
    pub at: Instant,
    pub timeout: Duration,
    pub interrupt: AtomicBool,
    timed_out: AtomicBool,
    cancelled: AtomicBool,
}

/// How often the watchdog looks at the caller's cancellation flag.
const CANCEL_POLL: Duration = Duration::from_millis(20);

impl Deadline {
    pub fn new(timeout: Duration) -> Self {
        Deadline {
            at: Instant::now() + timeout,
            timeout,
            interrupt: AtomicBool::new(false),
            timed_out: AtomicBool::new(false),
            cancelled: AtomicBool::new(false),
        }
    }

    /// Time left, at least one millisecond so it can be used as a socket timeout.
    pub fn remaining(&self) -> Duration {
        self.at
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    }

    /// Whether (and why) the work has to stop, checking the clock too.
    pub fn stopped(&self) -> Option<Stop> {
        if self.cancelled.load(Ordering::SeqCst) {
            Some(Stop::Cancelled)
        } else if self.timed_out.load(Ordering::SeqCst) || Instant::now() >= self.at {
            Some(Stop::TimedOut)
        } else {
            None
        }
    }

    /// Runs `work` while a watchdog raises `interrupt` on timeout or when `cancel` is set.
    pub fn run<T>(&self, cancel: &AtomicBool, work: impl FnOnce() -> T) -> T {
        let (done_tx, done_rx) = mpsc::channel::<()>();
        std::thread::scope(|scope| {
            scope.spawn(move || {
                loop {
                    if cancel.load(Ordering::SeqCst) {
                        self.cancelled.store(true, Ordering::SeqCst);
                        self.interrupt.store(true, Ordering::SeqCst);
                        return;
                    }
                    let left = self.at.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        self.timed_out.store(true, Ordering::SeqCst);
                        self.interrupt.store(true, Ordering::SeqCst);
                        return;
                    }
                    match done_rx.recv_timeout(left.min(CANCEL_POLL)) {
                        Err(mpsc::RecvTimeoutError::Timeout) => continue,
                        // Finished (or the sender is gone): nothing left to watch.
                        _ => return,
                    }
                }
            });
            let result = work();
            // The watchdog may already have returned; a failed send is fine.
            let _ = done_tx.send(());
            result
        })
    }
}
