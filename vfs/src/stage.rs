//! A body streamed into an upload not yet published: its size checked against what the remote
//! takes as it arrives, its MD5 computed on the way (body_md5.rs), and other hashes fed. Every
//! write stages its bytes this way (a PUT, a copy that cannot share its source's file, a
//! multipart part, the write-back's upload of a cached file), so it needs only the core.

use bytes::Bytes;
use futures_util::{Stream, StreamExt};

use crate::body_md5::BodyMd5;
use crate::core::Core;
use crate::error::{Result, VfsError};
use crate::index::BodyHasher;
use crate::remote::{Fingerprint, Remote, Upload};

impl Core {
    /// Streams a body into a new, not yet published upload on `remote`, computing its MD5 on the
    /// way when `hash` (else the digest is meaningless), and feeding `extra` when given. Nothing
    /// is left behind on failure.
    pub(crate) async fn stage<S, E>(
        &self,
        remote: &dyn Remote,
        dest: &str,
        body: S,
        hash: bool,
        extra: Option<&mut Box<dyn BodyHasher>>,
    ) -> Result<(Box<dyn Upload>, Fingerprint, [u8; 16])>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: Into<VfsError>,
    {
        let upload = remote.create(dest).await?;
        self.stage_into(upload, body, hash, extra, None).await
    }

    /// [`Core::stage`] into an upload the caller made. A body of at most `logged` bytes is not
    /// synced: the caller publishes it through the log (putlog/), or syncs it.
    pub(crate) async fn stage_into<S, E>(
        &self,
        mut upload: Box<dyn Upload>,
        mut body: S,
        hash: bool,
        mut extra: Option<&mut Box<dyn BodyHasher>>,
        logged: Option<u64>,
    ) -> Result<(Box<dyn Upload>, Fingerprint, [u8; 16])>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
        E: Into<VfsError>,
    {
        let mut md5 = hash.then(BodyMd5::new);
        let mut written = 0u64;
        let finished = loop {
            let step = match body.next().await {
                Some(Ok(chunk)) => {
                    written += chunk.len() as u64;
                    // Refused here, not after the write cache has acknowledged it.
                    match self.check_size(written) {
                        Ok(()) => {
                            let hashed = match md5.as_mut() {
                                Some(h) => h.update(&chunk).await,
                                None => Ok(()),
                            };
                            if let Some(h) = extra.as_mut() {
                                h.update(&chunk);
                            }
                            match hashed {
                                Ok(()) => upload.write(chunk).await.map_err(VfsError::from),
                                Err(e) => Err(e),
                            }
                        }
                        Err(e) => Err(e),
                    }
                }
                Some(Err(e)) => Err(e.into()),
                None => {
                    let sync = self.fsync && logged.is_none_or(|bound| written > bound);
                    break upload.finish(sync).await;
                }
            };
            if let Err(e) = step {
                upload.abort().await;
                return Err(e);
            }
        };
        let digest = match md5 {
            Some(h) => h.finish().await,
            None => Ok([0; 16]),
        };
        match (finished, digest) {
            (Ok(fp), Ok(digest)) => Ok((upload, fp, digest)),
            (Err(e), _) => {
                upload.abort().await;
                Err(e.into())
            }
            (_, Err(e)) => {
                upload.abort().await;
                Err(e)
            }
        }
    }
}
