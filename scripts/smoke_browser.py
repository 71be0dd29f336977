#!/usr/bin/env python3
"""Browser part of the s3gate smoke test (run by scripts/smoke.sh): CORS in a real browser.

A page served from another origin (a local HTTP server on another port) is opened in headless
Chromium. With presigned URLs made here by boto3, it lists a bucket (GET) and uploads a file
(PUT), reads the upload's ETag response header, uploads a file through a form (POST Object with
a presigned POST policy) and reads its answer, and POSTs what it saw back to the server that
served it. With the bucket's CORS rules in place (ExposeHeader ETag) both must succeed and the
ETag must be the upload's; after DeleteBucketCors the same page must fail to do either, and
its upload must not have reached the bucket. The step fails when no result comes back: the
browser must have run.

Usage: smoke_browser.py --endpoint URL --access-key AK --secret-key SK --chromium PATH --workdir DIR
"""

import argparse
import hashlib
import http.server
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

# The page: its two requests, and what it saw, POSTed to /result on its own origin.
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>s3gate CORS</title></head>
<body><pre id="out">running</pre>
<script>
const urls = %(urls)s;
async function run() {
  const seen = {list: null, keys: [], put: null, etag: null, post: null, post_etag: null};
  try {
    const r = await fetch(urls.list);
    seen.list = r.status;
    const doc = new DOMParser().parseFromString(await r.text(), "application/xml");
    seen.keys = Array.from(doc.getElementsByTagName("Key")).map(k => k.textContent);
  } catch (e) {
    seen.list = "blocked: " + e;
  }
  try {
    const r = await fetch(urls.put, {method: "PUT", body: urls.body});
    seen.put = r.status;
    seen.etag = r.headers.get("ETag");
  } catch (e) {
    seen.put = "blocked: " + e;
  }
  try {
    // A form upload as a web app sends one: the presigned POST's fields, then the file.
    const form = new FormData();
    for (const [k, v] of Object.entries(urls.post.fields)) form.append(k, v);
    form.append("file", new Blob([urls.body], {type: "text/plain"}), "form.txt");
    const r = await fetch(urls.post.url, {method: "POST", body: form});
    seen.post = r.status;
    seen.post_etag = r.headers.get("ETag");
  } catch (e) {
    seen.post = "blocked: " + e;
  }
  document.getElementById("out").textContent = JSON.stringify(seen);
  await fetch("/result", {method: "POST", body: JSON.stringify(seen)});
}
run();
</script></body></html>
"""


class PageServer(http.server.ThreadingHTTPServer):
    """Serves the current page at /page.html and takes the page's results at /result."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.page = b""
        self.results = queue.Queue()

    @property
    def origin(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.split("?")[0] != "/page.html":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(self.server.page)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(self.server.page)

    def do_POST(self):
        if self.path != "/result":
            self.send_error(404)
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.results.put(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, fmt, *args):
        print("page server:", fmt % args, flush=True)


def run_page(args, server, urls, label):
    """Opens the page with `urls` in a fresh headless Chromium; returns what the page saw."""
    server.page = (PAGE % {"urls": json.dumps(urls)}).encode()
    profile = tempfile.mkdtemp(prefix="chromium-", dir=args.workdir)
    log_path = os.path.join(args.workdir, f"chromium-{label}.log")
    cmd = [
        args.chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        f"{server.origin}/page.html?{label}",
    ]
    print("running:", " ".join(cmd), flush=True)
    with open(log_path, "wb") as log:
        # In a process group of its own, so that its helper processes end with it.
        browser = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )
        try:
            seen = server.results.get(timeout=args.timeout)
        except queue.Empty:
            seen = None
        finally:
            os.killpg(browser.pid, signal.SIGTERM)
            try:
                browser.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(browser.pid, signal.SIGKILL)
                browser.wait()
            # Its helpers leave shortly after it: none outlives the step.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                try:
                    os.killpg(browser.pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
    if seen is None:
        with open(log_path, "rb") as fh:
            tail = fh.read()[-4000:].decode("utf-8", "replace")
        raise AssertionError(
            f"{label}: no result from the browser within {args.timeout}s "
            f"(exit {browser.returncode}); its output:\n{tail}"
        )
    print(f"{label}: the page saw {seen}", flush=True)
    return seen


def presign(s3, bucket, key):
    urls = {
        "list": s3.generate_presigned_url(
            "list_objects_v2", Params={"Bucket": bucket}, ExpiresIn=600
        ),
        "put": s3.generate_presigned_url(
            "put_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=600
        ),
        "body": f"uploaded by a browser to {key}\n",
        # A browser form upload (POST Object), with a policy signed here.
        "post": s3.generate_presigned_post(
            bucket, "form-" + key + "/${filename}",
            Fields={"success_action_status": "201"},
            Conditions=[{"success_action_status": "201"},
                        ["starts-with", "$key", "form-" + key + "/"]],
            ExpiresIn=600),
    }
    return urls


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--access-key", required=True)
    p.add_argument("--secret-key", required=True)
    p.add_argument("--chromium", required=True)
    p.add_argument("--workdir", required=True)
    p.add_argument("--bucket", default="smoke-browser")
    p.add_argument("--timeout", type=float, default=60)
    args = p.parse_args()
    os.makedirs(args.workdir, exist_ok=True)

    s3 = boto3.client(
        "s3",
        endpoint_url=args.endpoint,
        aws_access_key_id=args.access_key,
        aws_secret_access_key=args.secret_key,
        region_name="us-east-1",
        # SigV4 presigned URLs, as the browser SDKs make them.
        config=Config(signature_version="s3v4"),
    )
    server = PageServer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    bucket = args.bucket
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="present.txt", Body=b"listed\n")
    s3.put_bucket_cors(
        Bucket=bucket,
        CORSConfiguration={
            "CORSRules": [
                {
                    "AllowedOrigins": [server.origin],
                    "AllowedMethods": ["GET", "PUT", "POST"],
                    "AllowedHeaders": ["*"],
                    "ExposeHeaders": ["ETag"],
                    "MaxAgeSeconds": 0,
                }
            ]
        },
    )

    # With the rules: the page lists, uploads and reads the ETag.
    urls = presign(s3, bucket, "from-browser.txt")
    seen = run_page(args, server, urls, "allowed")
    assert seen["list"] == 200, seen
    assert "present.txt" in seen["keys"], seen
    assert seen["put"] == 200, seen
    want = '"' + hashlib.md5(urls["body"].encode()).hexdigest() + '"'
    assert seen["etag"] == want, f"the page read ETag {seen['etag']!r}, want {want}"
    head = s3.head_object(Bucket=bucket, Key="from-browser.txt")
    assert head["ETag"] == want, head
    got = s3.get_object(Bucket=bucket, Key="from-browser.txt")["Body"].read().decode()
    assert got == urls["body"], got
    # The form upload: answered 201, its ETag readable, the file stored under its own name.
    assert seen["post"] == 201, seen
    assert seen["post_etag"] == want, seen
    got = s3.get_object(Bucket=bucket, Key="form-from-browser.txt/form.txt")["Body"].read()
    assert got.decode() == urls["body"], got

    # Without them: the same page is refused both, and its upload never arrives.
    s3.delete_bucket_cors(Bucket=bucket)
    urls = presign(s3, bucket, "refused.txt")
    seen = run_page(args, server, urls, "refused")
    assert str(seen["list"]).startswith("blocked"), seen
    assert str(seen["put"]).startswith("blocked"), seen
    assert seen["etag"] is None, seen
    # A form POST needs no preflight: it is sent and may be stored, but the page cannot read
    # the answer.
    assert str(seen["post"]).startswith("blocked"), seen
    try:
        s3.head_object(Bucket=bucket, Key="refused.txt")
        raise AssertionError("the refused upload reached the bucket")
    except ClientError as e:
        assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 404, e.response

    for key in ("present.txt", "from-browser.txt", "form-from-browser.txt/form.txt",
                "form-refused.txt/form.txt"):
        s3.delete_object(Bucket=bucket, Key=key)
    s3.delete_bucket(Bucket=bucket)
    server.shutdown()
    print("browser: CORS allowed the page, then refused it", flush=True)


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAILED: {e}", file=sys.stderr)
        sys.exit(1)
