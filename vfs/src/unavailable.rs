//! When the remote cannot serve for now: it cannot be reached (the connection is refused, reset
//! or aborted, is not connected, times out, or the network has no route to the host), or it
//! answered that it cannot serve at the moment (its own 503 or 429, or the 502 or 504 of a proxy
//! in front of it). Such a failure may pass by itself, so the client is told to try again later
//! (`503 ServiceUnavailable`), where any other failure is an internal error. A remote that asked
//! for fewer requests (its 429, S3's `SlowDown`) is throttling: the client is asked to slow down
//! (`503 SlowDown`), which S3's clients take as the cue to lower their rate.
//!
//! Invariants:
//! - [`is_unavailable`] is the one judge, asked where an I/O error becomes a `VfsError`.
//! - Each remote's conversion of its failures into `io::Error` keeps what it needs: a failed
//!   connection keeps its kind, found in the chain of causes where a client library wrapped it
//!   ([`connection_failure`]), and an answer that says the remote cannot serve now is made by
//!   [`answered`]. Every other failure keeps the kind it had (`Other` for most).
//! - A local directory's errors are judged alike: only a network filesystem under it fails with
//!   these kinds (an unreachable NFS server, a FUSE mount whose daemon died), and that is the
//!   storage being unavailable too. A local EIO is `Other`: an internal error.

// Built without `opendal`, the server serves local directories only: nothing makes the errors
// of a remote that answers, and only the judge is used.
#![cfg_attr(not(feature = "opendal"), allow(dead_code))]

use std::error::Error;
use std::fmt;
use std::io;

/// Whether `e`, met on the way to the storage, says it cannot serve for now.
pub(crate) fn is_unavailable(e: &io::Error) -> bool {
    is_connection_failure(e.kind()) || answer_of(e).is_some()
}

/// Whether `e` is the remote asking for fewer requests: an answer [`is_unavailable`] recognises,
/// of its 429 (S3's `SlowDown` among them, where its client tells it apart).
pub(crate) fn is_throttled(e: &io::Error) -> bool {
    answer_of(e).is_some_and(|a| a.throttled)
}

fn answer_of(e: &io::Error) -> Option<&Answered> {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<Answered>())
}

/// The kinds of a connection that could not be made or was lost.
fn is_connection_failure(kind: io::ErrorKind) -> bool {
    use io::ErrorKind::*;
    matches!(
        kind,
        ConnectionRefused
            | ConnectionReset
            | ConnectionAborted
            | NotConnected
            | TimedOut
            | HostUnreachable
            | NetworkUnreachable
            | NetworkDown
    )
}

/// The kind of the failed connection among the causes of `e` (itself included), if one is:
/// client libraries wrap the socket's error in their own.
pub(crate) fn connection_failure(e: &(dyn Error + 'static)) -> Option<io::ErrorKind> {
    let mut cause = Some(e);
    while let Some(e) = cause {
        if let Some(kind) = e
            .downcast_ref::<io::Error>()
            .map(io::Error::kind)
            .filter(|&k| is_connection_failure(k))
        {
            return Some(kind);
        }
        cause = e.source();
    }
    None
}

/// A request that failed before the remote answered, `e` with its causes, told by `message`: a
/// failed connection keeps its kind, anything else is `Other`.
pub(crate) fn unanswered(e: &(dyn Error + 'static), message: String) -> io::Error {
    io::Error::new(
        connection_failure(e).unwrap_or(io::ErrorKind::Other),
        message,
    )
}

/// The error of an HTTP answer of the remote that is not a success, told by `message`: one that
/// [`is_unavailable`] recognises when its status says the remote cannot serve for now, its own
/// 503 (S3's `ServiceUnavailable` and `SlowDown`) or 429, or a proxy's 502 or 504 in front of
/// it. A 500 is not: the remote failed at what it was asked, which asking again may not mend.
/// A 429 is also [`is_throttled`].
pub(crate) fn answered(status: u16, message: String) -> io::Error {
    match status {
        429 => io::Error::other(Answered {
            message,
            throttled: true,
        }),
        502..=504 => said_unavailable(message),
        _ => io::Error::other(message),
    }
}

/// The error of a remote that said it cannot serve for now, in words of its own protocol.
pub(crate) fn said_unavailable(message: String) -> io::Error {
    io::Error::other(Answered {
        message,
        throttled: false,
    })
}

/// What the remote answered when it said it cannot serve for now, and whether it asked for
/// fewer requests.
#[derive(Debug)]
struct Answered {
    message: String,
    throttled: bool,
}

impl fmt::Display for Answered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl Error for Answered {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_failures_and_busy_answers_are_unavailable() {
        for kind in [
            io::ErrorKind::ConnectionRefused,
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::TimedOut,
            io::ErrorKind::HostUnreachable,
            io::ErrorKind::NotConnected,
        ] {
            assert!(is_unavailable(&io::Error::from(kind)), "{kind:?}");
        }
        for status in [429, 502, 503, 504] {
            assert!(is_unavailable(&answered(status, "busy".into())), "{status}");
        }
    }

    #[test]
    fn only_a_request_for_fewer_requests_is_throttling() {
        assert!(is_throttled(&answered(429, "slow down".into())));
        for status in [502, 503, 504, 500, 404] {
            assert!(!is_throttled(&answered(status, "no".into())), "{status}");
        }
        assert!(!is_throttled(&said_unavailable("421 busy".into())));
        assert!(!is_throttled(&io::Error::from(
            io::ErrorKind::ConnectionRefused
        )));
    }

    #[test]
    fn other_failures_are_not() {
        assert!(!is_unavailable(&io::Error::from_raw_os_error(libc::EIO)));
        assert!(!is_unavailable(&io::Error::from(io::ErrorKind::NotFound)));
        assert!(!is_unavailable(&io::Error::other("corrupt")));
        for status in [400, 403, 404, 500, 501] {
            assert!(!is_unavailable(&answered(status, "no".into())), "{status}");
        }
    }

    #[test]
    fn a_wrapped_connection_failure_is_found_among_the_causes() {
        #[derive(Debug)]
        struct Wrapper(io::Error);
        impl fmt::Display for Wrapper {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("request failed")
            }
        }
        impl Error for Wrapper {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                Some(&self.0)
            }
        }
        let refused = Wrapper(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert_eq!(
            connection_failure(&refused),
            Some(io::ErrorKind::ConnectionRefused)
        );
        assert!(is_unavailable(&unanswered(&refused, "sent".into())));
        let missing = Wrapper(io::Error::from(io::ErrorKind::NotFound));
        assert_eq!(connection_failure(&missing), None);
        let unsent = unanswered(&missing, "sent".into());
        assert_eq!(unsent.kind(), io::ErrorKind::Other);
        assert!(!is_unavailable(&unsent));
        assert!(is_unavailable(&said_unavailable("421 closing".into())));
    }
}
