//! The `aws-chunked` content encoding: `HEXSIZE[;chunk-signature=SIG]\r\n` + data + `\r\n`,
//! a zero-size final chunk, then optional trailer lines. Chunk and trailer signatures chain
//! from the request's seed signature ([`ChunkSigner`]) and are checked as each chunk ends, so
//! a forged chunk stops the body before any later byte is used.

use bytes::{Buf, Bytes, BytesMut};
use sha2::{Digest, Sha256};

use super::{ChunkSigner, EMPTY_SHA256};
use crate::error::{S3Error, S3Result};

/// The longest chunk header or trailer line we buffer.
const MAX_LINE: usize = 4096;

/// Where the decoder is in the framing.
enum Framing {
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

/// Decodes an aws-chunked body fed in pieces of any size, verifying each chunk signature (and
/// the trailer's) when a signer is given.
pub(crate) struct Decoder {
    buf: BytesMut,
    state: Framing,
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
    pub(crate) fn new(signer: Option<ChunkSigner>, signed: bool) -> Decoder {
        Decoder {
            buf: BytesMut::new(),
            state: Framing::Size,
            signer,
            signed,
            chunk_sig: None,
            chunk_hash: Sha256::new(),
            trailers: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, raw: &[u8]) {
        self.buf.extend_from_slice(raw);
    }

    pub(crate) fn trailer(&self, name: &str) -> Option<String> {
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
    pub(crate) fn next_piece(&mut self) -> S3Result<Option<Bytes>> {
        loop {
            match self.state {
                Framing::Size => {
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
                        self.state = Framing::Trailer;
                    } else {
                        self.state = Framing::Data { left: size };
                    }
                }
                Framing::Data { left } => {
                    if self.buf.is_empty() {
                        return Ok(None);
                    }
                    let n = (left as usize).min(self.buf.len());
                    let piece = self.buf.split_to(n).freeze();
                    if self.signer.is_some() {
                        self.chunk_hash.update(&piece);
                    }
                    self.state = if left as usize == n {
                        Framing::DataEnd
                    } else {
                        Framing::Data {
                            left: left - n as u64,
                        }
                    };
                    return Ok(Some(piece));
                }
                Framing::DataEnd => {
                    if self.buf.len() < 2 {
                        return Ok(None);
                    }
                    if &self.buf[..2] != b"\r\n" {
                        return Err(bad_chunk("chunk data longer than its declared size"));
                    }
                    self.buf.advance(2);
                    self.verify_chunk()?;
                    self.state = Framing::Size;
                }
                Framing::Trailer => {
                    let Some(line) = self.line()? else {
                        return Ok(None);
                    };
                    if line.is_empty() {
                        self.verify_trailer()?;
                        self.state = Framing::Done;
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
                Framing::Done => {
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
    pub(crate) fn finish(&mut self) -> S3Result<()> {
        match self.state {
            Framing::Done => Ok(()),
            Framing::Trailer => {
                if !self.buf.is_empty() {
                    // A last trailer line without its CRLF.
                    self.buf.extend_from_slice(b"\r\n\r\n");
                    while self.next_piece()?.is_some() {}
                }
                if matches!(self.state, Framing::Trailer) {
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
