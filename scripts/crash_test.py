#!/usr/bin/env python3
"""Crash test of s3gate (run by scripts/smoke.sh, or on its own).

Starts the server on a folder, drives a mixed workload from several threads (PUT of small and
MiB-size objects, multipart uploads, CopyObject, DeleteObject, DeleteObjects), kills the server
with SIGKILL at a random moment, starts it again on the same folder, and checks:

- every acknowledged write is there, byte-exact, and every acknowledged delete is gone; a key
  with a request in flight at the kill holds its last acknowledged state or that request's;
- no partial object is ever visible: every object's bytes are one of the versions written;
- listings show exactly the objects that exist, and the folder holds exactly those files
  (no staging file leaks out); HEAD's ETag is the MD5 of the bytes (single-part objects).

Some keys sit beside a folder of their name (`k0` and `k0/s`): those a file tree cannot hold are
kept in the store of keys, which must then hold exactly one file per such key (no orphan left by
a kill between publishing and recording; with the write cache, once it has drained there).

With `--cache-mode writes`, acknowledged objects may still wait in the write cache when the
server is killed: after the restart every one of them must reach the folder (the remote)
byte-exact, so the folder is compared once the cache has drained.

With `--small-put-log SIZE`, PUTs of at most SIZE are acknowledged through the server's log
(`--small-put-log`) and their files written after: a kill before the checkpoint leaves files
the next start must write again from the log. Most PUTs are then small ones.

With `--versioned`, the bucket keeps versions: every version a write acknowledged (its
`VersionId`) must read back byte-exact by its id after every restart, deletes add markers, and
the version store holds exactly one file per kept version with bytes (no orphan). Each key's
history is modelled as a stack of versions: versions are also deleted by id (the current one
often, so that the version below becomes current again), and after a restart every key no
request was in flight for lists exactly its stack, newest first, markers where markers were.
Without the write cache the workload also writes folder markers (`d0/`, an empty PUT), content
under such keys (a PUT with bytes, kept in the store of keys) and objects below them (`d0/x`):
a folder marker's versions have no file, and when content under a `dir/` key is deleted by id
the marker version below it must be current again after any crash.

With `--remote-via webdav`, the server serves a named remote, `rclone serve webdav` over the
folder (its index in a cache folder of its own), so that versions move by the remote's own
rename, and keys a file tree cannot hold go into the store of keys under the served folder by
the remote's own upload.

Then the next round starts from what is there. Prints one line per round and a summary; exits 1
on the first finding.
"""

import argparse
import atexit
import hashlib
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import boto3
from botocore.config import Config

from localprocs import free_port, wait_tcp

MIB = 1024 * 1024
BUCKET = "crash"
EMPTY = hashlib.md5(b"").hexdigest()


class Server:
    def __init__(self, binary, data, log, cache_mode, small_put_log=None, remote=None):
        self.binary, self.data, self.log = binary, data, log
        self.extra = ["--vfs-cache-mode", cache_mode, "--vfs-write-back", "1"]
        if small_put_log:
            self.extra += ["--small-put-log", small_put_log]
        # A named remote: what is served, and the options that say where it and its index are.
        self.served = [data]
        if remote:
            conf, cache = remote
            self.served = ["back:", "--rclone-config", conf, "--cache-dir", cache]
        self.port = free_port()
        self.proc = None

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [self.binary, "serve", *self.served, "--addr", f"127.0.0.1:{self.port}",
                 "--auth-key", "crashak,crashsk", *self.extra],
                stdout=log, stderr=log)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"the server exited with {self.proc.returncode} at start (log: {self.log})")
            try:
                urllib.request.urlopen(self.endpoint + "/", timeout=1)
                return
            except urllib.error.HTTPError:
                return
            except OSError:
                time.sleep(0.05)
        sys.exit("the server did not answer within 60 s")

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()


def client(endpoint):
    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id="crashak", aws_secret_access_key="crashsk",
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=20,
                      s3={"addressing_style": "path"}))


def md5(data):
    return hashlib.md5(data).hexdigest()


class Worker(threading.Thread):
    """Writes its own keys one request at a time, so each key's history is a sequence."""

    def __init__(self, wid, endpoint, state, rng, stop, small, versioned):
        super().__init__(daemon=True)
        self.wid, self.s3, self.state, self.rng, self.stop = wid, client(endpoint), state, rng, stop
        self.small, self.versioned = small, versioned
        self.acked = 0

    def key(self):
        n = self.rng.randrange(15 if self.versioned else 12)
        if n >= 12:
            d = self.rng.randrange(2)
            return self.rng.choice([f"w{self.wid}/d{d}/", f"w{self.wid}/d{d}/x"])
        if n >= 9:
            return f"w{self.wid}/k{n - 9}/s"  # beside the object k0, k1 or k2
        return f"w{self.wid}/k{n}"

    def body(self):
        sizes = [0, 1, 100, 4096, 70_000, MIB + 3, 3 * MIB]
        if self.small:
            sizes += [4096] * 8 + [65_536, 30_000]
        size = self.rng.choice(sizes)
        return self.rng.randbytes(size)

    def attempt(self, keys, versions, call, ids=None):
        """Records versions as in flight, runs call; on success they become the truth, and the
        version ids `ids` finds in the answer (key -> id) go on top of their keys' stacks."""
        for k, v in zip(keys, versions):
            self.state.written.add(v)
            self.state.inflight.setdefault(k, set()).add(v)
        try:
            answer = call()
        except Exception:  # noqa: BLE001 - the kill cuts requests off any way it likes
            return False
        made = ids(answer) if ids and self.versioned else {}
        for k, v in zip(keys, versions):
            self.state.acked[k] = v
            self.state.inflight[k].discard(v)
            if made.get(k):
                self.state.stacks.setdefault(k, []).append((made[k], v))
                if v is not None:
                    self.state.kept[(k, made[k])] = v
        self.acked += 1
        return True

    def drop_version(self, k):
        """Deletes one version of `k` by its id, the current one more often than not; what is
        then on top of its stack is current."""
        stack = self.state.stacks.get(k)
        if not stack or self.state.inflight.get(k):
            return True
        i = len(stack) - 1 if self.rng.random() < 0.6 else self.rng.randrange(len(stack))
        vid = stack[i][0]
        if vid is None:
            return True
        rest = stack[:i] + stack[i + 1:]
        after = rest[-1][1] if rest else None
        self.state.dropping.add((k, vid))
        ok = self.attempt([k], [after], lambda: self.s3.delete_object(Bucket=BUCKET, Key=k, VersionId=vid))
        if ok:
            self.state.stacks[k] = rest
            self.state.kept.pop((k, vid), None)
            self.state.dropping.discard((k, vid))
            self.state.dropped += 1
        return ok

    def run(self):
        while not self.stop.is_set():
            ops = ["put", "put", "put", "multipart", "copy", "delete", "delete_many"]
            ops = ops + ["drop_version"] * 2 * self.versioned
            op = self.rng.choice(ops + ["put"] * 6 if self.small else ops)
            k = self.key()
            one = lambda answer: {k: answer.get("VersionId")}  # noqa: E731
            if op == "put":
                data = self.body()
                if k.endswith("/"):
                    # An empty PUT of a `dir/` key is a folder marker, unless content is current
                    # there (it is then empty content in the store of keys): only markers are
                    # written empty, so that an empty version of a `dir/` key is a marker's.
                    marker = self.state.acked.get(k) in (None, EMPTY) and self.rng.random() < 0.5
                    data = b"" if marker else data or b"x"
                ok = self.attempt([k], [md5(data)], lambda: self.s3.put_object(Bucket=BUCKET, Key=k, Body=data), one)
            elif op == "multipart":
                parts = [self.rng.randbytes(5 * MIB), self.rng.randbytes(self.rng.randrange(1, 200_000))]
                ok = self.attempt([k], [md5(b"".join(parts))], lambda: self.multipart(k, parts), one)
            elif op == "copy":
                src = self.key()
                version = self.state.acked.get(src)
                if version is None or src in self.state.inflight and self.state.inflight[src]:
                    continue
                if k.endswith("/") and version == EMPTY:
                    continue  # an empty copy onto a `dir/` key may be empty content, no marker
                ok = self.attempt([k], [version], lambda: self.s3.copy_object(
                    Bucket=BUCKET, Key=k, CopySource={"Bucket": BUCKET, "Key": src}), one)
            elif op == "delete":
                ok = self.attempt([k], [None], lambda: self.s3.delete_object(Bucket=BUCKET, Key=k), one)
            elif op == "drop_version":
                ok = self.drop_version(k)
            else:
                k2 = self.key()
                keys = sorted({k, k2})

                def delete_many():
                    r = self.s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": x} for x in keys]})
                    if r.get("Errors"):
                        raise RuntimeError(r["Errors"])
                    return r

                ok = self.attempt(keys, [None] * len(keys), delete_many, lambda r: {
                    d["Key"]: d.get("DeleteMarkerVersionId") for d in r.get("Deleted", [])})
            if not ok:
                return  # the server is gone

    def multipart(self, key, parts):
        up = self.s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
        done = []
        for n, p in enumerate(parts, 1):
            etag = self.s3.upload_part(Bucket=BUCKET, Key=key, UploadId=up, PartNumber=n, Body=p)["ETag"]
            done.append({"PartNumber": n, "ETag": etag})
        return self.s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=up,
                                                 MultipartUpload={"Parts": done})


class State:
    def __init__(self):
        self.acked = {}  # key -> md5 of the last acknowledged version, None when deleted
        self.inflight = {}  # key -> versions sent and not acknowledged
        self.written = set()  # every version ever sent
        self.kept = {}  # (key, version id) -> md5, for every version a write acknowledged
        self.stacks = {}  # key -> [(version id, md5 or None for a delete marker)], newest last
        self.dropping = set()  # (key, version id) deleted by id, not acknowledged
        self.dropped = 0  # versions deleted by id, acknowledged


def cache_dir(index_dir):
    """Where the write cache keeps the test bucket's objects: beside the index, which is the
    served folder's `.s3gate`, or for a named remote its folder under `--cache-dir`."""
    return os.path.join(index_dir, "writeback", "data", BUCKET)


def is_marker(key, size):
    """Whether a version of `key` of `size` bytes is a folder marker's (an empty `dir/`)."""
    return key.endswith("/") and size == 0


def listed_versions(s3, key):
    """The versions and markers of `key`, newest first: (id, is a delete marker, size)."""
    out = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=BUCKET, Prefix=key):
        out += [(v["VersionId"], False, v["Size"], v["IsLatest"])
                for v in page.get("Versions", []) if v["Key"] == key]
        out += [(m["VersionId"], True, 0, m["IsLatest"])
                for m in page.get("DeleteMarkers", []) if m["Key"] == key]
    # Ids sort as they were made. A `null` one (a file recorded after a crash, see check_stacks)
    # is the newest while it is current, whatever history is below it, and the oldest once a
    # newer version covers it (it then had no history: else it takes an id of its own).
    order = sorted(out, key=lambda v: (v[3], v[0] != "null", v[0]), reverse=True)
    return [v[:3] for v in order]


def check_stacks(s3, state, uncertain):
    """Each key's versions as the server lists them against its stack. A key with a request in
    flight at the kill takes the server's history (its versions read once to know them), and
    a version deleted by id in flight may be gone."""
    findings = []
    for k in sorted(set(state.stacks) | uncertain):
        listed = listed_versions(s3, k)
        if k in uncertain:
            stack = []
            for vid, marker, size in reversed(listed):
                if vid == "null":
                    # A write cut off after its file was published and before its record: the
                    # file is then current as another program's would be, without an id of its
                    # own until a newer version makes it noncurrent (the bucket keeps versions
                    # from the start, so no other version is `null`).
                    value = md5(s3.get_object(Bucket=BUCKET, Key=k, VersionId="null")["Body"].read())
                    stack.append((None, value))
                    continue
                if marker:
                    value = None
                elif (k, vid) in state.kept:
                    value = state.kept[(k, vid)]
                else:
                    value = md5(s3.get_object(Bucket=BUCKET, Key=k, VersionId=vid)["Body"].read())
                    state.kept[(k, vid)] = value
                stack.append((vid, value))
            ids = {vid for vid, _, _ in listed}
            for gone in [d for d in state.dropping if d[0] == k and d[1] not in ids]:
                state.kept.pop(gone, None)
            state.stacks[k] = stack
            continue
        want = [(vid, value is None) for vid, value in reversed(state.stacks[k])]
        got = [(vid, marker) for vid, marker, _ in listed]
        if len(got) != len(want) or any(w != g and (w[0] is not None or w[1] != g[1])
                                         for w, g in zip(want, got)):
            findings.append(f"{k}: versions listed {got}, acknowledged {want}")
    state.dropping.clear()
    return findings


def check_versions(s3, data_dir, state):
    """Every acknowledged version reads back by its id; the store holds one file per kept
    version."""
    findings = []
    for (k, vid), want in sorted(state.kept.items()):
        try:
            got = md5(s3.get_object(Bucket=BUCKET, Key=k, VersionId=vid)["Body"].read())
        except Exception as e:  # noqa: BLE001 - any failure is a lost version
            findings.append(f"{k} version {vid}: acknowledged, now {e}")
            continue
        if got != want:
            findings.append(f"{k} version {vid}: holds {got}, was written as {want}")
    kept = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=BUCKET):
        # A folder marker's versions have no file.
        kept += sum(1 for v in page.get("Versions", [])
                    if not v["IsLatest"] and not is_marker(v["Key"], v["Size"]))
    store = os.path.join(data_dir, ".s3gate", "versions", BUCKET)
    files = sum(len(f) for _, _, f in os.walk(store))
    if files != kept:
        findings.append(f"the version store holds {files} files for {kept} kept versions")
    return findings


def check(s3, data_dir, index_dir, state, cache_mode):
    """Compares what the restarted server has with what was acknowledged. Returns findings."""
    findings = []
    versions = {}
    listed = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        listed.update(c["Key"] for c in page.get("Contents", []))
    keys = set(state.acked) | set(state.inflight) | listed
    present = set()
    for k in sorted(keys):
        try:
            obj = s3.get_object(Bucket=BUCKET, Key=k)
            got = md5(obj["Body"].read())
            etag = obj["ETag"].strip('"')
            if "-" not in etag and etag != got:
                findings.append(f"{k}: ETag {etag} is not the MD5 of its bytes {got}")
        except s3.exceptions.NoSuchKey:
            got = None
        if got is not None:
            present.add(k)
            versions[k] = got
        allowed = {state.acked.get(k)} | state.inflight.get(k, set())
        if got not in allowed:
            what = "a version never written (partial?)" if got not in state.written else "a stale version"
            findings.append(f"{k}: holds {got}, {what}; allowed {sorted(map(str, allowed))}")
        state.acked[k] = got
    state.inflight.clear()
    if listed != present:
        findings.append(f"listing differs from GETs: only listed {sorted(listed - present)}, "
                        f"not listed {sorted(present - listed)}")
    if cache_mode != "off":
        cached = cache_dir(index_dir)
        deadline = time.time() + 60
        while any(files for _, _, files in os.walk(cached)):
            if time.time() > deadline:
                findings.append("the write cache did not drain to the remote within 60 s")
                break
            time.sleep(0.2)
    on_disk = {}
    root = os.path.join(data_dir, BUCKET)
    for dirpath, _, files in os.walk(root):
        for f in files:
            path = os.path.join(dirpath, f)
            with open(path, "rb") as fh:
                on_disk[os.path.relpath(path, root)] = md5(fh.read())
    # A folder marker is its folder, no file.
    folders = {k for k in present if k.endswith("/") and versions[k] == EMPTY}
    for k in sorted(folders):
        if not os.path.isdir(os.path.join(root, k)):
            findings.append(f"{k}: a folder marker without its folder")
    # What the folder cannot hold is in the store of keys, one file per key.
    stored = os.path.join(data_dir, ".s3gate", "keys", BUCKET)
    kept = sum(len(files) for _, _, files in os.walk(stored))
    if not set(on_disk) <= present or len(present - set(on_disk) - folders) != kept:
        findings.append(f"folder differs from objects: extra files {sorted(set(on_disk) - present)[:10]}, "
                        f"{kept} files in the store of keys for {sorted(present - set(on_disk))[:10]}")
    for k in sorted(present & set(on_disk)):
        if on_disk[k] != versions[k]:
            findings.append(f"{k}: the file holds {on_disk[k]}, the server serves {versions[k]}")
    return findings


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--server-bin", required=True)
    p.add_argument("--workdir", required=True)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--seed", type=int, default=20261130)
    p.add_argument("--cache-mode", default="off", choices=["off", "minimal", "writes", "full"])
    p.add_argument("--versioned", action="store_true", help="the bucket keeps versions")
    p.add_argument("--small-put-log", metavar="SIZE",
                   help="the server logs PUTs of at most SIZE (and most PUTs are small)")
    p.add_argument("--remote-via", choices=["webdav"],
                   help="serve the folder as a named remote, through rclone serve")
    p.add_argument("--rclone", default="rclone", help="the rclone binary (--remote-via)")
    args = p.parse_args()
    rng = random.Random(args.seed)
    data = os.path.join(args.workdir, "data")
    os.makedirs(data, exist_ok=True)
    remote = None
    index = os.path.join(data, ".s3gate")
    if args.remote_via:
        port = free_port()
        with open(os.path.join(args.workdir, "rclone.log"), "ab") as log:
            dav = subprocess.Popen([args.rclone, "serve", "webdav", data, "--addr", f"127.0.0.1:{port}"],
                                   stdout=log, stderr=log)
        atexit.register(dav.kill)
        wait_tcp(port, dav, "rclone serve webdav")
        conf = os.path.join(args.workdir, "rclone.conf")
        with open(conf, "w") as f:
            f.write(f"[back]\ntype = webdav\nurl = http://127.0.0.1:{port}/\n")
        remote = (conf, os.path.join(args.workdir, "cache"))
        index = os.path.join(args.workdir, "cache", "remotes", "back")
    server = Server(args.server_bin, data, os.path.join(args.workdir, "server.log"),
                    args.cache_mode, args.small_put_log, remote)
    server.start()
    client(server.endpoint).create_bucket(Bucket=BUCKET)
    if args.versioned:
        client(server.endpoint).put_bucket_versioning(
            Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    state = State()
    total_acked = 0
    total_waiting = 0
    for round_no in range(1, args.rounds + 1):
        stop = threading.Event()
        workers = [Worker(i, server.endpoint, state, random.Random(rng.random()), stop,
                          bool(args.small_put_log),
                          args.versioned)
                   for i in range(args.workers)]
        for w in workers:
            w.start()
        time.sleep(rng.uniform(0.3, 2.0))
        server.kill()
        waiting = sum(len(files) for _, _, files in os.walk(cache_dir(index)))
        total_waiting += waiting
        stop.set()
        for w in workers:
            w.join(timeout=30)
        acked = sum(w.acked for w in workers)
        total_acked += acked
        server.start()
        uncertain = {k for k, sent in state.inflight.items() if sent}
        findings = check(client(server.endpoint), data, index, state, args.cache_mode)
        if args.versioned:
            findings += check_stacks(client(server.endpoint), state, uncertain)
            findings += check_versions(client(server.endpoint), data, state)
        inflight = sum(1 for w in workers if w.is_alive())
        print(f"round {round_no}: {acked} requests acknowledged before the kill, "
              f"{len([k for k, v in state.acked.items() if v])} objects after restart"
              + (f" ({waiting} waited in the write cache at the kill)"
                 if args.cache_mode != "off" else "")
              + ", "
              f"{'OK' if not findings else 'FINDINGS'}", flush=True)
        if findings or inflight:
            for f in findings:
                print("  " + f)
            if inflight:
                print(f"  {inflight} workers did not stop")
            server.kill()
            sys.exit(1)
    server.kill()
    print(f"crash test (cache mode {args.cache_mode}"
          + (", versioned" if args.versioned else "")
          + (f", over {args.remote_via}" if args.remote_via else "") + f"): {args.rounds} SIGKILL rounds, "
          f"{total_acked} acknowledged requests, "
          + (f"{total_waiting} objects waiting in the write cache at a kill, "
             if args.cache_mode != "off" else "") +
          "every acknowledged write present and exact, no partial object, no leaked file"
          + (f"; PUTs up to {args.small_put_log} through the log" if args.small_put_log else "")
          + (f"; {len(state.kept)} acknowledged versions read back by id, {state.dropped} "
             "deleted by id, every key listing its acknowledged history, the version store "
             "holding one file per kept version" if args.versioned else ""))


if __name__ == "__main__":
    main()
