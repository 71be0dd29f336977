//! A request's body as the connection sees it: lent to the handler, given back when the handler
//! lets go of it, counted as it arrives, and settled after the handler has answered.
//!
//! Invariants:
//! - What was *received* (the metrics, the access log) is counted from the bytes that arrived,
//!   never from what the client declared.
//! - A body the handler left unread (an early error: no such bucket, a refused signature) is
//!   drained for at most [`DRAIN_BYTES`] and the read timeout, and only while it keeps coming
//!   ([`DRAIN_IDLE`]), before the answer goes out: a client still sending an ordinary body
//!   then reads the S3 error instead of a reset connection, and one that sends nothing more is
//!   answered at once.
//! - A body still unfinished after that is held, unread, until the response has been written:
//!   the HTTP layer then closes the connection after the answer. Dropping it instead would have
//!   the HTTP layer drain a chunked body for as long as the client sends one.

use std::cell::{Cell, RefCell};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::HttpResponse;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use crate::timed::{Holding, InFlight};

/// The most of an unread body that is read and thrown away before answering.
pub(crate) const DRAIN_BYTES: u64 = 16 * 1024 * 1024;
/// How long a drain waits for the next piece of the body.
const DRAIN_IDLE: Duration = Duration::from_secs(1);

struct Shared {
    /// The payload while it is not lent out.
    home: RefCell<Option<Payload>>,
    received: Cell<u64>,
    /// The payload ended (or failed): nothing more will come.
    ended: Cell<bool>,
}

/// The request's payload and what arrived of it.
pub(crate) struct Intake(Rc<Shared>);

impl Intake {
    pub(crate) fn new(payload: Payload) -> Intake {
        Intake(Rc::new(Shared {
            home: RefCell::new(Some(payload)),
            received: Cell::new(0),
            ended: Cell::new(false),
        }))
    }

    /// Lends the payload to a handler; given back when the [`Lent`] is dropped. A second loan
    /// while the first is out gets an empty body.
    pub(crate) fn lend(&self) -> Lent {
        Lent {
            payload: self.0.home.borrow_mut().take(),
            shared: self.0.clone(),
        }
    }

    /// Body bytes received so far.
    pub(crate) fn received(&self) -> u64 {
        self.0.received.get()
    }

    /// Reads and discards what the handler left of the body, within the bounds; true when the
    /// body has ended.
    pub(crate) async fn drain(&self, timeout: Duration) -> bool {
        if self.0.ended.get() {
            return true;
        }
        let mut rest = self.lend();
        let limit = self.received().saturating_add(DRAIN_BYTES);
        let drained = tokio::time::timeout(timeout, async {
            while self.received() <= limit {
                match tokio::time::timeout(DRAIN_IDLE, rest.next()).await {
                    Ok(Some(Ok(_))) => {}
                    Ok(None | Some(Err(_))) | Err(_) => return,
                }
            }
        })
        .await;
        drained.is_ok() && self.0.ended.get()
    }

    /// The response, made to hold the request's place on its connection (and the payload,
    /// when it has not ended) until its body has been written.
    pub(crate) fn settle(self, resp: HttpResponse, in_flight: Option<InFlight>) -> HttpResponse {
        let payload = match self.0.ended.get() {
            true => None,
            false => self.0.home.borrow_mut().take(),
        };
        resp.map_body(move |_, body| {
            // Without a body, nothing of the response can be mistaken for the HTTP layer's own.
            if payload.is_none() && matches!(body.size(), BodySize::None) {
                return body;
            }
            BoxBody::new(Holding::new(body, (in_flight, payload)))
        })
    }
}

/// The payload, lent to a handler.
pub(crate) struct Lent {
    payload: Option<Payload>,
    shared: Rc<Shared>,
}

impl Stream for Lent {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        let Some(payload) = this.payload.as_mut() else {
            return Poll::Ready(None);
        };
        let next = Pin::new(payload).poll_next(cx);
        match &next {
            Poll::Ready(Some(Ok(chunk))) => {
                let s = &this.shared;
                s.received
                    .set(s.received.get().saturating_add(chunk.len() as u64));
            }
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => this.shared.ended.set(true),
            Poll::Pending => {}
        }
        next
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        if let Some(p) = self.payload.take() {
            *self.shared.home.borrow_mut() = Some(p);
        }
    }
}
