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

With --console URL (the server's --web-addr), the console is driven too, over the DevTools
protocol: a wrong secret is refused; then it signs in, makes a bucket, uploads two files by drag
and drop (one of them large enough to go up in parts), shows an object's metadata and tags, sees
the status page count its requests, browses a folder page by page, downloads a file byte-exact
and deletes what it made. A screenshot of each page is kept under --screens (their paths
printed).

Usage: smoke_browser.py --endpoint URL --access-key AK --secret-key SK --chromium PATH --workdir DIR
           [--console URL --screens DIR [--console-only]]
"""

import argparse
import base64
import hashlib
import http.server
import json
import os
import queue
import random
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


class DevTools:
    """Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe:
    commands go in on its fd 3, answers and events come out on its fd 4, each a JSON text ended
    by a NUL byte), attached to one page."""

    def __init__(self, chromium, workdir, downloads):
        to_browser_r, self.to_browser = os.pipe()
        self.from_browser, from_browser_w = os.pipe()
        profile = tempfile.mkdtemp(prefix="chromium-console-", dir=workdir)
        self.log = open(os.path.join(workdir, "chromium-console.log"), "wb")
        flags = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--window-size=1280,900", f"--user-data-dir={profile}", "--remote-debugging-pipe",
        ]
        # The shell puts the two pipe ends at fds 3 and 4, where Chromium expects them.
        redirect = f'exec "$0" "$@" 3<&{to_browser_r} 4>&{from_browser_w}'
        self.proc = subprocess.Popen(
            ["/bin/sh", "-c", redirect, chromium, *flags],
            pass_fds=(to_browser_r, from_browser_w), stdout=self.log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)
        os.close(to_browser_r)
        os.close(from_browser_w)
        self.next_id = 0
        self.answers = {}
        self.events = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.call("Browser.setDownloadBehavior",
                  {"behavior": "allow", "downloadPath": downloads, "eventsEnabled": True})
        self.call("Page.enable", session=True)

    def _read(self):
        buf = b""
        while True:
            data = os.read(self.from_browser, 1 << 16)
            if not data:
                break
            buf += data
            while b"\0" in buf:
                raw, buf = buf.split(b"\0", 1)
                msg = json.loads(raw)
                with self.cond:
                    if "id" in msg:
                        self.answers[msg["id"]] = msg
                    else:
                        self.events.append(msg)
                    self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def call(self, method, params=None, session=False, timeout=60):
        with self.cond:
            self.next_id += 1
            mid = self.next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        os.write(self.to_browser, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self.cond:
            while mid not in self.answers:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise AssertionError(f"no answer to {method} from the browser")
                self.cond.wait(left)
            answer = self.answers.pop(mid)
        if "error" in answer:
            raise AssertionError(f"{method}: {answer['error']}")
        return answer.get("result", {})

    def js(self, expression):
        """The value of a script expression in the page (promises awaited)."""
        r = self.call("Runtime.evaluate", {"expression": expression, "awaitPromise": True,
                                            "returnByValue": True}, session=True)
        if "exceptionDetails" in r:
            raise AssertionError(f"the page threw on {expression!r}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_for(self, expression, what, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.2)
        raise AssertionError(f"the console never showed {what} ({expression})")

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", {"format": "png"}, session=True)["data"]
        with open(path, "wb") as fh:
            fh.write(base64.b64decode(data))
        print("screenshot:", path, flush=True)

    def close(self):
        try:
            self.call("Browser.close", timeout=10)
        except AssertionError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        os.close(self.to_browser)
        self.log.close()


def pattern(n):
    """The large file's bytes, made alike here and in the page."""
    return bytes(((i * 7) ^ (i >> 11)) & 255 for i in range(n))


LARGE = 20 * 1024 * 1024  # over the console's multipart threshold (16 MiB): three 8 MiB parts


def console(args, s3):
    """Drives the console in headless Chromium (see the module's docstring)."""
    os.makedirs(args.screens, exist_ok=True)
    downloads = tempfile.mkdtemp(prefix="downloads-", dir=args.workdir)
    bucket = "smoke-console"
    # A name to encode: in the signed path, the listing, the selector and the download.
    name = "small ä+b.bin"
    small = random.randbytes(150 * 1024)
    browser = DevTools(args.chromium, args.workdir, downloads)
    screens = []

    def shot(name):
        path = os.path.join(args.screens, f"console-{len(screens) + 1:02d}-{name}.png")
        browser.screenshot(path)
        screens.append(path)

    def fill(field, value):
        browser.js(f"document.getElementById({json.dumps(field)}).value = {json.dumps(value)}")

    def sign_in(secret):
        fill("signin-access", args.access_key)
        fill("signin-secret", secret)
        browser.js("document.getElementById('signin-form').requestSubmit()")

    def shown(view):
        browser.wait_for(f"document.body !== null && document.body.dataset.view === {json.dumps(view)}",
                         f"the {view} page")

    def row(attr, value):
        return f"document.querySelector('tr[{attr}=\"' + CSS.escape({json.dumps(value)}) + '\"]')"

    def listed(attr, value):
        return f"({row(attr, value)} !== null)"

    try:
        browser.call("Page.navigate", {"url": args.console + "/"}, session=True)
        shown("signin")
        shot("signin")

        # A wrong secret is refused, and nothing else is shown.
        sign_in(args.secret_key + "x")
        refusal = browser.wait_for(
            "!document.getElementById('signin-error').hidden && "
            "document.getElementById('signin-error').textContent", "the refusal")
        assert "SignatureDoesNotMatch" in refusal, refusal
        assert browser.js("document.body.dataset.view") == "signin"
        shot("signin-refused")

        sign_in(args.secret_key)
        shown("buckets")
        # The secret is kept nowhere but in the script's memory.
        assert browser.js("document.getElementById('signin-secret').value") == ""
        kept = browser.js("[localStorage.length, sessionStorage.length, document.cookie]")
        assert kept == [0, 0, ""], f"the page kept something: {kept}"
        browser.js("location.hash = '#/status'")
        shown("status")
        before = int(browser.wait_for("document.getElementById('st-requests').textContent",
                                      "the request count"))

        browser.js("location.hash = '#/buckets'")
        shown("buckets")
        fill("bucket-name", bucket)
        browser.js("document.getElementById('bucket-form').requestSubmit()")
        browser.wait_for(listed("data-bucket", bucket), "the new bucket")
        s3.head_bucket(Bucket=bucket)
        shot("buckets")

        browser.js(f"{row('data-bucket', bucket)}.querySelector('a').click()")
        shown("objects")
        browser.wait_for("!document.getElementById('obj-empty').hidden", "the empty bucket")
        # Two files dropped on the drop zone, as a person drags them from a file manager.
        browser.js(f"""(() => {{
            const small = Uint8Array.from(atob({json.dumps(base64.b64encode(small).decode())}),
                                          (c) => c.charCodeAt(0));
            const large = new Uint8Array({LARGE});
            for (let i = 0; i < large.length; i++) large[i] = ((i * 7) ^ (i >>> 11)) & 255;
            const dt = new DataTransfer();
            dt.items.add(new File([small], {json.dumps(name)}, {{type: "application/octet-stream"}}));
            dt.items.add(new File([large], "large.bin"));
            const drop = document.getElementById("drop");
            drop.dispatchEvent(new DragEvent("dragover", {{dataTransfer: dt, bubbles: true, cancelable: true}}));
            drop.dispatchEvent(new DragEvent("drop", {{dataTransfer: dt, bubbles: true, cancelable: true}}));
        }})()""")
        browser.wait_for("document.querySelectorAll('#uploads li.done, #uploads li.failed').length === 2",
                         "both uploads finished", timeout=120)
        failed = browser.js("Array.from(document.querySelectorAll('#uploads li.failed'), (li) => li.textContent)")
        assert not failed, failed
        browser.wait_for(listed("data-key", name) + " && " + listed("data-key", "large.bin"),
                         "the uploaded files listed")
        shot("objects")
        got = s3.get_object(Bucket=bucket, Key=name)["Body"].read()
        assert got == small, f"{name} differs from what the page uploaded"
        large = s3.get_object(Bucket=bucket, Key="large.bin")
        assert large["ETag"].endswith('-3"'), f"large.bin was not uploaded in 3 parts: {large['ETag']}"
        assert hashlib.md5(large["Body"].read()).digest() == hashlib.md5(pattern(LARGE)).digest(), \
            "large.bin differs from what the page uploaded"

        # An object's metadata and tags.
        s3.put_object_tagging(Bucket=bucket, Key=name,
                              Tagging={"TagSet": [{"Key": "colour", "Value": "blue"}]})
        browser.js(f"{row('data-key', name)}.querySelector('button.link').click()")
        meta = browser.wait_for(
            "document.getElementById('details-meta').textContent.includes('content-length') && "
            "document.getElementById('details-tags').textContent.includes('colour') && "
            "document.getElementById('details-versions').children.length > 0 && "
            "document.getElementById('details').textContent", "the object's details")
        assert str(len(small)) in meta and "blue" in meta, meta
        shot("object-details")

        # The status page counts what the page did.
        browser.js("location.hash = '#/status'")
        shown("status")
        after = int(browser.wait_for(
            f"Number(document.getElementById('st-requests').textContent) > {before} && "
            "document.getElementById('st-requests').textContent", "the requests counted"))
        assert after > before, (before, after)
        # Once a sample follows the page's requests, the chart draws them.
        browser.wait_for("document.querySelectorAll('#st-chart polyline').length === 2 && "
                         "document.querySelector('#st-chart polyline.requests')"
                         ".getAttribute('points').split(' ').length >= 2",
                         "the chart", timeout=30)
        shot("status")
        print(f"console: the status page counted {after} requests, {before} before", flush=True)

        # Folders from the delimiter, and a listing paged by continuation token (200 a page).
        many = [f"many/{i:03d}" for i in range(205)]
        for key in many:
            s3.put_object(Bucket=bucket, Key=key, Body=b"x")
        browser.js(f"location.hash = '#/b/{bucket}/'")
        shown("objects")
        browser.wait_for(listed("data-prefix", "many/"), "the folder")
        browser.js(f"{row('data-prefix', 'many/')}.querySelector('a').click()")
        browser.wait_for("document.querySelectorAll('#obj-rows tr').length === 200 && "
                         "!document.getElementById('obj-more').hidden", "the first page")
        browser.js("document.getElementById('obj-more').click()")
        browser.wait_for("document.querySelectorAll('#obj-rows tr').length === 205 && "
                         "document.getElementById('obj-more').hidden", "the second page")
        shown_keys = browser.js("Array.from(document.querySelectorAll('#obj-rows tr'), (tr) => tr.dataset.key)")
        assert shown_keys == many, "the pages do not list the folder's keys in order, once each"
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in many]})

        # Download, byte-exact.
        browser.js(f"location.hash = '#/b/{bucket}/'")
        shown("objects")
        browser.wait_for(listed("data-key", name), "the listing")
        browser.js(f"{row('data-key', name)}.querySelector('button.download').click()")
        path = os.path.join(downloads, name)
        deadline = time.monotonic() + 60
        while not (os.path.exists(path) and os.path.getsize(path) == len(small)):
            assert time.monotonic() < deadline, f"no download in {downloads}: {os.listdir(downloads)}"
            time.sleep(0.2)
        with open(path, "rb") as fh:
            assert fh.read() == small, "the downloaded file differs from the uploaded one"

        # Deletes through the console (its confirmations answered yes).
        browser.js("window.confirm = () => true")
        for key in (name, "large.bin"):
            browser.js(f"{row('data-key', key)}.querySelector('button.danger').click()")
            browser.wait_for(f"!{listed('data-key', key)}", f"{key} gone")
        browser.js("location.hash = '#/buckets'")
        browser.wait_for(listed("data-bucket", bucket), "the bucket listed")
        browser.js(f"{row('data-bucket', bucket)}.querySelector('button.danger').click()")
        browser.wait_for(f"!{listed('data-bucket', bucket)}", "the bucket gone")
        try:
            s3.head_bucket(Bucket=bucket)
            raise AssertionError("the bucket deleted in the console is still there")
        except ClientError as e:
            assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 404, e.response

        # A reload ends the session.
        browser.call("Page.reload", session=True)
        shown("signin")
        assert browser.js("document.getElementById('nav').hidden"), "signed in after a reload"
    finally:
        browser.close()
    print("console: screenshots in", args.screens, flush=True)
    for path in screens:
        print("  ", path)
    print("browser: the console signed in, refused a wrong secret, made a bucket, uploaded, "
          "counted, downloaded and deleted", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--access-key", required=True)
    p.add_argument("--secret-key", required=True)
    p.add_argument("--chromium", required=True)
    p.add_argument("--workdir", required=True)
    p.add_argument("--bucket", default="smoke-browser")
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--console", help="the console's URL (the server's --web-addr)")
    p.add_argument("--screens", help="where the console's screenshots go")
    p.add_argument("--console-only", action="store_true", help="skip the CORS part")
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
    if not args.console_only:
        cors(args, s3)
    if args.console:
        console(args, s3)


def cors(args, s3):
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
