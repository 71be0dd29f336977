//! Request bodies as a checked stream: `aws-chunked` decoding ([`crate::auth::chunked`]) with
//! every chunk signature verified as it streams, the declared SHA-256 and `x-amz-checksum-*`
//! values compared at the end, lengths checked. A failed check ends the stream with an error instead of its end, so the
//! VFS never publishes an object whose body did not check out.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::error::PayloadError;
use actix_web::HttpRequest;
use bytes::Bytes;
use futures_util::Stream;
use sha2::{Digest, Sha256};

use s3gate_vfs::ChecksumSlot;

use crate::auth::chunked::Decoder;
use crate::auth::{Auth, PayloadHash};
use crate::checksum::{self, Algorithm, Hasher};
use crate::error::{S3Error, S3Result};
use crate::headers::header;
use crate::intake::Lent;

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The largest single PUT S3 accepts.
pub(crate) const MAX_PUT_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// Where the expected value of an `x-amz-checksum-*` comes from.
enum Expected {
    Header(String),
    Trailer,
    /// Nothing to compare: the checksum is computed to be stored.
    Compute,
}

/// The request body, decoded and checked.
pub(crate) struct Body {
    payload: Lent,
    chunked: Option<Decoder>,
    sha256: Option<(Sha256, [u8; 32])>,
    checksum: Option<(Algorithm, Hasher, Expected)>,
    /// Receives the additional checksum once the whole body checked out.
    slot: ChecksumSlot,
    /// The size the decoded body must have, when declared.
    expected_len: Option<u64>,
    received: u64,
    done: bool,
    /// A client that sends nothing for this long is cut off (slow-body protection).
    idle_limit: std::time::Duration,
    idle: Pin<Box<tokio::time::Sleep>>,
    /// The idle timer runs: we are waiting for the client (not the client for us).
    waiting: bool,
}

impl Body {
    pub(crate) fn new(
        req: &HttpRequest,
        payload: Lent,
        auth: &Auth,
        idle_limit: std::time::Duration,
    ) -> S3Result<Body> {
        let content_length = header(req.head(), "content-length")
            .map(|v| {
                v.parse::<u64>()
                    .map_err(|_| S3Error::invalid_argument("Content-Length is not a number"))
            })
            .transpose()?;
        let mut body = Body {
            payload,
            chunked: None,
            sha256: None,
            checksum: None,
            slot: ChecksumSlot::default(),
            expected_len: content_length,
            received: 0,
            done: false,
            idle_limit,
            idle: Box::pin(tokio::time::sleep(idle_limit)),
            waiting: false,
        };
        match &auth.payload {
            PayloadHash::Unsigned => {}
            PayloadHash::Sha256(h) => body.sha256 = Some((Sha256::new(), *h)),
            PayloadHash::Streaming { signed, trailer } => {
                let decoded = header(req.head(), "x-amz-decoded-content-length")
                    .map(|v| {
                        v.parse::<u64>().map_err(|_| {
                            S3Error::invalid_argument(
                                "x-amz-decoded-content-length is not a number",
                            )
                        })
                    })
                    .transpose()?;
                if decoded.is_none() && !trailer {
                    return Err(S3Error::missing_content_length(
                        "aws-chunked uploads need x-amz-decoded-content-length",
                    ));
                }
                body.expected_len = decoded;
                // On an anonymous server chunk signatures are decoded but cannot be checked.
                body.chunked = Some(Decoder::new(auth.chunk_signer.clone(), *signed));
            }
        }
        if body.expected_len.is_some_and(|n| n > MAX_PUT_SIZE) {
            return Err(S3Error::entity_too_large(
                "Your proposed upload exceeds the maximum allowed size of 5 GiB",
            ));
        }
        // Which additional checksum to verify: a header value, or a trailer announced by
        // x-amz-trailer.
        if let Some(t) = header(req.head(), "x-amz-trailer") {
            let algo = Algorithm::from_header(t)
                .ok_or_else(|| S3Error::invalid_request(format!("unsupported trailer {t:?}")))?;
            if body.chunked.is_none() {
                return Err(S3Error::invalid_request(
                    "x-amz-trailer needs an aws-chunked body",
                ));
            }
            body.checksum = Some((algo, Hasher::new(algo), Expected::Trailer));
        } else {
            let mut sent = Algorithm::ALL
                .into_iter()
                .filter(|a| req.headers().contains_key(a.header()));
            if let Some(algo) = sent.next() {
                // One is checked and stored: a second would be taken on trust.
                if sent.next().is_some() {
                    return Err(S3Error::invalid_request(
                        "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
                    ));
                }
                let value = header(req.head(), algo.header())
                    .unwrap_or_default()
                    .to_string();
                body.checksum = Some((algo, Hasher::new(algo), Expected::Header(value)));
            }
        }
        // Asked to compute a checksum the client does not send itself.
        if let Some(name) = header(req.head(), "x-amz-sdk-checksum-algorithm")
            .or_else(|| header(req.head(), "x-amz-checksum-algorithm"))
        {
            body.require(Algorithm::from_name(name)?)?;
        }
        Ok(body)
    }

    /// Makes sure the body's checksum of `algo` is computed (and verified, when the client sent
    /// one); a body that carries a checksum of another algorithm is refused.
    pub(crate) fn require(&mut self, algo: Algorithm) -> S3Result<()> {
        match &self.checksum {
            None => {
                self.checksum = Some((algo, Hasher::new(algo), Expected::Compute));
                Ok(())
            }
            Some((a, _, _)) if *a == algo => Ok(()),
            Some((a, _, _)) => Err(S3Error::invalid_request(format!(
                "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                algo.name().to_ascii_lowercase(),
                a.name().to_ascii_lowercase()
            ))),
        }
    }

    /// For requests whose `x-amz-checksum-*` headers describe an object, not this body
    /// (CompleteMultipartUpload): those headers are not checked against the body.
    pub(crate) fn ignore_checksum_headers(&mut self) {
        if matches!(self.checksum, Some((_, _, Expected::Header(_)))) {
            self.checksum = None;
        }
    }

    /// The client sent a checksum of this body (a header or a trailer) that it is checked
    /// against as it streams.
    pub(crate) fn checked_by_client(&self) -> bool {
        matches!(
            self.checksum,
            Some((_, _, Expected::Header(_) | Expected::Trailer))
        )
    }

    /// The decoded size the client declared before sending, if it did.
    pub(crate) fn declared_len(&self) -> Option<u64> {
        self.expected_len
    }

    /// Where the verified checksum will be, once the body has been read to its end.
    pub(crate) fn slot(&self) -> ChecksumSlot {
        self.slot.clone()
    }

    /// Feeds one decoded piece through the hashes.
    fn account(&mut self, data: &Bytes) -> S3Result<()> {
        self.received += data.len() as u64;
        // Refused before the surplus is passed on: it must never reach storage.
        if let Some(n) = self.expected_len.filter(|&n| self.received > n) {
            return Err(S3Error::incomplete_body(format!(
                "The request body is longer than the {n} bytes declared"
            )));
        }
        if self.received > MAX_PUT_SIZE {
            return Err(S3Error::entity_too_large(
                "Your proposed upload exceeds the maximum allowed size of 5 GiB",
            ));
        }
        if let Some((_, h, _)) = &mut self.checksum {
            h.update(data);
        }
        Ok(())
    }

    /// The checks that can only run once the whole body is in.
    fn finish(&mut self) -> S3Result<()> {
        if let Some(d) = &mut self.chunked {
            d.finish()?;
        }
        if let Some(n) = self.expected_len {
            if n != self.received {
                return Err(S3Error::incomplete_body(format!(
                    "You did not provide the number of bytes specified: expected {n}, received {}",
                    self.received
                )));
            }
        }
        if let Some((h, want)) = self.sha256.take() {
            if <[u8; 32]>::from(h.finalize()) != want {
                return Err(S3Error::content_sha256_mismatch(
                    "The provided 'x-amz-content-sha256' header does not match what was computed.",
                ));
            }
        }
        if let Some((algo, h, expected)) = self.checksum.take() {
            let got = h.finish_base64();
            let want = match expected {
                Expected::Compute => got.clone(),
                Expected::Header(v) => v,
                Expected::Trailer => self
                    .chunked
                    .as_ref()
                    .and_then(|d| d.trailer(algo.header()))
                    .ok_or_else(|| {
                        S3Error::invalid_request(format!(
                            "the {} trailer is missing",
                            algo.header()
                        ))
                    })?,
            };
            let _ = self.slot.set(checksum::verified(algo, got, &want)?);
        }
        Ok(())
    }

    fn poll_inner(&mut self, cx: &mut Context<'_>) -> Poll<Option<S3Result<Bytes>>> {
        loop {
            if let Some(d) = &mut self.chunked {
                if let Some(piece) = d.next_piece()? {
                    self.account(&piece)?;
                    return Poll::Ready(Some(Ok(piece)));
                }
            }
            match Pin::new(&mut self.payload).poll_next(cx) {
                Poll::Pending => {
                    if !self.waiting {
                        self.waiting = true;
                        let deadline = tokio::time::Instant::now() + self.idle_limit;
                        self.idle.as_mut().reset(deadline);
                    }
                    if self.idle.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Some(Err(S3Error::request_timeout(
                            "Your socket connection to the server was not read from or written to within the timeout period.",
                        ))));
                    }
                    return Poll::Pending;
                }
                Poll::Ready(Some(Ok(raw))) => {
                    self.waiting = false;
                    if let Some((h, _)) = &mut self.sha256 {
                        h.update(&raw);
                    }
                    match &mut self.chunked {
                        Some(d) => d.push(&raw),
                        None => {
                            self.account(&raw)?;
                            return Poll::Ready(Some(Ok(raw)));
                        }
                    }
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(payload_error(e)))),
                Poll::Ready(None) => {
                    self.finish()?;
                    return Poll::Ready(None);
                }
            }
        }
    }
}

fn payload_error(e: PayloadError) -> S3Error {
    match e {
        PayloadError::Overflow => S3Error::entity_too_large("the request body is too large"),
        other => S3Error::incomplete_body(format!("the request body was cut off: {other}")),
    }
}

impl Stream for Body {
    type Item = Result<Bytes, BoxError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        // `?` inside poll_inner turns failed checks into a final error item.
        match self.poll_inner(cx) {
            Poll::Ready(Some(Err(e))) => {
                self.done = true;
                Poll::Ready(Some(Err(Box::new(e))))
            }
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(Ok(b))) => Poll::Ready(Some(Ok(b))),
            Poll::Pending => Poll::Pending,
        }
    }
}
