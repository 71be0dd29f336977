//! Uploads to an SFTP server that end only when the server has closed the file.
//!
//! OpenDAL's SFTP writer flushes its writes and leaves the file's close to a background task,
//! on one of the many sessions it pools. A server that finishes a file when it is closed
//! (rclone's, whose file lands only then; one that stores elsewhere; one whose disk fills)
//! may then still hold it open when the next request arrives on another session: a rename of
//! a file still being written is put off, a read of it finds nothing yet, and an error at the
//! close is never seen. So an upload here writes through a session it holds alone, and waits
//! for the answer to its close; until then it is not written, and an acknowledgement never
//! follows it early.
//!
//! Pieces go in order, a few in flight: rclone's server takes a file's bytes only in order,
//! waits a moment for a piece that comes early, and works on at most 8 requests of a session
//! at once; with no more than that in flight on a session, the piece it waits for is always
//! among those it works on.
//!
//! At most `upload_sessions` uploads (a remote's option, 8 unless set) hold a session at once;
//! the others wait for one. Sessions are made only when none is idle, by an upload that holds a
//! turn, so a remote never has more sessions of uploads than that, idle ones included: without
//! a bound, a burst of uploads opened an SSH connection (and an `ssh` process) each.

use std::io;
use std::io::SeekFrom;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::{FuturesUnordered, StreamExt};
use openssh::{KnownHosts, SessionBuilder};
use openssh_sftp_client::file::File;
use openssh_sftp_client::{Sftp, SftpOptions};
use tokio::io::AsyncSeekExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The most one write request carries: what every SFTP server takes (OpenSSH's own size), so
/// that each piece is one request, sent in the order of the file.
const PIECE: usize = 32 << 10;
/// Writes of one file in flight at once: as many as rclone's server works on at once.
const IN_FLIGHT: usize = 8;
/// Uploads holding a session at once, unless the remote's `upload_sessions` says otherwise.
const SESSIONS: usize = 8;

/// How the uploads of one SFTP remote sign in, and the sessions not in use.
pub(crate) struct SftpPut {
    endpoint: String,
    user: Option<String>,
    key: Option<String>,
    known_hosts: KnownHosts,
    /// The remote's root, as OpenDAL's SFTP service takes it: absolute, ending with `/`.
    root: String,
    idle: Arc<Mutex<Vec<Sftp>>>,
    /// A turn per upload that may hold a session.
    turns: Arc<Semaphore>,
}

/// A file being written, on a session it holds alone until it is closed.
pub(crate) struct SftpFile {
    /// `None` once closed.
    file: Option<File>,
    session: Option<Sftp>,
    idle: Arc<Mutex<Vec<Sftp>>>,
    /// Given back once the session is idle again (or gone), after `session`.
    _turn: OwnedSemaphorePermit,
    offset: u64,
    /// Each piece is written on a handle of its own (a clone of the file's), so the handle
    /// `file` holds is the last one left when it is closed, and its close is the one sent.
    writes: FuturesUnordered<BoxFuture<'static, io::Result<()>>>,
}

/// `session` waits for the next upload.
fn keep_idle(idle: &Mutex<Vec<Sftp>>, session: Sftp) {
    idle.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(session);
}

fn to_io(e: openssh_sftp_client::Error) -> io::Error {
    use openssh_sftp_client::error::SftpErrorKind;
    match &e {
        openssh_sftp_client::Error::SftpError(SftpErrorKind::NoSuchFile, _) => {
            io::Error::new(io::ErrorKind::NotFound, e.to_string())
        }
        openssh_sftp_client::Error::SftpError(SftpErrorKind::PermDenied, _) => {
            io::Error::new(io::ErrorKind::PermissionDenied, e.to_string())
        }
        _ => crate::unavailable::unanswered(&e, e.to_string()),
    }
}

impl SftpPut {
    /// From an SFTP remote's OpenDAL options (`endpoint`, `user`, `key`,
    /// `known_hosts_strategy`, `root`) and `upload_sessions`, ours, which OpenDAL ignores;
    /// `None` without an endpoint.
    pub(crate) fn from_options(options: &[(String, String)]) -> io::Result<Option<SftpPut>> {
        let get = |k: &str| super::option(options, k).map(str::to_string);
        let Some(endpoint) = get("endpoint") else {
            return Ok(None);
        };
        let sessions = match get("upload_sessions") {
            None => SESSIONS,
            Some(n) => n.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "sftp remote: option \"upload_sessions\": {n:?} is not a number above 0"
                    ),
                )
            })?,
        };
        let known_hosts = match get("known_hosts_strategy")
            .unwrap_or_default()
            .to_ascii_lowercase()
            .as_str()
        {
            "" | "strict" => KnownHosts::Strict,
            "accept" => KnownHosts::Accept,
            "add" => KnownHosts::Add,
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("unknown known_hosts strategy: {other}"),
                ))
            }
        };
        let segments: Vec<String> = get("root")
            .unwrap_or_default()
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect();
        let root = match segments.is_empty() {
            true => "/".to_string(),
            false => format!("/{}/", segments.join("/")),
        };
        Ok(Some(SftpPut {
            endpoint,
            user: get("user"),
            key: get("key"),
            known_hosts,
            root,
            idle: Arc::default(),
            turns: Arc::new(Semaphore::new(sessions)),
        }))
    }

    async fn connect(&self) -> io::Result<Sftp> {
        let mut builder = SessionBuilder::default();
        if let Some(user) = &self.user {
            builder.user(user.clone());
        }
        if let Some(key) = &self.key {
            builder.keyfile(key);
        }
        builder.known_hosts_check(self.known_hosts.clone());
        let session = builder.connect(&self.endpoint).await.map_err(|e| {
            crate::unavailable::unanswered(&e, format!("ssh to {}: {e}", self.endpoint))
        })?;
        Sftp::from_session(session, SftpOptions::default())
            .await
            .map_err(to_io)
    }

    fn take_idle(&self) -> Option<Sftp> {
        self.idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }

    /// A new file at `path` (under the root), made or emptied; its folder must exist. Waits
    /// for a turn while `upload_sessions` uploads hold one.
    pub(crate) async fn start(&self, path: &str) -> io::Result<SftpFile> {
        let turn = self
            .turns
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| io::Error::other("the SFTP uploads' turns are closed"))?;
        let full = format!("{}{}", self.root, path);
        let open = |s: &Sftp| {
            let mut options = s.options();
            options.write(true).create(true).truncate(true);
            let full = full.clone();
            async move { options.open(full).await }
        };
        let reused = match self.take_idle() {
            Some(session) => match open(&session).await {
                Ok(file) => Some((session, file)),
                // The server's answer stands; anything else is the idle session's failure (a
                // server restarted, a connection cut): it goes, and a new one tries.
                Err(e @ openssh_sftp_client::Error::SftpError(..)) => {
                    keep_idle(&self.idle, session);
                    return Err(to_io(e));
                }
                Err(_) => None,
            },
            None => None,
        };
        let (session, file) = match reused {
            Some(reused) => reused,
            None => {
                let fresh = self.connect().await?;
                let file = open(&fresh).await.map_err(to_io)?;
                (fresh, file)
            }
        };
        Ok(SftpFile {
            file: Some(file),
            session: Some(session),
            idle: self.idle.clone(),
            _turn: turn,
            offset: 0,
            writes: FuturesUnordered::new(),
        })
    }
}

impl SftpFile {
    /// Sends `data` in pieces of one request each. Each piece's request is sent before the
    /// next piece is made, so the server gets them in order, while their answers are awaited
    /// together.
    pub(crate) async fn write(&mut self, mut data: Bytes) -> io::Result<()> {
        while !data.is_empty() {
            if self.writes.len() >= IN_FLIGHT {
                self.next_written().await?;
            }
            let Some(file) = &self.file else {
                return Err(io::Error::other("write after close"));
            };
            let piece = data.split_to(data.len().min(PIECE));
            let mut handle = file.clone();
            let offset = self.offset;
            self.offset += piece.len() as u64;
            let mut write: BoxFuture<'static, io::Result<()>> = Box::pin(async move {
                handle.seek(SeekFrom::Start(offset)).await?;
                let mut rest = piece;
                // A server that takes less per request gets the rest after its answer.
                while !rest.is_empty() {
                    let n = handle
                        .write_zero_copy(std::slice::from_ref(&rest))
                        .await
                        .map_err(to_io)?;
                    if n == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::WriteZero,
                            "the server took nothing",
                        ));
                    }
                    rest = rest.split_off(n);
                }
                Ok(())
            });
            // The first poll sends the request.
            match futures_util::poll!(&mut write) {
                Poll::Ready(done) => done?,
                Poll::Pending => self.writes.push(write),
            }
        }
        Ok(())
    }

    async fn next_written(&mut self) -> io::Result<()> {
        self.writes.next().await.unwrap_or(Ok(()))
    }

    /// Waits for every write, then closes the file and waits for the server's answer; the
    /// session then serves another upload, unless something failed on it.
    pub(crate) async fn close(&mut self) -> io::Result<()> {
        let mut outcome = Ok(());
        while !self.writes.is_empty() {
            if let Err(e) = self.next_written().await {
                outcome = outcome.and(Err(e));
            }
        }
        if let Some(file) = self.file.take() {
            outcome = outcome.and(file.close().await.map_err(to_io));
        }
        if let (Ok(()), Some(session)) = (&outcome, self.session.take()) {
            keep_idle(&self.idle, session);
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turns(extra: &[(&str, &str)]) -> io::Result<usize> {
        let mut options = vec![("endpoint".to_string(), "ssh://h".to_string())];
        options.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let put = SftpPut::from_options(&options)?.expect("an endpoint");
        Ok(put.turns.available_permits())
    }

    #[test]
    fn uploads_hold_at_most_upload_sessions_at_once() {
        assert_eq!(turns(&[]).unwrap(), SESSIONS);
        assert_eq!(turns(&[("upload_sessions", "3")]).unwrap(), 3);
        for bad in ["0", "-1", "many"] {
            let e = turns(&[("upload_sessions", bad)]).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
            assert!(e.to_string().contains("upload_sessions"), "{e}");
        }
    }
}
