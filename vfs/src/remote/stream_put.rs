//! A WebDAV PUT whose body streams. OpenDAL's WebDAV writer sends a file in one request built
//! in memory; this sends the bytes as they come (chunked transfer encoding), so an upload holds
//! a few pieces whatever its size.

use std::io;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Where streaming PUTs go: a WebDAV server's root, and how to sign in.
pub(crate) struct PutTarget {
    client: reqwest::Client,
    /// The endpoint and root, ending with `/`: a path is appended as it is.
    base: String,
    auth: Auth,
}

enum Auth {
    None,
    Basic(String, Option<String>),
    Bearer(String),
}

impl PutTarget {
    /// From a WebDAV remote's OpenDAL options (`endpoint`, `root`, `username`, `password`,
    /// `token`); `None` without an endpoint.
    pub(crate) fn from_options(options: &[(String, String)]) -> io::Result<Option<PutTarget>> {
        let get = |k: &str| {
            options
                .iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.clone())
        };
        let Some(endpoint) = get("endpoint") else {
            return Ok(None);
        };
        let root = get("root").unwrap_or_default();
        let root = root.trim_matches('/');
        let mut base = format!("{}/", endpoint.trim_end_matches('/'));
        if !root.is_empty() {
            base.push_str(root);
            base.push('/');
        }
        let auth = match (get("token"), get("username")) {
            (Some(t), _) => Auth::Bearer(t),
            (None, Some(u)) => Auth::Basic(u, get("password")),
            (None, None) => Auth::None,
        };
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
        Ok(Some(PutTarget { client, base, auth }))
    }

    /// Starts a PUT of `path` (relative to the root; only characters that need no escaping,
    /// as staging names are); its body is what is written to the returned upload.
    pub(crate) fn start(&self, path: &str) -> StreamingPut {
        let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(4);
        let body = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|piece| (piece, rx))
        });
        let mut req = self
            .client
            .put(format!("{}{path}", self.base))
            .body(reqwest::Body::wrap_stream(body));
        req = match &self.auth {
            Auth::None => req,
            Auth::Basic(u, p) => req.basic_auth(u, p.as_ref()),
            Auth::Bearer(t) => req.bearer_auth(t),
        };
        let done = tokio::spawn(async move {
            let resp = req.send().await.map_err(io::Error::other)?;
            match resp.status() {
                s if s.is_success() => Ok(()),
                s => Err(io::Error::other(format!(
                    "the WebDAV server answered a PUT with {s}"
                ))),
            }
        });
        StreamingPut {
            tx: Some(tx),
            done: Some(done),
        }
    }
}

/// A PUT in progress.
pub(crate) struct StreamingPut {
    tx: Option<mpsc::Sender<io::Result<Bytes>>>,
    done: Option<JoinHandle<io::Result<()>>>,
}

impl StreamingPut {
    pub(crate) async fn write(&mut self, data: Bytes) -> io::Result<()> {
        let sent = match &self.tx {
            Some(tx) => tx.send(Ok(data)).await.is_ok(),
            None => return Err(io::Error::other("write after close")),
        };
        if sent {
            return Ok(());
        }
        // The request ended before its body: its answer says why.
        self.tx = None;
        Err(self
            .answer()
            .await
            .err()
            .unwrap_or_else(|| io::Error::other("the WebDAV PUT ended before its body")))
    }

    /// Ends the body and waits for the server's answer.
    pub(crate) async fn close(&mut self) -> io::Result<()> {
        self.tx = None;
        self.answer().await
    }

    async fn answer(&mut self) -> io::Result<()> {
        match self.done.take() {
            Some(h) => h.await.map_err(io::Error::other)?,
            None => Err(io::Error::other("the WebDAV PUT was already closed")),
        }
    }

    /// Cuts the request off: the server never sees a complete body.
    pub(crate) fn abort(&mut self) {
        if let Some(tx) = self.tx.take() {
            let _ = tx.try_send(Err(io::Error::other("upload aborted")));
        }
        if let Some(h) = self.done.take() {
            h.abort();
        }
    }
}

impl Drop for StreamingPut {
    fn drop(&mut self) {
        self.abort();
    }
}
