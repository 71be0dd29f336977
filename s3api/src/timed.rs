//! A connection whose writes may not stall for longer than the write timeout: a client that
//! stops reading its response (or reads it a byte at a time) cannot hold a connection, and the
//! response's buffers, forever.
//!
//! Nor may a connection wait for its next request for ever. The HTTP layer times only the first
//! request head of a connection; after that, a client that sends one byte of the next head and
//! stops would keep the connection open for good. So while none of its requests is being
//! answered, a connection must start its next request within the idle timeout plus the read
//! timeout (the idle wait for a first byte, then the head itself), counted from the moment the
//! last answer was written. A request being answered (its body has its own timeout) stops that
//! clock; the requests tell the connection through [`Requests`].
//!
//! A request counts as answered once the HTTP layer has flushed what followed the end of its
//! response body: while none is in flight, nothing written can be a byte of an answer of ours.
//! That is what lets the connection tell the HTTP layer's own answers apart, and give the one
//! that clients cannot read, the bare 431 for a request of more headers than it parses, as an
//! S3 error document instead.
//!
//! When the server stops, a connection with no request in flight ends at once, and one with a
//! request in flight ends once that request is answered ([`Stopping`]): the HTTP layer would
//! otherwise keep an idle keep-alive connection open until its idle timeout, and the server's
//! stop waits for every connection to end.
//!
//! Every listener's connections are `Timed` (the S3 API's, the console's, the operations
//! listener's). The S3 pipeline counts its requests in `dispatch`; the other listeners' apps
//! count theirs with [`counted`].

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::{BodySize, BoxBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::futures::OwnedNotified;
use tokio::sync::Notify;
use tokio::time::Sleep;

/// Whether the server is stopping, shared by all its connections.
#[derive(Debug, Default)]
pub(crate) struct Stopping {
    stopping: AtomicBool,
    /// Wakes the connections waiting for their next request.
    woken: Arc<Notify>,
}

impl Stopping {
    /// Ends every connection with no request in flight, and the others after their answer.
    pub(crate) fn begin(&self) {
        self.stopping.store(true, Ordering::Release);
        self.woken.notify_waiters();
    }

    fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }
}

/// The requests of one connection, as the connection needs to know them.
#[derive(Debug, Default)]
pub(crate) struct Requests {
    /// Requests being answered, up to the end of their response body.
    in_flight: AtomicUsize,
    /// Moves each time the last request in flight is done.
    settled: AtomicU64,
    /// Requests whose response body has ended, done once it is flushed.
    ended: AtomicUsize,
}

impl Requests {
    /// Counts a request in flight until the returned guard is dropped.
    pub(crate) fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }
}

/// A request being answered.
#[derive(Debug)]
pub(crate) struct InFlight(Arc<Requests>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.ended.fetch_add(1, Ordering::AcqRel);
    }
}

impl Requests {
    /// After a flush: the requests whose response ended before it are done.
    fn flushed(&self) {
        let ended = self.ended.swap(0, Ordering::AcqRel);
        if ended > 0 && self.in_flight.fetch_sub(ended, Ordering::AcqRel) == ended {
            self.settled.fetch_add(1, Ordering::AcqRel);
        }
    }

    fn idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }
}

/// A response body that holds what it is given (its request's place on the connection, what is
/// left of the request's payload) until it has been written: the HTTP layer drops it then,
/// before the flush that settles the request.
pub(crate) struct Holding<T> {
    body: BoxBody,
    _held: T,
}

impl<T> Holding<T> {
    pub(crate) fn new(body: BoxBody, held: T) -> Holding<T> {
        Holding { body, _held: held }
    }
}

impl<T: Unpin> MessageBody for Holding<T> {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> BodySize {
        self.body.size()
    }

    fn poll_next(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_next(cx)
    }
}

/// Counts a request in flight on its connection until its answer is written, for the apps
/// whose handlers do not count their own (`App::wrap_fn`): the console's and the operations
/// listener's.
pub(crate) fn counted<S, B>(
    req: ServiceRequest,
    service: &S,
) -> impl Future<Output = Result<ServiceResponse<BoxBody>, actix_web::Error>> + 'static
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    let in_flight = req.conn_data::<Arc<Requests>>().map(|r| r.start());
    let answer = service.call(req);
    async move {
        Ok(answer.await?.map_body(|_, body| match body.size() {
            // Without a body, the request is done once its head is flushed.
            BodySize::None => body.boxed(),
            _ => BoxBody::new(Holding::new(body.boxed(), in_flight)),
        }))
    }
}

/// How the HTTP layer begins its answer to a request of more headers than it parses.
const BARE_431: &[u8] = b"HTTP/1.1 431 ";

pub(crate) struct Timed<T> {
    inner: T,
    limit: Duration,
    /// Running while the peer does not take what we write.
    stalled: Option<Pin<Box<Sleep>>>,
    requests: Arc<Requests>,
    /// How long the connection may wait for its next request.
    between: Duration,
    /// Running while no request is in flight, since the one `settled` count it names.
    waiting: Option<(u64, Pin<Box<Sleep>>)>,
    /// An answer written in place of the HTTP layer's own, and how much of it is written.
    replacement: Option<(Vec<u8>, usize)>,
    stopping: Arc<Stopping>,
    /// Registered once, to learn at once that the server stops.
    stop_wait: Option<Pin<Box<OwnedNotified>>>,
}

impl<T> Timed<T> {
    /// `limit` bounds a stalled write, `between` the wait for the next request; the connection
    /// ends between requests once `stopping` begins.
    pub(crate) fn new(
        inner: T,
        limit: Duration,
        between: Duration,
        stopping: Arc<Stopping>,
    ) -> Timed<T> {
        Timed {
            inner,
            limit,
            stalled: None,
            requests: Default::default(),
            between,
            waiting: None,
            replacement: None,
            stopping,
            stop_wait: None,
        }
    }

    /// Whether the server stops while no request is in flight. The first call registers the
    /// connection's task to be woken when the stop begins: a connection is one task for its
    /// whole life, so that one registration lasts (and no read takes the registry's lock).
    fn stopped_between_requests(&mut self, cx: &mut Context<'_>) -> bool {
        if self.stop_wait.is_none() {
            let mut wait = Box::pin(self.stopping.woken.clone().notified_owned());
            // Ready only when the stop began; a stop begun before this registration is seen
            // by the look at the flag below.
            let _ = wait.as_mut().poll(cx);
            self.stop_wait = Some(wait);
        }
        self.stopping.stopping() && self.requests.idle()
    }

    /// What the requests of this connection share with it.
    pub(crate) fn requests(&self) -> Arc<Requests> {
        self.requests.clone()
    }

    /// Whether the wait for the next request has lasted too long (and, while it runs, that the
    /// task is woken when it does).
    fn next_request_overdue(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.requests.idle() {
            self.waiting = None;
            return false;
        }
        let settled = self.requests.settled.load(Ordering::Acquire);
        let between = self.between;
        let timer = match &mut self.waiting {
            Some((since, timer)) if *since == settled => timer,
            waiting => {
                &mut waiting
                    .insert((settled, Box::pin(tokio::time::sleep(between))))
                    .1
            }
        };
        timer.as_mut().poll(cx).is_ready()
    }

    /// Maps a write's result: progress resets the clock, a wait runs it, and a wait that has
    /// lasted the limit fails the connection.
    fn timed<R>(&mut self, cx: &mut Context<'_>, r: Poll<io::Result<R>>) -> Poll<io::Result<R>> {
        if r.is_ready() {
            self.stalled = None;
            return r;
        }
        let limit = self.limit;
        let sleep = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client did not read its response within the write timeout",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Timed<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // The end of the stream: the HTTP layer closes the connection as when a client does.
        if this.stopped_between_requests(cx) {
            return Poll::Ready(Ok(()));
        }
        if this.next_request_overdue(cx) {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client did not send its next request within the header timeout",
            )));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> Timed<T> {
    /// Writes what is left of a replacement answer first.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((raw, done)) = &mut self.replacement {
            if *done == raw.len() {
                self.replacement = None;
                break;
            }
            let r = Pin::new(&mut self.inner).poll_write(cx, &raw[*done..]);
            match self.timed(cx, r) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    if let Some((_, done)) = &mut self.replacement {
                        *done += n;
                    }
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// The S3 error that replaces the HTTP layer's bare 431.
fn too_many_headers() -> Vec<u8> {
    crate::error::S3Error::header_too_large(
        "Your request header section exceeds the maximum number of headers this server reads",
    )
    .to_raw_response(&crate::access_log::request_id())
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Timed<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_replacement(cx))?;
        if this.requests.idle() && buf.starts_with(BARE_431) {
            // Taken whole: the connection closes after it, and nothing else is waiting.
            this.replacement = Some((too_many_headers(), 0));
            std::task::ready!(this.poll_replacement(cx))?;
            return Poll::Ready(Ok(buf.len()));
        }
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.timed(cx, r)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_replacement(cx))?;
        if this.requests.idle() && bufs.first().is_some_and(|b| b.starts_with(BARE_431)) {
            this.replacement = Some((too_many_headers(), 0));
            std::task::ready!(this.poll_replacement(cx))?;
            return Poll::Ready(Ok(bufs.iter().map(|b| b.len()).sum()));
        }
        let r = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.timed(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_replacement(cx))?;
        let r = Pin::new(&mut this.inner).poll_flush(cx);
        if let Poll::Ready(Ok(())) = r {
            this.requests.flushed();
            // The HTTP layer may have looked for the next request before this answer was done:
            // it looks again, and finds the end of the stream.
            if this.stopping.stopping() && this.requests.idle() {
                cx.waker().wake_by_ref();
            }
        }
        this.timed(cx, r)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_replacement(cx))?;
        let r = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.timed(cx, r)
    }
}
