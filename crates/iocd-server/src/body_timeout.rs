//! A request body that fails when its client goes quiet: each wait for the next piece of the
//! body may last at most the configured time, so a client that starts a body and stalls holds
//! its connection (and, for bulk loads, its worker threads) only that long. A body that fails
//! this way is answered 408 `RequestTimeout`.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http_body::Frame;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// The error a body that went quiet for too long fails with.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the client sent nothing of the request body for {0} seconds")]
pub(crate) struct BodyStalled(u64);

/// Whether `error`, or any error it wraps, is [`BodyStalled`].
pub(crate) fn is_stalled(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error.is::<BodyStalled>() {
            return true;
        }
        current = error.source();
    }
    false
}

/// A body whose every wait for data is bounded by `timeout`, counted from the first time the
/// handler asks for it.
struct TimedBody {
    inner: Body,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
    started: bool,
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        if !this.started {
            this.started = true;
            this.deadline.as_mut().reset(Instant::now() + this.timeout);
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.deadline.as_mut().reset(Instant::now() + this.timeout);
                Poll::Ready(frame)
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(axum::Error::new(BodyStalled(
                    this.timeout.as_secs(),
                ))))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// Middleware: gives every request body the read timeout of `timeout` per wait.
pub(crate) async fn limit_body_waits(
    State(timeout): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let timed = TimedBody {
        inner: body,
        timeout,
        deadline: Box::pin(tokio::time::sleep(timeout)),
        started: false,
    };
    next.run(Request::from_parts(parts, Body::new(timed))).await
}
