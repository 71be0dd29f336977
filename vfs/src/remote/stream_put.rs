//! A WebDAV PUT whose body streams. OpenDAL's WebDAV writer sends a file in one request built
//! in memory; this sends the bytes as they come (chunked transfer encoding), so an upload holds
//! a few pieces whatever its size.
//!
//! A body ends cleanly only when the upload is closed: a body cut off any other way (an
//! aborted upload, a dropped one) ends in an error, so the server never takes it for a
//! complete, shorter file.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How long a server may stop reading a body, or take to answer, before the upload fails.
const STALL: Duration = Duration::from_secs(120);

/// What a path segment keeps unescaped (RFC 3986's unreserved characters).
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Where streaming PUTs go: a WebDAV server's root, and how to sign in.
pub(crate) struct PutTarget {
    client: reqwest::Client,
    /// The endpoint and root, ending with `/`.
    base: String,
    auth: Auth,
}

enum Auth {
    None,
    Basic(String, Option<String>),
    Bearer(String),
}

/// A piece of a body, or its end.
enum Piece {
    Data(Bytes),
    End,
}

impl PutTarget {
    /// From a WebDAV remote's OpenDAL options (`endpoint`, `root`, `username`, `password`,
    /// `token`); `None` without an endpoint.
    pub(crate) fn from_options(options: &[(String, String)]) -> io::Result<Option<PutTarget>> {
        let get = |k: &str| super::option(options, k).map(str::to_string);
        let Some(endpoint) = get("endpoint") else {
            return Ok(None);
        };
        let base = format!(
            "{}/{}",
            endpoint.trim_end_matches('/'),
            encode_path(&format!("{}/", get("root").unwrap_or_default()))
        );
        let auth = match (get("token"), get("username")) {
            (Some(t), _) => Auth::Bearer(t),
            (None, Some(u)) => Auth::Basic(u, get("password")),
            (None, None) => Auth::None,
        };
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        Ok(Some(PutTarget { client, base, auth }))
    }

    /// Starts a PUT of `path` (relative to the root); its body is what is written to the
    /// returned upload.
    pub(crate) fn start(&self, path: &str) -> StreamingPut {
        let (tx, rx) = mpsc::channel::<Piece>(4);
        let body = futures_util::stream::unfold(Some(rx), |rx| async move {
            let mut rx = rx?;
            match rx.recv().await {
                Some(Piece::Data(b)) => Some((Ok(b), Some(rx))),
                Some(Piece::End) => None,
                None => Some((Err(io::Error::other("upload cut off")), None)),
            }
        });
        let mut req = self
            .client
            .put(format!("{}{}", self.base, encode_path(path)))
            .body(reqwest::Body::wrap_stream(body));
        req = match &self.auth {
            Auth::None => req,
            Auth::Basic(u, p) => req.basic_auth(u, p.as_ref()),
            Auth::Bearer(t) => req.bearer_auth(t),
        };
        let done = tokio::spawn(async move {
            let resp = req
                .send()
                .await
                .map_err(|e| crate::unavailable::unanswered(&e, e.to_string()))?;
            match resp.status() {
                s if s.is_success() => Ok(()),
                s => Err(crate::unavailable::answered(
                    s.as_u16(),
                    format!("the WebDAV server answered a PUT with {s}"),
                )),
            }
        });
        StreamingPut {
            tx: Some(tx),
            done: Some(done),
        }
    }
}

/// `path` with each segment escaped (its slashes kept).
pub(super) fn encode_path(path: &str) -> String {
    path.trim_start_matches('/')
        .split('/')
        .map(|seg| utf8_percent_encode(seg, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

/// A PUT in progress. Dropped, its body ends in an error and the request ends on its own.
pub(crate) struct StreamingPut {
    tx: Option<mpsc::Sender<Piece>>,
    done: Option<JoinHandle<io::Result<()>>>,
}

impl StreamingPut {
    pub(crate) async fn write(&mut self, data: Bytes) -> io::Result<()> {
        self.send(Piece::Data(data)).await
    }

    /// Ends the body and waits for the server's answer.
    pub(crate) async fn close(&mut self) -> io::Result<()> {
        self.send(Piece::End).await?;
        self.tx = None;
        match tokio::time::timeout(STALL, self.answer()).await {
            Ok(r) => r,
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the WebDAV server did not answer a PUT",
            )),
        }
    }

    /// Sends a piece, unless the request ends first (its answer says why) or the server stops
    /// reading.
    async fn send(&mut self, piece: Piece) -> io::Result<()> {
        let (Some(tx), Some(done)) = (&self.tx, &mut self.done) else {
            return Err(io::Error::other("the WebDAV PUT is over"));
        };
        let ended = tokio::select! {
            sent = tokio::time::timeout(STALL, tx.send(piece)) => match sent {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(_)) => None,
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the WebDAV server stopped reading a PUT",
                    ))
                }
            },
            answer = done => Some(answer),
        };
        self.tx = None;
        let answer = match ended {
            Some(a) => {
                self.done = None;
                a.map_err(io::Error::other)?
            }
            None => self.answer().await,
        };
        Err(answer.err().unwrap_or_else(|| {
            io::Error::other("the WebDAV server answered before the body's end")
        }))
    }

    async fn answer(&mut self) -> io::Result<()> {
        match self.done.take() {
            Some(h) => h.await.map_err(io::Error::other)?,
            None => Err(io::Error::other("the WebDAV PUT is over")),
        }
    }

    /// Cuts the body off and waits (a while) for the request to end, so that whatever the
    /// server kept of it can be removed after.
    pub(crate) async fn abort(&mut self) {
        self.tx = None;
        if let Some(mut h) = self.done.take() {
            if tokio::time::timeout(STALL, &mut h).await.is_err() {
                h.abort();
            }
        }
    }
}
