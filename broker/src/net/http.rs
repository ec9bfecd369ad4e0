//! HTTP/1.1 (hyper) over the runtime's own streams and timers, so that the control plane's API
//! runs unchanged on tokio and on madsim: hyper's own tokio helpers would call real tokio's
//! runtime, which does not exist in the simulation.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// hyper's timer on `tokio::time` (simulated time under madsim). hyper needs it for the
/// header-read timeout that stops a client holding a connection open with half a request.
#[derive(Debug, Clone, Copy, Default)]
pub struct RuntimeTimer;

struct RuntimeSleep(Pin<Box<tokio::time::Sleep>>);

impl Future for RuntimeSleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for RuntimeSleep {}

impl hyper::rt::Timer for RuntimeTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(RuntimeSleep(Box::pin(tokio::time::sleep(duration))))
    }

    #[allow(clippy::disallowed_methods, reason = "hyper hands a std deadline; madsim simulates std's clock too")]
    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep(deadline.saturating_duration_since(std::time::Instant::now()))
    }
}

/// Wall-clock milliseconds since the Unix epoch, for timestamps people read (audit events,
/// creation times). Under madsim this is the simulated clock.
#[allow(clippy::disallowed_methods, reason = "wall time for records; madsim simulates it in simulation")]
pub fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
