//! Request bodies as a checked stream: `aws-chunked` decoding with every chunk signature
//! verified as it streams, the declared SHA-256 and `x-amz-checksum-*` values compared at the
//! end, lengths checked. A failed check ends the stream with an error instead of its end, so the
//! VFS never publishes an object whose body did not check out.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::error::PayloadError;
use actix_web::HttpRequest;
use bytes::{Buf, Bytes, BytesMut};
use futures_util::Stream;
use sha2::{Digest, Sha256};

use s3gate_vfs::{Checksum, ChecksumSlot, ChecksumType};

use crate::checksum::{Algorithm, Hasher};
use crate::error::{S3Error, S3Result};
use crate::headers::header;
use crate::intake::Lent;
use crate::sigv4::{Auth, ChunkSigner, PayloadHash, EMPTY_SHA256};

pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The largest single PUT S3 accepts.
pub(crate) const MAX_PUT_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// The longest chunk header or trailer line we buffer.
const MAX_LINE: usize = 4096;

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
            if got != want.trim() {
                return Err(S3Error::bad_digest(format!(
                    "The {} you specified did not match the calculated checksum.",
                    algo.header()
                )));
            }
            let _ = self.slot.set(Checksum {
                kind: ChecksumType {
                    algorithm: algo.name().to_string(),
                    full_object: true,
                },
                value: got,
            });
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

// ---- aws-chunked ----

enum State {
    /// Expecting `HEXSIZE[;chunk-signature=SIG]\r\n`.
    Size,
    Data {
        left: u64,
    },
    /// Expecting the `\r\n` after a chunk's data.
    DataEnd,
    /// After the final chunk: trailer lines, then an empty line.
    Trailer,
    Done,
}

struct Decoder {
    buf: BytesMut,
    state: State,
    /// Set when chunk signatures are to be verified.
    signer: Option<ChunkSigner>,
    /// Chunks carry signatures (verified or not).
    signed: bool,
    chunk_sig: Option<String>,
    chunk_hash: Sha256,
    trailers: Vec<(String, String)>,
}

/// Feeds `input` to a decoder in pieces of `step` bytes, to the end (for the fuzz targets).
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_decode(input: &[u8], step: usize, signed: bool) -> S3Result<usize> {
    let mut d = Decoder::new(None, signed);
    let mut out = 0;
    for part in input.chunks(step.max(1)) {
        d.push(part);
        while let Some(p) = d.next_piece()? {
            out += p.len();
        }
    }
    d.finish()?;
    assert!(out <= input.len(), "decoded more than was sent");
    Ok(out)
}

fn bad_chunk(why: &str) -> S3Error {
    S3Error::incomplete_body(format!("malformed aws-chunked body: {why}"))
}

impl Decoder {
    fn new(signer: Option<ChunkSigner>, signed: bool) -> Decoder {
        Decoder {
            buf: BytesMut::new(),
            state: State::Size,
            signer,
            signed,
            chunk_sig: None,
            chunk_hash: Sha256::new(),
            trailers: Vec::new(),
        }
    }

    fn push(&mut self, raw: &[u8]) {
        self.buf.extend_from_slice(raw);
    }

    fn trailer(&self, name: &str) -> Option<String> {
        self.trailers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    /// Takes one line (without its CRLF) from the buffer, if a whole one is there.
    fn line(&mut self) -> S3Result<Option<String>> {
        match self.buf.windows(2).position(|w| w == b"\r\n") {
            Some(pos) => {
                let line = self.buf.split_to(pos);
                self.buf.advance(2);
                String::from_utf8(line.to_vec())
                    .map(Some)
                    .map_err(|_| bad_chunk("a chunk header is not text"))
            }
            None if self.buf.len() > MAX_LINE => Err(bad_chunk("chunk header too long")),
            None => Ok(None),
        }
    }

    fn verify_chunk(&mut self) -> S3Result<()> {
        let hash = hex::encode(std::mem::take(&mut self.chunk_hash).finalize());
        let got = self.chunk_sig.take();
        if let Some(signer) = &mut self.signer {
            let want = signer.expect("PAYLOAD", &format!("{EMPTY_SHA256}\n{hash}"));
            let ok = got.as_deref().is_some_and(|g| {
                subtle::ConstantTimeEq::ct_eq(g.as_bytes(), want.as_bytes()).into()
            });
            if !ok {
                return Err(S3Error::signature_does_not_match(
                    "The chunk signature we calculated does not match the signature you provided.",
                ));
            }
        }
        Ok(())
    }

    /// The next decoded piece of data, or `None` when more input is needed (or the body is done).
    fn next_piece(&mut self) -> S3Result<Option<Bytes>> {
        loop {
            match self.state {
                State::Size => {
                    let Some(line) = self.line()? else {
                        return Ok(None);
                    };
                    let (size, ext) = line.split_once(';').unwrap_or((&line, ""));
                    let size = u64::from_str_radix(size.trim(), 16)
                        .map_err(|_| bad_chunk("bad chunk size"))?;
                    self.chunk_sig = ext
                        .split(';')
                        .find_map(|e| e.trim().strip_prefix("chunk-signature="))
                        .map(str::to_string);
                    if self.signed && self.chunk_sig.is_none() {
                        return Err(S3Error::signature_does_not_match(
                            "a chunk of a signed aws-chunked body has no signature",
                        ));
                    }
                    if size == 0 {
                        self.verify_chunk()?;
                        self.state = State::Trailer;
                    } else {
                        self.state = State::Data { left: size };
                    }
                }
                State::Data { left } => {
                    if self.buf.is_empty() {
                        return Ok(None);
                    }
                    let n = (left as usize).min(self.buf.len());
                    let piece = self.buf.split_to(n).freeze();
                    if self.signer.is_some() {
                        self.chunk_hash.update(&piece);
                    }
                    self.state = if left as usize == n {
                        State::DataEnd
                    } else {
                        State::Data {
                            left: left - n as u64,
                        }
                    };
                    return Ok(Some(piece));
                }
                State::DataEnd => {
                    if self.buf.len() < 2 {
                        return Ok(None);
                    }
                    if &self.buf[..2] != b"\r\n" {
                        return Err(bad_chunk("chunk data longer than its declared size"));
                    }
                    self.buf.advance(2);
                    self.verify_chunk()?;
                    self.state = State::Size;
                }
                State::Trailer => {
                    let Some(line) = self.line()? else {
                        return Ok(None);
                    };
                    if line.is_empty() {
                        self.verify_trailer()?;
                        self.state = State::Done;
                        continue;
                    }
                    let (k, v) = line
                        .split_once(':')
                        .ok_or_else(|| bad_chunk("malformed trailer line"))?;
                    if self.trailers.len() > 16 {
                        return Err(bad_chunk("too many trailers"));
                    }
                    self.trailers
                        .push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
                }
                State::Done => {
                    if !self.buf.is_empty() {
                        return Err(bad_chunk("data after the end of the body"));
                    }
                    return Ok(None);
                }
            }
        }
    }

    fn verify_trailer(&mut self) -> S3Result<()> {
        let Some(signer) = &mut self.signer else {
            return Ok(());
        };
        if self.trailers.is_empty() {
            return Ok(());
        }
        let mut canonical = String::new();
        let mut got = None;
        for (k, v) in &self.trailers {
            if k == "x-amz-trailer-signature" {
                got = Some(v.clone());
            } else {
                canonical.push_str(&format!("{k}:{v}\n"));
            }
        }
        let want = signer.expect(
            "TRAILER",
            &hex::encode(Sha256::digest(canonical.as_bytes())),
        );
        match got {
            Some(g) if subtle::ConstantTimeEq::ct_eq(g.as_bytes(), want.as_bytes()).into() => {
                Ok(())
            }
            _ => Err(S3Error::signature_does_not_match(
                "The trailer signature we calculated does not match the signature you provided.",
            )),
        }
    }

    /// At the end of input: the body must have been complete. A missing final empty line after
    /// the last chunk or trailer is tolerated, as some clients omit it.
    fn finish(&mut self) -> S3Result<()> {
        match self.state {
            State::Done => Ok(()),
            State::Trailer => {
                if !self.buf.is_empty() {
                    // A last trailer line without its CRLF.
                    self.buf.extend_from_slice(b"\r\n\r\n");
                    while self.next_piece()?.is_some() {}
                }
                if matches!(self.state, State::Trailer) {
                    self.verify_trailer()?;
                }
                Ok(())
            }
            _ => Err(S3Error::incomplete_body(
                "the aws-chunked body ended before its final chunk",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(d: &mut Decoder, input: &[u8], step: usize) -> S3Result<Vec<u8>> {
        let mut out = Vec::new();
        for part in input.chunks(step) {
            d.push(part);
            while let Some(p) = d.next_piece()? {
                out.extend_from_slice(&p);
            }
        }
        d.finish()?;
        Ok(out)
    }

    #[test]
    fn unsigned_with_trailer_any_split() {
        let body = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
        for step in 1..body.len() {
            let mut d = Decoder::new(None, false);
            assert_eq!(decode(&mut d, body, step).unwrap(), b"hello world");
            assert_eq!(
                d.trailer("x-amz-checksum-crc32").as_deref(),
                Some("DUoRhQ==")
            );
        }
    }

    #[test]
    fn malformed_bodies_are_rejected() {
        for bad in [
            &b"5\r\nhelloXX\r\n0\r\n\r\n"[..],
            b"zz\r\nhello\r\n",
            b"5\r\nhel",
            b"5\r\nhello\r\n",
        ] {
            let mut d = Decoder::new(None, false);
            assert!(
                decode(&mut d, bad, 3).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let mut d = Decoder::new(None, false);
        assert!(
            decode(&mut d, &[b'1'; 5000], 100).is_err(),
            "endless header accepted"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 3000, failure_persistence: None, ..Default::default() })]

        /// Any bytes, split anywhere: the decoder answers or refuses, never panics, and never
        /// yields more than it was given.
        #[test]
        fn the_chunk_decoder_survives_any_input(
            input in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
            step in 1usize..64,
            signed in proptest::prelude::any::<bool>(),
        ) {
            let mut d = Decoder::new(None, signed);
            if let Ok(out) = decode(&mut d, &input, step) {
                proptest::prop_assert!(out.len() <= input.len());
            }
        }

        /// Valid framings built from random data decode to that data at any split.
        #[test]
        fn any_valid_framing_decodes(
            chunks in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 1..80), 0..6),
            step in 1usize..50,
        ) {
            let mut body = Vec::new();
            for c in &chunks {
                body.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                body.extend_from_slice(c);
                body.extend_from_slice(b"\r\n");
            }
            body.extend_from_slice(b"0\r\n\r\n");
            let mut d = Decoder::new(None, false);
            proptest::prop_assert_eq!(decode(&mut d, &body, step).unwrap(), chunks.concat());
        }
    }
}
