//! rclone's encrypted file format: a 32-byte header (`RCLONE\0\0` and a random 24-byte nonce),
//! then the content in blocks of 64 KiB (the last one shorter), each sealed on its own with NaCl's
//! secretbox (XSalsa20-Poly1305: a 16-byte tag, then the enciphered bytes) under the data key and
//! the file's nonce plus the block's number. An empty file is its header alone. Because every
//! block stands alone, a range is read by opening only the blocks that hold it.

use std::io;

use bytes::{Bytes, BytesMut};
use crypto_secretbox::aead::{AeadInPlace, KeyInit};
use crypto_secretbox::{Tag, XSalsa20Poly1305};
use futures_util::StreamExt;

use crate::remote::ByteStream;

pub(crate) const MAGIC: &[u8; 8] = b"RCLONE\x00\x00";
pub(crate) const NONCE_LEN: usize = 24;
pub(crate) const HEADER_LEN: u64 = (MAGIC.len() + NONCE_LEN) as u64;
/// Plain bytes per block.
pub(crate) const BLOCK_DATA: u64 = 64 * 1024;
/// What sealing adds to each block: the Poly1305 tag.
pub(crate) const BLOCK_TAG: u64 = 16;
pub(crate) const BLOCK_LEN: u64 = BLOCK_DATA + BLOCK_TAG;

/// The size of a file holding `plain` bytes once encrypted.
pub(crate) fn encrypted_size(plain: u64) -> u64 {
    let (blocks, rest) = (plain / BLOCK_DATA, plain % BLOCK_DATA);
    HEADER_LEN + blocks * BLOCK_LEN + if rest > 0 { BLOCK_TAG + rest } else { 0 }
}

/// The plain size of an encrypted file of `size` bytes; `None` for a size no encrypted file has
/// (shorter than the header, or a last block with no byte after its tag).
pub(crate) fn decrypted_size(size: u64) -> Option<u64> {
    let body = size.checked_sub(HEADER_LEN)?;
    let (blocks, rest) = (body / BLOCK_LEN, body % BLOCK_LEN);
    let last = match rest {
        0 => 0,
        r if r <= BLOCK_TAG => return None,
        r => r - BLOCK_TAG,
    };
    Some(blocks * BLOCK_DATA + last)
}

/// The largest plain size whose encrypted file fits in `size` bytes.
pub(crate) fn plain_fitting(size: u64) -> u64 {
    let Some(body) = size.checked_sub(HEADER_LEN) else {
        return 0;
    };
    let (blocks, rest) = (body / BLOCK_LEN, body % BLOCK_LEN);
    blocks * BLOCK_DATA + rest.saturating_sub(BLOCK_TAG)
}

/// A file's nonce, counted up by one for each block, as a little-endian number (rclone's order).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Nonce(pub(crate) [u8; NONCE_LEN]);

impl Nonce {
    pub(crate) fn random() -> Nonce {
        Nonce(rand::random())
    }

    /// Reads a file's header; an error when it is not one of rclone's.
    pub(crate) fn from_header(header: &[u8]) -> io::Result<Nonce> {
        if header.len() < HEADER_LEN as usize || &header[..MAGIC.len()] != MAGIC {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not an encrypted file: bad magic",
            ));
        }
        let mut n = [0; NONCE_LEN];
        n.copy_from_slice(&header[MAGIC.len()..HEADER_LEN as usize]);
        Ok(Nonce(n))
    }

    pub(crate) fn header(&self) -> Bytes {
        let mut h = BytesMut::with_capacity(HEADER_LEN as usize);
        h.extend_from_slice(MAGIC);
        h.extend_from_slice(&self.0);
        h.freeze()
    }

    pub(crate) fn increment(&mut self) {
        for b in self.0.iter_mut() {
            *b = b.wrapping_add(1);
            if *b != 0 {
                return;
            }
        }
    }

    /// The nonce of block `n`: the low 8 bytes added to, the carry running on into the rest.
    pub(crate) fn plus(mut self, n: u64) -> Nonce {
        let mut carry = 0u16;
        for (i, b) in self.0.iter_mut().take(8).enumerate() {
            carry += u16::from(*b) + ((n >> (8 * i)) & 0xFF) as u16;
            *b = carry as u8;
            carry >>= 8;
        }
        if carry != 0 {
            for b in self.0.iter_mut().skip(8) {
                *b = b.wrapping_add(1);
                if *b != 0 {
                    break;
                }
            }
        }
        self
    }
}

/// The data key, ready to seal and open blocks.
#[derive(Clone)]
pub(crate) struct DataCipher(XSalsa20Poly1305);

impl DataCipher {
    pub(crate) fn new(key: &[u8; 32]) -> DataCipher {
        DataCipher(XSalsa20Poly1305::new(key.into()))
    }

    /// Seals one block of at most [`BLOCK_DATA`] bytes: its tag, then its bytes.
    pub(crate) fn seal(&self, nonce: &Nonce, plain: &[u8]) -> Bytes {
        let mut out = BytesMut::with_capacity(BLOCK_TAG as usize + plain.len());
        out.resize(BLOCK_TAG as usize, 0);
        out.extend_from_slice(plain);
        let (tag, body) = out.split_at_mut(BLOCK_TAG as usize);
        // Sealing fails only past the cipher's length limit, which a block never reaches.
        if let Ok(t) = self
            .0
            .encrypt_in_place_detached((&nonce.0).into(), b"", body)
        {
            tag.copy_from_slice(&t);
        }
        out.freeze()
    }

    /// Opens one sealed block in place; an error when it was not sealed with this key and nonce.
    pub(crate) fn open(&self, nonce: &Nonce, mut block: BytesMut) -> io::Result<Bytes> {
        if block.len() <= BLOCK_TAG as usize {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "encrypted file has a truncated block",
            ));
        }
        let body = block.split_off(BLOCK_TAG as usize);
        let mut body = body;
        self.0
            .decrypt_in_place_detached((&nonce.0).into(), b"", &mut body, Tag::from_slice(&block))
            .map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "encrypted block failed authentication (wrong password, or damaged file)",
                )
            })?;
        Ok(body.freeze())
    }
}

/// Plain bytes from a stream of sealed blocks starting at a block's boundary: the first `skip`
/// bytes left out, then `len` bytes. `nonce` is the nonce of the first block.
pub(crate) fn decrypt_stream(
    cipher: DataCipher,
    sealed: ByteStream,
    nonce: Nonce,
    skip: u64,
    len: u64,
) -> ByteStream {
    struct State {
        cipher: DataCipher,
        sealed: ByteStream,
        buf: BytesMut,
        nonce: Nonce,
        skip: u64,
        left: u64,
        ended: bool,
    }
    let state = State {
        cipher,
        sealed,
        buf: BytesMut::new(),
        nonce,
        skip,
        left: len,
        ended: false,
    };
    Box::pin(futures_util::stream::try_unfold(
        state,
        |mut st| async move {
            loop {
                if st.left == 0 {
                    return Ok(None);
                }
                while !st.ended && (st.buf.len() as u64) < BLOCK_LEN {
                    match st.sealed.next().await {
                        Some(chunk) => st.buf.extend_from_slice(&chunk?),
                        None => st.ended = true,
                    }
                }
                if st.buf.is_empty() {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "encrypted file ended early",
                    ));
                }
                let take = st.buf.len().min(BLOCK_LEN as usize);
                let block = st.buf.split_to(take);
                let mut plain = st.cipher.open(&st.nonce, block)?;
                st.nonce.increment();
                let skip = st.skip.min(plain.len() as u64);
                st.skip -= skip;
                let _ = plain.split_to(skip as usize);
                if plain.len() as u64 > st.left {
                    plain.truncate(st.left as usize);
                }
                st.left -= plain.len() as u64;
                if !plain.is_empty() {
                    return Ok(Some((plain, st)));
                }
            }
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_rclone() {
        for (plain, enc) in [
            (0, 32),
            (1, 49),
            (BLOCK_DATA, 32 + BLOCK_LEN),
            (BLOCK_DATA + 1, 32 + BLOCK_LEN + 17),
            (3 * BLOCK_DATA, 32 + 3 * BLOCK_LEN),
        ] {
            assert_eq!(encrypted_size(plain), enc);
            assert_eq!(decrypted_size(enc), Some(plain));
            assert_eq!(plain_fitting(enc), plain);
        }
        for bad in [0, 31, 33, 48, 32 + BLOCK_LEN + 16] {
            assert_eq!(decrypted_size(bad), None, "{bad}");
        }
    }

    #[test]
    fn nonces_count_little_endian_with_carry() {
        let mut n = Nonce([0xFF; NONCE_LEN]);
        n.0[3] = 0;
        n.increment();
        assert_eq!(&n.0[..4], &[0, 0, 0, 1]);
        assert_eq!(Nonce([0; NONCE_LEN]).plus(0x0102), {
            let mut m = [0; NONCE_LEN];
            m[0] = 2;
            m[1] = 1;
            Nonce(m)
        });
        // A carry out of the low 8 bytes runs on into the rest.
        let mut n = Nonce([0; NONCE_LEN]);
        n.0[..8].copy_from_slice(&[0xFF; 8]);
        let n = n.plus(1);
        assert_eq!(&n.0[..9], &[0, 0, 0, 0, 0, 0, 0, 0, 1]);
        let mut a = Nonce([0xAB; NONCE_LEN]);
        for _ in 0..300 {
            a.increment();
        }
        assert_eq!(a, Nonce([0xAB; NONCE_LEN]).plus(300));
    }
}
