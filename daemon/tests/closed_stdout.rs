//! The printing commands run as a shell pipeline runs them: `s3gate man | head` closes the pipe
//! before the page is written, and the command ends quietly with success.

use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};

/// A pipe whose reading end is already closed: every write to the other end fails with
/// `EPIPE`, as once `head` has read its lines and gone.
fn closed_pipe() -> Stdio {
    let mut fds = [0; 2];
    // SAFETY: `pipe` fills the two descriptors it creates; each is owned once, here.
    let (read, write) = unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0, "pipe");
        (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1]))
    };
    drop(read);
    Stdio::from(write)
}

#[test]
fn printing_into_a_closed_pipe_ends_quietly() {
    for args in [&["man"][..], &["completions", "bash"], &["config", "check"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_s3gate"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(closed_pipe())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{args:?}: {:?} {stderr}", out.status);
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
}
