//! The MD5 of a body being written (its ETag), hashed beside the write rather than in its path:
//! past its first MiB, a body's chunks are handed to a blocking thread that hashes them while
//! the request's task goes on receiving and writing, so a large PUT runs at the speed of the
//! slowest of the three instead of their sum. A small body is hashed where it arrives: a thread
//! of its own would cost it more than the hash.

use bytes::Bytes;
use md5::{Digest, Md5};
use tokio::sync::mpsc;

use crate::error::{Result, VfsError};

/// Bytes hashed in the request's own task before the hash moves beside it.
const INLINE: u64 = 1 << 20;

/// Chunks waiting for the hashing thread: when it falls behind, the body waits for it, so what
/// it holds stays bounded.
const QUEUED: usize = 16;

pub(crate) enum BodyMd5 {
    Inline {
        md5: Md5,
        hashed: u64,
    },
    Beside {
        chunks: mpsc::Sender<Bytes>,
        digest: tokio::task::JoinHandle<[u8; 16]>,
    },
}

impl BodyMd5 {
    pub(crate) fn new() -> BodyMd5 {
        BodyMd5::Inline {
            md5: Md5::new(),
            hashed: 0,
        }
    }

    /// Hashes `chunk`, the body's next bytes.
    pub(crate) async fn update(&mut self, chunk: &Bytes) -> Result<()> {
        match self {
            BodyMd5::Inline { md5, hashed } => {
                md5.update(chunk);
                *hashed += chunk.len() as u64;
                if *hashed >= INLINE {
                    let md5 = std::mem::take(md5);
                    let (chunks, rx) = mpsc::channel(QUEUED);
                    let digest = tokio::task::spawn_blocking(move || hash_beside(md5, rx));
                    *self = BodyMd5::Beside { chunks, digest };
                }
                Ok(())
            }
            BodyMd5::Beside { chunks, .. } => chunks
                .send(chunk.clone())
                .await
                .map_err(|_| VfsError::Io(std::io::Error::other("the MD5 thread stopped"))),
        }
    }

    /// The digest of every byte given.
    pub(crate) async fn finish(self) -> Result<[u8; 16]> {
        match self {
            BodyMd5::Inline { md5, .. } => Ok(md5.finalize().into()),
            BodyMd5::Beside { chunks, digest } => {
                drop(chunks);
                digest.await.map_err(|e| {
                    VfsError::Io(std::io::Error::other(format!("the MD5 thread failed: {e}")))
                })
            }
        }
    }
}

/// Hashes the chunks `rx` brings until its sender is dropped.
fn hash_beside(mut md5: Md5, mut rx: mpsc::Receiver<Bytes>) -> [u8; 16] {
    while let Some(chunk) = rx.blocking_recv() {
        md5.update(&chunk);
    }
    md5.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Small and large bodies, in chunks of every size, give the MD5 of their bytes whether
    /// they were hashed inline or beside.
    #[tokio::test]
    async fn the_digest_is_the_md5_of_every_byte() {
        for (len, chunk) in [
            (0, 1),
            (1000, 7),
            (INLINE as usize - 1, 4096),
            (3 << 20, 65536),
            (3 << 20, 1 << 20),
        ] {
            let body: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let mut h = BodyMd5::new();
            for c in body.chunks(chunk) {
                h.update(&Bytes::copy_from_slice(c)).await.unwrap();
            }
            let want: [u8; 16] = Md5::digest(&body).into();
            assert_eq!(
                h.finish().await.unwrap(),
                want,
                "{len} bytes in chunks of {chunk}"
            );
        }
    }
}
