//! The wall clock, in one place: under madsim it is the simulated clock, so a seed replays it.

/// Wall-clock milliseconds since the Unix epoch, for timestamps people read (audit events,
/// creation times) and for ages that must survive a restart (a segment's, for retention).
#[allow(clippy::disallowed_methods, reason = "wall time for records; madsim simulates it in simulation")]
pub fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// A timeout elapsed before the future completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

impl std::fmt::Display for Elapsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline has elapsed")
    }
}

/// `tokio::time::timeout` that arms its timer once per waker. madsim's `Sleep` adds an entry to
/// the simulator's timer heap on every poll that finds it pending, and entries are never
/// removed before their deadline: a request's timeout, polled at each read of its response, left
/// one entry (and one late spurious wakeup) per poll, and popping them was the largest single
/// cost of a saturated seed (9 %, perf). The registered waker is woken at the deadline, so
/// skipping the re-registration while the task's waker is the same keeps tokio's contract.
pub async fn timeout<F: std::future::Future>(duration: std::time::Duration, future: F) -> Result<F::Output, Elapsed> {
    use std::future::Future;
    use std::task::Poll;
    let mut future = std::pin::pin!(future);
    let mut sleep = std::pin::pin!(tokio::time::sleep(duration));
    let mut armed: Option<std::task::Waker> = None;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Ok(output));
        }
        if armed.as_ref().is_some_and(|waker| waker.will_wake(cx.waker())) {
            return if sleep.is_elapsed() { Poll::Ready(Err(Elapsed)) } else { Poll::Pending };
        }
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(Elapsed)),
            Poll::Pending => {
                armed = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    })
    .await
}
