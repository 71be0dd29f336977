"""Starting and waiting for local servers, shared by the smoke, crash and bench scripts."""

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request


def free_port():
    """A loopback port free at the moment of asking."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(ready, proc, what, where, limit, pause):
    """Polls `ready()` until it holds; fails if `proc` exits first or `limit` seconds pass."""
    deadline = time.time() + limit
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited early (code {proc.returncode})")
        if ready():
            return
        time.sleep(pause)
    raise SystemExit(f"{what} did not answer {where} within {limit}s")


def wait_tcp(port, proc, what, limit=60):
    """Waits until something listens on `port`; fails if `proc` exits first."""
    def listening():
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False
    wait_until(listening, proc, what, f"on port {port}", limit, 0.2)


def wait_http(url, proc, what, limit=60):
    """Waits until `url` answers anything over HTTP; fails if `proc` exits first."""
    def answers():
        try:
            urllib.request.urlopen(url, timeout=2)
            return True
        except urllib.error.HTTPError:
            return True
        except Exception:
            return False
    wait_until(answers, proc, what, f"at {url}", limit, 0.1)


class Procs:
    """Processes started for a run, each logging to WORK/NAME.log, stopped together."""

    def __init__(self, work):
        self.work = work
        self.procs = []

    def start(self, name, argv, **kw):
        log = open(os.path.join(self.work, f"{name}.log"), "ab")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, **kw)
        self.procs.append(p)
        return p

    def stop(self, p):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def stop_all(self):
        for p in reversed(self.procs):
            self.stop(p)
