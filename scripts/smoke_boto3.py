#!/usr/bin/env python3
"""boto3 part of the s3gate smoke test (run by scripts/smoke.sh).

Uses a boto3 client with default settings against a running server; with
--tls-endpoint and --ca-bundle, also against a server speaking HTTPS, and
presigned URLs (SigV2 and SigV4) fetched with curl. Prints a PASS/FAIL line per
step and appends "PASS<TAB>name" / "FAIL<TAB>name" lines to the --results file
so that the calling script can count them.
"""

import argparse
import concurrent.futures
import datetime
import hashlib
import os
import subprocess
import sys
import time
import traceback
import urllib.parse

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

MIB = 1024 * 1024


class Smoke:
    def __init__(self, args):
        self.args = args
        self.s3 = boto3.client(
            "s3",
            endpoint_url=args.endpoint,
            aws_access_key_id=args.access_key,
            aws_secret_access_key=args.secret_key,
            region_name="us-east-1",
        )
        self.bucket = args.bucket
        self.bucket2 = args.bucket + "-copies"
        self.work = args.workdir
        self.failed = 0

    def step(self, name, fn):
        name = "boto3: " + name
        t0 = time.monotonic()
        try:
            fn()
            status = "PASS"
        except Exception:  # noqa: BLE001 - any failure fails the step
            status = "FAIL"
            self.failed += 1
            detail = traceback.format_exc()
        secs = time.monotonic() - t0
        print(f"{status}  {name} ({secs:.1f}s)", flush=True)
        if status == "FAIL":
            for line in detail.rstrip().splitlines()[-40:]:
                print("      | " + (line if len(line) <= 400 else line[:400] + " ..."))
            sys.stdout.flush()
        with open(self.args.results, "a", encoding="utf-8") as fh:
            fh.write(f"{status}\t{name}\n")

    # -- helpers

    def expect_client_error(self, codes, fn, *a, **kw):
        """fn(*a, **kw) must raise a ClientError whose code or status is in codes."""
        try:
            fn(*a, **kw)
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code")
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code in codes or str(status) in codes:
                return e
            raise AssertionError(f"expected {codes}, got code={code!r} status={status}") from e
        raise AssertionError(f"expected {codes}, but the call succeeded")

    def write_random(self, name, size):
        path = os.path.join(self.work, name)
        with open(path, "wb") as fh:
            left = size
            while left:
                n = min(left, 4 * MIB)
                fh.write(os.urandom(n))
                left -= n
        return path

    def before_signing(self, operation, change, fn, *a, **kw):
        """fn(*a, **kw) with change(request) applied to `operation`'s requests before they are
        signed, as a client that sends more than this botocore's parameters would."""
        def hook(request, **_):
            change(request)
        event = f"before-sign.s3.{operation}"
        self.s3.meta.events.register(event, hook)
        try:
            return fn(*a, **kw)
        finally:
            self.s3.meta.events.unregister(event, hook)

    def with_headers(self, operation, headers, fn, *a, **kw):
        """fn(*a, **kw) with extra request headers on `operation` (obstore, s3fs-fuse)."""
        def add(request):
            for k, v in headers.items():
                request.headers[k] = v
        return self.before_signing(operation, add, fn, *a, **kw)

    def with_query(self, operation, extra, fn, *a, **kw):
        """fn(*a, **kw) with `extra` added to `operation`'s query string (a cache buster)."""
        def add(request):
            request.url += ("&" if "?" in request.url else "?") + extra
        return self.before_signing(operation, add, fn, *a, **kw)

    @staticmethod
    def file_digest(path, algo="sha256"):
        h = hashlib.new(algo)
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(MIB), b""):
                h.update(block)
        return h.hexdigest()

    # -- steps

    def create_bucket(self):
        self.s3.create_bucket(Bucket=self.bucket)
        self.s3.create_bucket(Bucket=self.bucket2)
        self.s3.head_bucket(Bucket=self.bucket)
        names = [b["Name"] for b in self.s3.list_buckets()["Buckets"]]
        assert self.bucket in names and self.bucket2 in names, names
        loc = self.s3.get_bucket_location(Bucket=self.bucket).get("LocationConstraint")
        assert loc in (None, "", "us-east-1"), loc

    BODY = b"hello from boto3\n" * 100

    def put_object(self):
        r = self.s3.put_object(
            Bucket=self.bucket,
            Key="hello/world.txt",
            Body=self.BODY,
            Metadata={"color": "blue", "Mixed-Case": "Value"},
            ContentType="text/plain",
            ContentDisposition='attachment; filename="world.txt"',
        )
        want = '"' + hashlib.md5(self.BODY).hexdigest() + '"'
        assert r["ETag"] == want, (r["ETag"], want)

    def head_object(self):
        h = self.s3.head_object(Bucket=self.bucket, Key="hello/world.txt")
        assert h["Metadata"]["color"] == "blue", h["Metadata"]
        assert h["Metadata"] == {"color": "blue", "mixed-case": "Value"}, h["Metadata"]
        assert h["ContentType"] == "text/plain", h["ContentType"]
        assert h["ContentLength"] == len(self.BODY), h["ContentLength"]
        assert h["ContentDisposition"] == 'attachment; filename="world.txt"', h.get("ContentDisposition")
        assert h["ETag"] == '"' + hashlib.md5(self.BODY).hexdigest() + '"', h["ETag"]
        assert isinstance(h["LastModified"], datetime.datetime), h["LastModified"]
        self.expect_client_error({"404"}, self.s3.head_object, Bucket=self.bucket, Key="hello/nope")

    def get_object(self):
        r = self.s3.get_object(Bucket=self.bucket, Key="hello/world.txt")
        assert r["Body"].read() == self.BODY
        assert r["Metadata"] == {"color": "blue", "mixed-case": "Value"}, r["Metadata"]
        assert r["ContentType"] == "text/plain", r["ContentType"]
        # response-* overrides
        r = self.s3.get_object(
            Bucket=self.bucket, Key="hello/world.txt", ResponseContentType="application/x-smoke"
        )
        assert r["ContentType"] == "application/x-smoke", r["ContentType"]
        assert r["Body"].read() == self.BODY
        self.expect_client_error({"NoSuchKey"}, self.s3.get_object, Bucket=self.bucket, Key="hello/nope")

    def unknown_query_names(self):
        key = "hello/cache-busted.txt"
        self.with_query("PutObject", "cachebust=1700000000", self.s3.put_object,
                        Bucket=self.bucket, Key=key, Body=b"fresh")
        r = self.with_query("GetObject", "v=3&utm_source=smoke", self.s3.get_object,
                            Bucket=self.bucket, Key=key)
        assert r["Body"].read() == b"fresh"
        # A sub-resource of S3 this server does not serve is no GetObject.
        self.expect_client_error({"NotImplemented"}, self.s3.get_object_torrent,
                                 Bucket=self.bucket, Key=key)
        self.s3.delete_object(Bucket=self.bucket, Key=key)

    N_MANY = 1100

    def many_keys(self):
        keys = [f"many/g{i // 10:03d}/k{i % 10}" for i in range(self.N_MANY)]

        def put(k):
            self.s3.put_object(Bucket=self.bucket, Key=k, Body=k.encode())

        with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
            list(pool.map(put, keys))

        # Default page size (1000): two pages.
        pages, got = 0, []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix="many/"):
            pages += 1
            contents = page.get("Contents", [])
            assert page["KeyCount"] == len(contents), (page["KeyCount"], len(contents))
            got += [c["Key"] for c in contents]
        assert len(got) == self.N_MANY, f"{len(got)} keys listed, {self.N_MANY} expected"
        assert got == sorted(keys), "keys missing, duplicated or out of order"
        assert pages == 2, f"{pages} pages"

        # Pages of 25 across 110 common prefixes.
        prefixes, pages = [], 0
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix="many/", Delimiter="/", PaginationConfig={"PageSize": 25}
        ):
            pages += 1
            assert not page.get("Contents"), page.get("Contents")
            prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        want = sorted({k.rsplit("/", 1)[0] + "/" for k in keys})
        assert prefixes == want, f"{len(prefixes)} prefixes listed, {len(want)} expected"
        assert pages == 5, f"{pages} pages"

        # ListObjects v1 with markers.
        got = []
        for page in self.s3.get_paginator("list_objects").paginate(
            Bucket=self.bucket, Prefix="many/", PaginationConfig={"PageSize": 300}
        ):
            got += [c["Key"] for c in page.get("Contents", [])]
        assert got == sorted(keys), f"v1 listing: {len(got)} keys"

    BIG = 20 * MIB + 17

    def upload_download(self):
        src = self.write_random("big.bin", self.BIG)
        dst = os.path.join(self.work, "big.back")
        # Single-part transfer: keep the file below the multipart threshold.
        single = TransferConfig(multipart_threshold=64 * MIB)
        self.s3.upload_file(src, self.bucket, "big/file.bin", Config=single)
        h = self.s3.head_object(Bucket=self.bucket, Key="big/file.bin")
        assert h["ContentLength"] == self.BIG, h["ContentLength"]
        assert h["ETag"] == '"' + self.file_digest(src, "md5") + '"', h["ETag"]
        self.s3.download_file(self.bucket, "big/file.bin", dst, Config=single)
        assert self.file_digest(src) == self.file_digest(dst), "downloaded bytes differ"

    def copy_object(self):
        # COPY directive (default), within the bucket.
        self.s3.copy_object(
            Bucket=self.bucket, Key="copies/world.txt",
            CopySource={"Bucket": self.bucket, "Key": "hello/world.txt"},
        )
        h = self.s3.head_object(Bucket=self.bucket, Key="copies/world.txt")
        assert h["Metadata"] == {"color": "blue", "mixed-case": "Value"}, h["Metadata"]
        assert h["ContentType"] == "text/plain", h["ContentType"]
        # REPLACE, into the other bucket, under an awkward key.
        key = "copied + replaced/ü=1 x.txt"
        r = self.s3.copy_object(
            Bucket=self.bucket2, Key=key,
            CopySource={"Bucket": self.bucket, "Key": "hello/world.txt"},
            MetadataDirective="REPLACE", Metadata={"size": "small"}, ContentType="text/x-smoke",
        )
        assert r["CopyObjectResult"]["ETag"] == '"' + hashlib.md5(self.BODY).hexdigest() + '"', r
        h = self.s3.head_object(Bucket=self.bucket2, Key=key)
        assert h["Metadata"] == {"size": "small"}, h["Metadata"]
        assert h["ContentType"] == "text/x-smoke", h["ContentType"]
        assert self.s3.get_object(Bucket=self.bucket2, Key=key)["Body"].read() == self.BODY
        keys = [c["Key"] for c in self.s3.list_objects_v2(Bucket=self.bucket2).get("Contents", [])]
        assert keys == [key], keys
        # The 20 MiB object, copied server-side.
        self.s3.copy_object(
            Bucket=self.bucket2, Key="big-copy.bin", CopySource={"Bucket": self.bucket, "Key": "big/file.bin"}
        )
        h2 = self.s3.head_object(Bucket=self.bucket2, Key="big-copy.bin")
        h1 = self.s3.head_object(Bucket=self.bucket, Key="big/file.bin")
        assert (h2["ContentLength"], h2["ETag"]) == (h1["ContentLength"], h1["ETag"]), (h1, h2)

    def tagging(self):
        b = self.bucket
        self.s3.put_object(Bucket=b, Key="tags/obj", Body=b"tagged", Tagging="project=smoke&stage=a%20b")
        h = self.s3.head_object(Bucket=b, Key="tags/obj")
        etag = h["ETag"]
        assert h["ResponseMetadata"]["HTTPHeaders"].get("x-amz-tagging-count") == "2", h
        tags = self.s3.get_object_tagging(Bucket=b, Key="tags/obj")["TagSet"]
        assert tags == [{"Key": "project", "Value": "smoke"}, {"Key": "stage", "Value": "a b"}], tags
        self.s3.put_object_tagging(
            Bucket=b, Key="tags/obj",
            Tagging={"TagSet": [{"Key": "z", "Value": "last"}, {"Key": "a", "Value": ""}]},
        )
        tags = self.s3.get_object_tagging(Bucket=b, Key="tags/obj")["TagSet"]
        assert tags == [{"Key": "a", "Value": ""}, {"Key": "z", "Value": "last"}], tags
        assert self.s3.head_object(Bucket=b, Key="tags/obj")["ETag"] == etag
        self.expect_client_error(
            {"InvalidTag"}, self.s3.put_object_tagging, Bucket=b, Key="tags/obj",
            Tagging={"TagSet": [{"Key": f"k{i}", "Value": "v"} for i in range(11)]},
        )
        self.s3.delete_object_tagging(Bucket=b, Key="tags/obj")
        assert self.s3.get_object_tagging(Bucket=b, Key="tags/obj")["TagSet"] == []
        self.expect_client_error({"NoSuchTagSet"}, self.s3.get_bucket_tagging, Bucket=b)
        self.s3.put_bucket_tagging(Bucket=b, Tagging={"TagSet": [{"Key": "team", "Value": "qa"}]})
        tags = self.s3.get_bucket_tagging(Bucket=b)["TagSet"]
        assert tags == [{"Key": "team", "Value": "qa"}], tags
        self.s3.delete_bucket_tagging(Bucket=b)
        self.expect_client_error({"NoSuchTagSet"}, self.s3.get_bucket_tagging, Bucket=b)
        self.s3.delete_object(Bucket=b, Key="tags/obj")
        # A signed, empty x-amz-tagging, as Velero sends on every PUT: no tags.
        self.with_headers("PutObject", {"x-amz-tagging": ""},
                          self.s3.put_object, Bucket=b, Key="tags/empty", Body=b"x")
        assert self.s3.get_object_tagging(Bucket=b, Key="tags/empty")["TagSet"] == []
        self.s3.delete_object(Bucket=b, Key="tags/empty")

    def ranged_get(self):
        data = self.BODY
        r = self.s3.get_object(Bucket=self.bucket, Key="hello/world.txt", Range="bytes=0-9")
        assert r["ResponseMetadata"]["HTTPStatusCode"] == 206, r["ResponseMetadata"]["HTTPStatusCode"]
        assert r["ContentRange"] == f"bytes 0-9/{len(data)}", r.get("ContentRange")
        assert r["ContentLength"] == 10, r["ContentLength"]
        assert r["Body"].read() == data[:10]
        r = self.s3.get_object(Bucket=self.bucket, Key="hello/world.txt", Range="bytes=-5")
        assert r["ContentRange"] == f"bytes {len(data) - 5}-{len(data) - 1}/{len(data)}", r.get("ContentRange")
        assert r["Body"].read() == data[-5:]
        r = self.s3.get_object(Bucket=self.bucket, Key="hello/world.txt", Range="bytes=1000-")
        assert r["Body"].read() == data[1000:]
        self.expect_client_error(
            {"InvalidRange"}, self.s3.get_object, Bucket=self.bucket, Key="hello/world.txt",
            Range=f"bytes={len(data) + 10}-{len(data) + 20}",
        )

    def conditional_get(self):
        h = self.s3.head_object(Bucket=self.bucket, Key="hello/world.txt")
        etag, mtime = h["ETag"], h["LastModified"]
        kw = {"Bucket": self.bucket, "Key": "hello/world.txt"}
        self.expect_client_error({"304"}, self.s3.get_object, IfNoneMatch=etag, **kw)
        self.expect_client_error({"PreconditionFailed", "412"}, self.s3.get_object, IfMatch='"00000000000000000000000000000000"', **kw)
        assert self.s3.get_object(IfMatch=etag, **kw)["Body"].read() == self.BODY
        self.expect_client_error({"304"}, self.s3.get_object, IfModifiedSince=mtime, **kw)
        past = datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone.utc)
        self.expect_client_error({"PreconditionFailed", "412"}, self.s3.get_object, IfUnmodifiedSince=past, **kw)
        # If-None-Match present: If-Modified-Since is ignored.
        r = self.s3.get_object(IfNoneMatch='"other"', IfModifiedSince=mtime, **kw)
        assert r["Body"].read() == self.BODY
        # If-Match wins over If-Unmodified-Since.
        r = self.s3.get_object(IfMatch=etag, IfUnmodifiedSince=past, **kw)
        assert r["Body"].read() == self.BODY
        self.expect_client_error({"304"}, self.s3.head_object, IfNoneMatch=etag, **kw)

    def delete_objects(self):
        keys = ["copies/world.txt", "hello/world.txt", "big/file.bin", "never/existed"]
        r = self.s3.delete_objects(
            Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": False}
        )
        assert sorted(d["Key"] for d in r.get("Deleted", [])) == sorted(keys), r
        assert not r.get("Errors"), r["Errors"]
        # Quiet mode, 1000 keys at a time, for the many/ keys.
        keys = [c["Key"] for p in self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix="many/")
                for c in p.get("Contents", [])]
        assert len(keys) == self.N_MANY, f"{len(keys)} keys left, {self.N_MANY} expected"
        answers = [
            self.s3.delete_objects(
                Bucket=self.bucket, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]], "Quiet": True}
            )
            for i in range(0, len(keys), 1000)
        ]
        for r in answers:
            assert not r.get("Errors"), r["Errors"][:5]
            assert not r.get("Deleted"), f"quiet mode answered {len(r['Deleted'])} <Deleted> entries"
        left = self.s3.list_objects_v2(Bucket=self.bucket, Prefix="many/")
        assert left["KeyCount"] == 0 and not left.get("Contents"), left.get("Contents")

    def multipart(self):
        size = 20 * MIB + 5
        src = self.write_random("mpu.bin", size)
        dst = os.path.join(self.work, "mpu.back")
        cfg = TransferConfig()  # 8 MiB threshold and parts: three parts
        self.s3.upload_file(src, self.bucket, "mpu/file.bin", Config=cfg)
        md5s = []
        with open(src, "rb") as fh:
            for part in iter(lambda: fh.read(cfg.multipart_chunksize), b""):
                md5s.append(hashlib.md5(part).digest())
        want = f'"{hashlib.md5(b"".join(md5s)).hexdigest()}-{len(md5s)}"'
        h = self.s3.head_object(Bucket=self.bucket, Key="mpu/file.bin")
        assert h["ETag"] == want, (h["ETag"], want)
        assert h["ContentLength"] == size, h["ContentLength"]
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix="mpu/")["Contents"]
        assert listed[0]["ETag"] == want, (listed[0]["ETag"], want)
        self.s3.download_file(self.bucket, "mpu/file.bin", dst, Config=cfg)
        assert self.file_digest(src) == self.file_digest(dst), "downloaded bytes differ"
        # Managed copy above the threshold: UploadPartCopy, server-side.
        self.s3.copy({"Bucket": self.bucket, "Key": "mpu/file.bin"}, self.bucket2, "mpu/copied.bin", Config=cfg)
        c = self.s3.head_object(Bucket=self.bucket2, Key="mpu/copied.bin")
        assert c["ContentLength"] == size and c["ETag"].endswith('-3"'), (c["ContentLength"], c["ETag"])
        got = self.s3.get_object(Bucket=self.bucket2, Key="mpu/copied.bin")["Body"].read()
        assert hashlib.md5(got).hexdigest() == self.file_digest(src, "md5"), "copied bytes differ"
        self.s3.delete_object(Bucket=self.bucket2, Key="mpu/copied.bin")
        # An aborted upload leaves nothing behind.
        up = self.s3.create_multipart_upload(Bucket=self.bucket, Key="mpu/aborted.bin")
        self.s3.upload_part(Bucket=self.bucket, Key="mpu/aborted.bin", UploadId=up["UploadId"],
                            PartNumber=1, Body=b"x" * 1024)
        self.s3.abort_multipart_upload(Bucket=self.bucket, Key="mpu/aborted.bin", UploadId=up["UploadId"])
        self.expect_client_error({"404"}, self.s3.head_object, Bucket=self.bucket, Key="mpu/aborted.bin")
        self.s3.delete_object(Bucket=self.bucket, Key="mpu/file.bin")

    def keys_anywhere(self):
        # Keys a file tree cannot hold as plain files are kept in the store of keys and served
        # like any other: beside a folder of their name, content under "dir/", odd segments.
        b = self.bucket + "-keys"
        self.s3.create_bucket(Bucket=b)
        keys = {"a/b": b"child", "a": b"parent", "x/": b"folder content",
                "a//b": b"double", "/lead": b"leading", "d/" + "n" * 300: b"long"}
        for key, body in keys.items():
            self.s3.put_object(Bucket=b, Key=key, Body=body)
        for key, body in keys.items():
            got = self.s3.get_object(Bucket=b, Key=key)["Body"].read()
            assert got == body, (key, got)
        listed = [c["Key"] for c in self.s3.list_objects_v2(Bucket=b)["Contents"]]
        assert listed == sorted(keys), listed
        top = self.s3.list_objects_v2(Bucket=b, Delimiter="/")
        assert [c["Key"] for c in top.get("Contents", [])] == ["a"], top
        prefixes = [p["Prefix"] for p in top["CommonPrefixes"]]
        assert prefixes == ["/", "a/", "d/", "x/"], prefixes
        self.s3.copy_object(Bucket=b, Key="a", CopySource={"Bucket": b, "Key": "x/"})
        assert self.s3.get_object(Bucket=b, Key="a")["Body"].read() == b"folder content"
        for key in keys:
            self.s3.delete_object(Bucket=b, Key=key)
        assert "Contents" not in self.s3.list_objects_v2(Bucket=b)
        self.s3.delete_bucket(Bucket=b)

    def directory_chmod(self):
        # s3fs-fuse keeps a directory as an empty "dir/" object with its mode in metadata, and
        # changes the mode (chmod, touch, rsync -a, tar x) by copying the marker onto itself.
        key = "fuse/dir/"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=b"",
                           ContentType="application/x-directory", Metadata={"mode": "16877"})
        h = self.s3.head_object(Bucket=self.bucket, Key=key)
        assert h["ContentType"] == "application/x-directory", h["ContentType"]
        assert h["Metadata"].get("mode") == "16877", h["Metadata"]
        self.s3.copy_object(Bucket=self.bucket, Key=key, CopySource={"Bucket": self.bucket, "Key": key},
                            MetadataDirective="REPLACE", ContentType="application/x-directory",
                            Metadata={"mode": "16832", "mtime": "1700000000"})
        h = self.s3.head_object(Bucket=self.bucket, Key=key)
        assert h["Metadata"] == {"mode": "16832", "mtime": "1700000000"}, h["Metadata"]
        listed = [c["Key"] for c in self.s3.list_objects_v2(Bucket=self.bucket, Prefix="fuse/")["Contents"]]
        assert listed == [key], listed
        self.s3.delete_object(Bucket=self.bucket, Key=key)

    def presigned_post(self):
        # A web page's form upload, as boto3 presigns it, with both signature versions.
        b = self.bucket
        for version in ("s3v4", "s3"):
            client = boto3.client(
                "s3", endpoint_url=self.args.endpoint, aws_access_key_id=self.args.access_key,
                aws_secret_access_key=self.args.secret_key, region_name="us-east-1",
                config=Config(signature_version=version))
            body = f"form upload {version}".encode()
            post = client.generate_presigned_post(
                b, "forms/" + version + "/${filename}",
                Fields={"Content-Type": "text/plain", "x-amz-meta-via": "form"},
                Conditions=[["starts-with", "$key", "forms/"], {"Content-Type": "text/plain"},
                            {"x-amz-meta-via": "form"}, ["content-length-range", 1, 1024]],
                ExpiresIn=300)
            status, _ = self.post_form(post["url"], post["fields"], "page.txt", body)
            assert status == 204, status
            h = self.s3.head_object(Bucket=b, Key=f"forms/{version}/page.txt")
            assert h["ContentType"] == "text/plain" and h["Metadata"] == {"via": "form"}, h
            got = self.s3.get_object(Bucket=b, Key=f"forms/{version}/page.txt")["Body"].read()
            assert got == body, got
            # Beyond the policy's size range: refused, nothing stored.
            status, text = self.post_form(post["url"], post["fields"], "big.txt", b"x" * 2000)
            assert status == 400 and b"EntityTooLarge" in text, (status, text)
            self.expect_client_error({"404", "NoSuchKey"}, self.s3.head_object, Bucket=b,
                                     Key=f"forms/{version}/big.txt")

    @staticmethod
    def post_form(url, fields, filename, data):
        import urllib.error
        import urllib.request
        boundary = "smokeFormBoundary" + hashlib.md5(data).hexdigest()[:12]
        parts = []
        for k, v in fields.items():
            parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'
                         f"{v}\r\n".encode())
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                     f'filename="{filename}"\r\nContent-Type: text/plain\r\n\r\n'.encode())
        parts.append(data + f"\r\n--{boundary}--\r\n".encode())
        req = urllib.request.Request(url, data=b"".join(parts), method="POST", headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def conditional_writes(self):
        # obstore's create-only copy and put, and conditional Complete and delete.
        b = self.bucket
        first = self.s3.put_object(Bucket=b, Key="cond/a", Body=b"first")["ETag"]
        self.s3.put_object(Bucket=b, Key="cond/src", Body=b"source")
        e = self.expect_client_error({"PreconditionFailed", "412"}, self.with_headers, "CopyObject",
                                     {"If-None-Match": "*"}, self.s3.copy_object, Bucket=b, Key="cond/a",
                                     CopySource={"Bucket": b, "Key": "cond/src"})
        assert self.s3.get_object(Bucket=b, Key="cond/a")["Body"].read() == b"first", e
        self.with_headers("CopyObject", {"If-None-Match": "*"}, self.s3.copy_object, Bucket=b,
                          Key="cond/new", CopySource={"Bucket": b, "Key": "cond/src"})
        assert self.s3.get_object(Bucket=b, Key="cond/new")["Body"].read() == b"source"
        part = b"p" * (5 * MIB)
        for if_none, want in (("*", "412"), (None, "200")):
            up = self.s3.create_multipart_upload(Bucket=b, Key="cond/a")
            etag = self.s3.upload_part(Bucket=b, Key="cond/a", UploadId=up["UploadId"], PartNumber=1,
                                       Body=part)["ETag"]
            complete = dict(Bucket=b, Key="cond/a", UploadId=up["UploadId"],
                            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
            headers = {"If-None-Match": if_none} if if_none else {"If-Match": first}
            if want == "412":
                self.expect_client_error({"PreconditionFailed", "412"}, self.with_headers,
                                         "CompleteMultipartUpload", headers,
                                         self.s3.complete_multipart_upload, **complete)
                self.s3.abort_multipart_upload(Bucket=b, Key="cond/a", UploadId=up["UploadId"])
            else:
                self.with_headers("CompleteMultipartUpload", headers,
                                  self.s3.complete_multipart_upload, **complete)
        assert self.s3.head_object(Bucket=b, Key="cond/a")["ContentLength"] == len(part)
        self.expect_client_error({"PreconditionFailed", "412"}, self.with_headers, "DeleteObject",
                                 {"If-Match": first}, self.s3.delete_object, Bucket=b, Key="cond/a")
        for k in ("cond/a", "cond/src", "cond/new"):
            self.s3.delete_object(Bucket=b, Key=k)

    def acls(self):
        """Canned ACLs where the bucket's ownership controls allow them, read by an unsigned
        client; AccessDenied for what they do not grant; the controls' own errors."""
        from botocore import UNSIGNED

        b = self.bucket + "-acl"
        self.s3.create_bucket(Bucket=b, ObjectOwnership="ObjectWriter")
        try:
            self.s3.put_bucket_acl(Bucket=b, ACL="public-read")
            self.s3.put_object(Bucket=b, Key="open", Body=b"for everyone", ACL="public-read")
            self.s3.put_object(Bucket=b, Key="closed", Body=b"for the owner")
            grants = self.s3.get_object_acl(Bucket=b, Key="open")["Grants"]
            uris = {(g["Grantee"].get("URI"), g["Permission"]) for g in grants}
            assert ("http://acs.amazonaws.com/groups/global/AllUsers", "READ") in uris, grants
            anon = boto3.client(
                "s3",
                endpoint_url=self.args.endpoint,
                region_name="us-east-1",
                config=Config(signature_version=UNSIGNED),
            )
            assert anon.get_object(Bucket=b, Key="open")["Body"].read() == b"for everyone"
            keys = [c["Key"] for c in anon.list_objects_v2(Bucket=b)["Contents"]]
            assert keys == ["closed", "open"], keys
            self.expect_client_error({"AccessDenied"}, anon.get_object, Bucket=b, Key="closed")
            self.expect_client_error({"AccessDenied"}, anon.put_object, Bucket=b, Key="x", Body=b"x")
            self.expect_client_error({"AccessDenied"}, anon.list_buckets)
            self.expect_client_error(
                {"InvalidBucketAclWithObjectOwnership"},
                self.s3.put_bucket_ownership_controls,
                Bucket=b,
                OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            )
            self.expect_client_error(
                {"AccessControlListNotSupported"},
                self.s3.put_object,
                Bucket=self.bucket,
                Key="acl-refused",
                Body=b"x",
                ACL="public-read",
            )
        finally:
            for k in ("open", "closed"):
                self.s3.delete_object(Bucket=b, Key=k)
            self.s3.delete_bucket(Bucket=b)

    def delete_buckets(self):
        # Whatever earlier steps left behind goes first, one DeleteObject each.
        for b in (self.bucket, self.bucket2):
            for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=b):
                for c in page.get("Contents", []):
                    self.s3.delete_object(Bucket=b, Key=c["Key"])
        self.s3.delete_bucket(Bucket=self.bucket2)
        self.s3.delete_bucket(Bucket=self.bucket)
        names = [b["Name"] for b in self.s3.list_buckets()["Buckets"]]
        assert self.bucket not in names and self.bucket2 not in names, names
        self.expect_client_error({"NoSuchBucket", "404"}, self.s3.head_bucket, Bucket=self.bucket)

    # -- HTTPS and presigned URLs

    def tls_client(self, **config):
        return boto3.client(
            "s3",
            endpoint_url=self.args.tls_endpoint,
            aws_access_key_id=self.args.access_key,
            aws_secret_access_key=self.args.secret_key,
            region_name="us-east-1",
            verify=self.args.ca_bundle,
            config=Config(**config) if config else None,
        )

    TLS_BUCKET = "smoke-boto3-tls"

    def https_defaults(self):
        # Default settings over HTTPS: uploads go as aws-chunked bodies with a trailing
        # CRC32, downloads are validated against the stored checksum.
        s3 = self.tls_client()
        s3.create_bucket(Bucket=self.TLS_BUCKET)
        s3.put_object(Bucket=self.TLS_BUCKET, Key="small", Body=self.BODY)
        h = s3.head_object(Bucket=self.TLS_BUCKET, Key="small", ChecksumMode="ENABLED")
        assert any(k.startswith("Checksum") and k != "ChecksumType" for k in h), h
        got = s3.get_object(Bucket=self.TLS_BUCKET, Key="small", ChecksumMode="ENABLED")["Body"].read()
        assert got == self.BODY
        src = self.write_random("tls-12m.bin", 12 * MIB + 3)
        cfg = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB)
        s3.upload_file(src, self.TLS_BUCKET, "big", Config=cfg)
        back = os.path.join(self.work, "tls-12m.back")
        s3.download_file(self.TLS_BUCKET, "big", back)
        assert self.file_digest(src) == self.file_digest(back)
        etag = s3.head_object(Bucket=self.TLS_BUCKET, Key="big")["ETag"]
        assert etag.endswith('-3"'), etag

    def curl(self, *args):
        """Runs curl against the HTTPS server; returns the HTTP status."""
        out = subprocess.run(
            ["curl", "-sS", "--cacert", self.args.ca_bundle, "-w", "%{http_code}", *args],
            check=True, capture_output=True, text=True, timeout=60,
        )
        return int(out.stdout.strip()[-3:])

    @staticmethod
    def tamper(url, param):
        parts = urllib.parse.urlsplit(url)
        q = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        q = [(k, ("A" if v[:1] != "A" else "B") + v[1:]) if k == param else (k, v) for k, v in q]
        return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(q)))

    def presigned_urls(self):
        body = self.write_random("presign.bin", 100_000)
        out = os.path.join(self.work, "presign.back")
        for version, sig_param in (("s3", "Signature"), ("s3v4", "X-Amz-Signature")):
            s3 = self.tls_client(signature_version=version)
            key = f"presigned-{version}"
            put = s3.generate_presigned_url(
                "put_object", Params={"Bucket": self.TLS_BUCKET, "Key": key}, ExpiresIn=300)
            assert sig_param in put, put
            # SigV2 signs Content-Type: send none, as the URL was signed without one.
            upload = ("-o", os.devnull, "-X", "PUT", "-H", "Content-Type:", "--data-binary", "@" + body)
            status = self.curl(*upload, self.tamper(put, sig_param))
            assert status == 403, f"{version}: tampered PUT answered {status}"
            status = self.curl(*upload, put)
            assert status == 200, f"{version}: presigned PUT answered {status}"
            get = s3.generate_presigned_url(
                "get_object", Params={"Bucket": self.TLS_BUCKET, "Key": key}, ExpiresIn=300)
            assert self.curl("-o", out, get) == 200, version
            assert self.file_digest(out) == self.file_digest(body), version
            status = self.curl("-o", os.devnull, self.tamper(get, sig_param))
            assert status == 403, f"{version}: tampered GET answered {status}"
        # Expired: S3's AccessDenied, never the object.
        s3 = self.tls_client(signature_version="s3v4")
        url = s3.generate_presigned_url(
            "get_object", Params={"Bucket": self.TLS_BUCKET, "Key": "presigned-s3"}, ExpiresIn=1)
        time.sleep(2)
        assert self.curl("-o", os.devnull, url) == 403

    def https_cleanup(self):
        s3 = self.tls_client()
        for c in s3.list_objects_v2(Bucket=self.TLS_BUCKET).get("Contents", []):
            s3.delete_object(Bucket=self.TLS_BUCKET, Key=c["Key"])
        s3.delete_bucket(Bucket=self.TLS_BUCKET)

    def sigv2_header_auth(self):
        """botocore's `s3` signer (SigV2 headers) requests a bucket as /bucket and signs
        /bucket/: bucket and object requests must verify either way."""
        s3 = boto3.client(
            "s3",
            endpoint_url=self.args.endpoint,
            aws_access_key_id=self.args.access_key,
            aws_secret_access_key=self.args.secret_key,
            region_name="us-east-1",
            config=Config(signature_version="s3", s3={"addressing_style": "path"}),
        )
        bucket = self.bucket + "-sigv2"
        s3.create_bucket(Bucket=bucket)
        s3.head_bucket(Bucket=bucket)
        assert s3.list_objects(Bucket=bucket).get("Contents", []) == []
        s3.put_object(Bucket=bucket, Key="dir/v2.txt", Body=b"signed by v2")
        assert s3.get_object(Bucket=bucket, Key="dir/v2.txt")["Body"].read() == b"signed by v2"
        keys = [c["Key"] for c in s3.list_objects(Bucket=bucket, Prefix="dir/")["Contents"]]
        assert keys == ["dir/v2.txt"], keys
        assert s3.get_bucket_accelerate_configuration(Bucket=bucket).get("Status") is None
        s3.delete_object(Bucket=bucket, Key="dir/v2.txt")
        s3.delete_bucket(Bucket=bucket)
        self.expect_client_error(("404", "NoSuchBucket"), s3.head_bucket, Bucket=bucket)

    def bucket_policy(self):
        """A public-read policy on a prefix: the document read back byte for byte, the bucket
        public, an unsigned GET served there and refused elsewhere; BlockPublicPolicy refusing
        it again; nothing public once both are deleted."""
        import json
        import urllib.error
        import urllib.request
        b = self.bucket2
        self.s3.put_object(Bucket=b, Key="public/hello.txt", Body=b"hello")
        self.s3.put_object(Bucket=b, Key="private.txt", Body=b"no")
        doc = json.dumps({"Version": "2012-10-17", "Statement": [{
            "Sid": "PublicRead", "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
            "Resource": f"arn:aws:s3:::{b}/public/*"}]}, indent=1)

        def anonymous(key):
            try:
                with urllib.request.urlopen(f"{self.args.endpoint}/{b}/{key}", timeout=30) as r:
                    return r.status, r.read()
            except urllib.error.HTTPError as e:
                return e.code, b""

        assert anonymous("public/hello.txt")[0] == 403
        self.s3.put_bucket_policy(Bucket=b, Policy=doc)
        assert self.s3.get_bucket_policy(Bucket=b)["Policy"] == doc
        assert self.s3.get_bucket_policy_status(Bucket=b)["PolicyStatus"]["IsPublic"] is True
        assert anonymous("public/hello.txt") == (200, b"hello")
        assert anonymous("private.txt")[0] == 403
        self.expect_client_error(("MalformedPolicy",), self.s3.put_bucket_policy, Bucket=b,
                                 Policy=doc.replace('"Principal"', '"NotPrincipal"'))
        self.s3.put_public_access_block(Bucket=b, PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True,
            "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
        assert anonymous("public/hello.txt")[0] == 403
        self.expect_client_error(("AccessDenied",), self.s3.put_bucket_policy, Bucket=b, Policy=doc)
        self.s3.delete_public_access_block(Bucket=b)
        self.s3.delete_bucket_policy(Bucket=b)
        self.expect_client_error(("NoSuchBucketPolicy",), self.s3.get_bucket_policy, Bucket=b)
        assert anonymous("public/hello.txt")[0] == 403
        self.s3.delete_objects(Bucket=b, Delete={"Objects": [
            {"Key": "public/hello.txt"}, {"Key": "private.txt"}]})

    def configuration_reads(self):
        """What Terraform's aws_s3_bucket reads when it refreshes a bucket, answered as S3 does
        for a bucket with none of the configuration; then GetObjectAttributes and ListBuckets
        pages."""
        b = self.bucket2
        missing = [
            (self.s3.get_bucket_policy, "NoSuchBucketPolicy"),
            (self.s3.get_bucket_lifecycle_configuration, "NoSuchLifecycleConfiguration"),
            (self.s3.get_bucket_replication, "ReplicationConfigurationNotFoundError"),
            (self.s3.get_bucket_encryption, "ServerSideEncryptionConfigurationNotFoundError"),
            (self.s3.get_object_lock_configuration, "ObjectLockConfigurationNotFoundError"),
            (self.s3.get_bucket_website, "NoSuchWebsiteConfiguration"),
            (self.s3.get_public_access_block, "NoSuchPublicAccessBlockConfiguration"),
        ]
        for call, code in missing:
            self.expect_client_error((code,), call, Bucket=b)
        # A new bucket's objects belong to its owner, as on S3 since 2023.
        rules = self.s3.get_bucket_ownership_controls(Bucket=b)["OwnershipControls"]["Rules"]
        assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}], rules
        assert "LoggingEnabled" not in self.s3.get_bucket_logging(Bucket=b)
        assert "Status" not in self.s3.get_bucket_accelerate_configuration(Bucket=b)
        assert self.s3.get_bucket_request_payment(Bucket=b)["Payer"] == "BucketOwner"
        assert self.s3.get_bucket_policy_status(Bucket=b)["PolicyStatus"]["IsPublic"] is False
        self.s3.put_object(Bucket=b, Key="attrs", Body=b"x" * 1000, ChecksumAlgorithm="SHA256")
        attrs = self.s3.get_object_attributes(
            Bucket=b, Key="attrs", ObjectAttributes=["ETag", "Checksum", "ObjectSize", "StorageClass"])
        assert attrs["ObjectSize"] == 1000, attrs
        assert attrs["ETag"] == hashlib.md5(b"x" * 1000).hexdigest(), attrs
        assert attrs["Checksum"]["ChecksumSHA256"], attrs
        assert attrs["StorageClass"] == "STANDARD", attrs
        self.s3.delete_object(Bucket=b, Key="attrs")
        names, token = [], None
        while True:
            kw = {"MaxBuckets": 1, "Prefix": self.bucket}
            if token:
                kw["ContinuationToken"] = token
            page = self.s3.list_buckets(**kw)
            assert page.get("Prefix") == self.bucket, page
            names += [x["Name"] for x in page["Buckets"]]
            token = page.get("ContinuationToken")
            if not token:
                break
        assert self.bucket in names and b in names and names == sorted(names), names

    def versioning(self):
        """put_bucket_versioning goes through with boto3's digest (no Status changes nothing, MFA
        delete refused, a bad Status MalformedXML); in an Enabled bucket every version reads back,
        a delete adds a marker, list_object_versions pages through versions and markers; while
        Suspended a write is the null version; deleting every version by id empties the bucket."""
        b = self.bucket + "-versions"
        self.s3.create_bucket(Bucket=b)
        assert "Status" not in self.s3.get_bucket_versioning(Bucket=b)
        self.s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"MFADelete": "Disabled"})
        self.expect_client_error(("NotImplemented",), self.s3.put_bucket_versioning, Bucket=b,
                                 VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"})
        self.expect_client_error(("MalformedXML",), self.s3.put_bucket_versioning,
                                 Bucket=b, VersioningConfiguration={"Status": "On"})
        assert "Status" not in self.s3.get_bucket_versioning(Bucket=b)
        self.s3.put_object(Bucket=b, Key="k", Body=b"before")
        self.s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
        assert self.s3.get_bucket_versioning(Bucket=b)["Status"] == "Enabled"
        v1 = self.s3.put_object(Bucket=b, Key="k", Body=b"one")["VersionId"]
        v2 = self.s3.put_object(Bucket=b, Key="k", Body=b"two")["VersionId"]
        for version, body in (("null", b"before"), (v1, b"one"), (v2, b"two")):
            got = self.s3.get_object(Bucket=b, Key="k", VersionId=version)
            assert got["Body"].read() == body and got["VersionId"] == version, version
        marker = self.s3.delete_object(Bucket=b, Key="k")
        assert marker["DeleteMarker"] and marker["VersionId"], marker
        self.expect_client_error(("NoSuchKey", "404"), self.s3.get_object, Bucket=b, Key="k")
        versions, markers = [], []
        for page in self.s3.get_paginator("list_object_versions").paginate(
                Bucket=b, PaginationConfig={"PageSize": 1}):
            versions += [(v["VersionId"], v["IsLatest"]) for v in page.get("Versions", [])]
            markers += [(m["VersionId"], m["IsLatest"]) for m in page.get("DeleteMarkers", [])]
        assert versions == [(v2, False), (v1, False), ("null", False)], versions
        assert markers == [(marker["VersionId"], True)], markers
        self.s3.put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Suspended"})
        put = self.s3.put_object(Bucket=b, Key="k", Body=b"suspended")
        # S3 names no version in a write's answer while Suspended, and names it null on a read.
        assert "VersionId" not in put, put
        got = self.s3.get_object(Bucket=b, Key="k")
        assert got["Body"].read() == b"suspended" and got["VersionId"] == "null", got
        self.expect_client_error(("BucketNotEmpty",), self.s3.delete_bucket, Bucket=b)
        every = self.s3.list_object_versions(Bucket=b)
        ids = [{"Key": v["Key"], "VersionId": v["VersionId"]}
               for v in every.get("Versions", []) + every.get("DeleteMarkers", [])]
        done = self.s3.delete_objects(Bucket=b, Delete={"Objects": ids})
        assert not done.get("Errors") and len(done["Deleted"]) == len(ids) == 4, done
        self.s3.delete_bucket(Bucket=b)

    def object_lock(self):
        """A bucket made with ObjectLockEnabledForBucket: versioning Enabled, suspending refused;
        put_object_lock_configuration with a default retention stamped on new versions; a
        retention and a legal hold set by headers and by their own calls, read back; a locked
        version refuses deletion by id until the hold is off and the GOVERNANCE retention is
        bypassed; a delete without an id adds a marker; every version then deleted."""
        from datetime import datetime, timedelta, timezone
        b = self.bucket + "-locked"
        self.s3.create_bucket(Bucket=b, ObjectLockEnabledForBucket=True)
        assert self.s3.get_bucket_versioning(Bucket=b)["Status"] == "Enabled"
        self.expect_client_error(("InvalidBucketState", "409"), self.s3.put_bucket_versioning,
                                 Bucket=b, VersioningConfiguration={"Status": "Suspended"})
        self.s3.put_object_lock_configuration(Bucket=b, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
        conf = self.s3.get_object_lock_configuration(Bucket=b)["ObjectLockConfiguration"]
        assert conf["Rule"]["DefaultRetention"] == {"Mode": "GOVERNANCE", "Days": 1}, conf
        self.expect_client_error(("InvalidRetentionPeriod",), self.s3.put_object_lock_configuration,
                                 Bucket=b, ObjectLockConfiguration={
                                     "ObjectLockEnabled": "Enabled",
                                     "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 0}}})
        stamped = self.s3.put_object(Bucket=b, Key="stamped", Body=b"s")["VersionId"]
        head = self.s3.head_object(Bucket=b, Key="stamped")
        assert head["ObjectLockMode"] == "GOVERNANCE", head
        until = (datetime.now(timezone.utc) + timedelta(days=2)).replace(microsecond=0)
        held = self.s3.put_object(Bucket=b, Key="held", Body=b"h", ObjectLockMode="GOVERNANCE",
                                  ObjectLockRetainUntilDate=until,
                                  ObjectLockLegalHoldStatus="ON")["VersionId"]
        got = self.s3.get_object_retention(Bucket=b, Key="held", VersionId=held)["Retention"]
        assert got["Mode"] == "GOVERNANCE" and got["RetainUntilDate"] == until, got
        hold = self.s3.get_object_legal_hold(Bucket=b, Key="held", VersionId=held)
        assert hold["LegalHold"]["Status"] == "ON", hold
        self.expect_client_error(("AccessDenied",), self.s3.delete_object, Bucket=b, Key="held",
                                 VersionId=held, BypassGovernanceRetention=True)
        self.s3.put_object_legal_hold(Bucket=b, Key="held", VersionId=held,
                                      LegalHold={"Status": "OFF"})
        self.expect_client_error(("AccessDenied",), self.s3.delete_object, Bucket=b, Key="held",
                                 VersionId=held)
        self.s3.put_object_retention(Bucket=b, Key="held", VersionId=held, Retention={
            "Mode": "GOVERNANCE", "RetainUntilDate": until + timedelta(days=1)})
        marker = self.s3.delete_object(Bucket=b, Key="held")
        assert marker["DeleteMarker"], marker
        every = self.s3.list_object_versions(Bucket=b)
        ids = [{"Key": v["Key"], "VersionId": v["VersionId"]}
               for v in every.get("Versions", []) + every.get("DeleteMarkers", [])]
        refused = self.s3.delete_objects(Bucket=b, Delete={"Objects": ids})
        locked = [{"Key": e["Key"], "VersionId": e["VersionId"]} for e in refused.get("Errors", [])]
        assert {e["Code"] for e in refused["Errors"]} == {"AccessDenied"}, refused
        assert sorted(v["VersionId"] for v in locked) == sorted([stamped, held]), refused
        done = self.s3.delete_objects(Bucket=b, Delete={"Objects": locked},
                                      BypassGovernanceRetention=True)
        assert not done.get("Errors") and len(done["Deleted"]) == 2, done

    def folder_marker_versions(self):
        """Nakivo's pattern in a locked bucket: every key listed by list_object_versions, `dir/`
        placeholders included, has a version id, and put_object_retention takes each; a delete
        of a marker adds a delete marker, and its locked version refuses deletion until
        bypassed."""
        from datetime import datetime, timedelta, timezone
        b = self.bucket + "-dirs"
        self.s3.create_bucket(Bucket=b, ObjectLockEnabledForBucket=True)
        made = {"repo/": self.s3.put_object(Bucket=b, Key="repo/", Body=b"")["VersionId"],
                "repo/blob": self.s3.put_object(Bucket=b, Key="repo/blob", Body=b"x")["VersionId"]}
        again = self.s3.put_object(Bucket=b, Key="repo/", Body=b"")["VersionId"]
        assert again != made["repo/"], again
        listed = self.s3.list_object_versions(Bucket=b)["Versions"]
        seen = sorted((v["Key"], v["VersionId"], v["IsLatest"]) for v in listed)
        assert seen == sorted([("repo/", again, True), ("repo/", made["repo/"], False),
                               ("repo/blob", made["repo/blob"], True)]), seen
        until = (datetime.now(timezone.utc) + timedelta(days=1)).replace(microsecond=0)
        for v in listed:
            self.s3.put_object_retention(Bucket=b, Key=v["Key"], VersionId=v["VersionId"],
                                         Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until})
        got = self.s3.get_object_retention(Bucket=b, Key="repo/", VersionId=made["repo/"])
        assert got["Retention"]["RetainUntilDate"] == until, got
        self.expect_client_error(("AccessDenied",), self.s3.delete_object, Bucket=b, Key="repo/",
                                 VersionId=made["repo/"])
        marker = self.s3.delete_object(Bucket=b, Key="repo/")
        assert marker["DeleteMarker"] and marker["VersionId"], marker
        every = self.s3.list_object_versions(Bucket=b)
        ids = [{"Key": v["Key"], "VersionId": v["VersionId"]}
               for v in every.get("Versions", []) + every.get("DeleteMarkers", [])]
        done = self.s3.delete_objects(Bucket=b, Delete={"Objects": ids},
                                      BypassGovernanceRetention=True)
        assert not done.get("Errors") and len(done["Deleted"]) == 4, (done.get("Errors"), len(done["Deleted"]))
        self.s3.delete_bucket(Bucket=b)

    def lifecycle(self):
        """put_bucket_lifecycle_configuration goes through with boto3's checksum and reads back;
        a transition is refused; an object a rule expires says so in x-amz-expiration; the
        configuration goes with delete_bucket_lifecycle."""
        b = self.bucket + "-lifecycle"
        self.s3.create_bucket(Bucket=b)
        rules = [
            {"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"},
             "Expiration": {"Days": 7}},
            {"ID": "old", "Status": "Disabled",
             "Filter": {"And": {"Prefix": "old/", "Tags": [{"Key": "k", "Value": "v"}],
                                "ObjectSizeGreaterThan": 10}},
             "NoncurrentVersionExpiration": {"NoncurrentDays": 3, "NewerNoncurrentVersions": 2}},
            {"ID": "uploads", "Status": "Enabled", "Filter": {"Prefix": ""},
             "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 2}},
        ]
        self.s3.put_bucket_lifecycle_configuration(Bucket=b, LifecycleConfiguration={"Rules": rules})
        got = self.s3.get_bucket_lifecycle_configuration(Bucket=b)["Rules"]
        assert got == rules, got
        self.expect_client_error(
            ("NotImplemented",), self.s3.put_bucket_lifecycle_configuration, Bucket=b,
            LifecycleConfiguration={"Rules": [{
                "ID": "t", "Status": "Enabled", "Filter": {"Prefix": ""},
                "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}]}]})
        put = self.s3.put_object(Bucket=b, Key="tmp/a", Body=b"a")
        assert 'rule-id="tmp"' in put["Expiration"], put
        head = self.s3.head_object(Bucket=b, Key="tmp/a")
        assert head["Expiration"] == put["Expiration"], head
        self.s3.delete_bucket_lifecycle(Bucket=b)
        self.expect_client_error(("NoSuchLifecycleConfiguration",),
                                 self.s3.get_bucket_lifecycle_configuration, Bucket=b)
        assert "Expiration" not in self.s3.head_object(Bucket=b, Key="tmp/a")
        self.s3.delete_object(Bucket=b, Key="tmp/a")
        self.s3.delete_bucket(Bucket=b)

    def run(self):
        self.step("create_bucket, head_bucket, list_buckets", self.create_bucket)
        self.step("put_object with Metadata and ContentType", self.put_object)
        self.step("head_object -> Metadata['color'], ContentType, ETag", self.head_object)
        self.step("get_object bytes equal, response-content-type, NoSuchKey", self.get_object)
        self.step("signed query names S3 does not know ignored (a cache buster on put/get), "
                  "get_object_torrent NotImplemented", self.unknown_query_names)
        self.step(f"{self.N_MANY} keys, list_objects_v2/list_objects paginators", self.many_keys)
        self.step("upload_file/download_file of 20 MiB (single part)", self.upload_download)
        self.step("copy_object (COPY, REPLACE, across buckets, 20 MiB)", self.copy_object)
        self.step("put_object Tagging= (and an empty x-amz-tagging), get/put/delete object and bucket tagging",
                  self.tagging)
        self.step("ranged get_object -> 206, ContentRange", self.ranged_get)
        self.step("conditional get_object -> 304/412", self.conditional_get)
        if self.args.multipart:
            self.step("multipart upload_file/download_file/copy of 20 MiB, ETag, abort", self.multipart)
        self.step("keys beside folders of their name, content under dir/, a//b, /lead, a 300-byte "
                  "segment: read, listed, copied, deleted", self.keys_anywhere)
        self.step("s3fs-style directory: marker headers, chmod by copy onto itself (REPLACE)",
                  self.directory_chmod)
        self.step("obstore-style conditional copy, Complete and delete -> 412, nothing replaced",
                  self.conditional_writes)
        self.step("generate_presigned_post (SigV4 and SigV2) form uploads, size range enforced",
                  self.presigned_post)
        self.step("bucket configuration reads (Terraform's refresh), get_object_attributes, "
                  "list_buckets pages", self.configuration_reads)
        self.step("bucket policy: public-read prefix for unsigned GETs, byte-identical read back, "
                  "policy status, MalformedPolicy, public access block", self.bucket_policy)
        self.step("versioning: checked document, versions read back by id, delete markers, "
                  "list_object_versions pages, Suspended null version, every version deleted",
                  self.versioning)
        self.step("object lock: locked bucket, default retention, retention and legal hold by "
                  "headers and calls, deletes refused until bypassed", self.object_lock)
        self.step("folder markers in a locked bucket: version ids on dir/ keys, retention on "
                  "each version, a delete marker over a marker", self.folder_marker_versions)
        self.step("lifecycle: configuration round trip with boto3's checksum, transitions refused, "
                  "x-amz-expiration", self.lifecycle)
        self.step("SigV2 header signatures (signature_version='s3'): bucket and object requests",
                  self.sigv2_header_auth)
        self.step("ACLs: canned ACLs under ObjectWriter read by an unsigned client, AccessDenied "
                  "beyond them, ownership controls' errors", self.acls)
        self.step("delete_objects (verbose and quiet)", self.delete_objects)
        self.step("delete_bucket", self.delete_buckets)
        if self.args.tls_endpoint:
            self.step("https: defaults (aws-chunked uploads, checksums, multipart)", self.https_defaults)
            self.step("https: SigV2 and SigV4 presigned PUT/GET with curl, tampered and expired refused",
                      self.presigned_urls)
            self.step("https: delete objects and bucket", self.https_cleanup)
        return 1 if self.failed else 0


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--access-key", required=True)
    p.add_argument("--secret-key", required=True)
    p.add_argument("--workdir", required=True)
    p.add_argument("--results", required=True)
    p.add_argument("--bucket", default="smoke-boto3")
    p.add_argument("--multipart", action="store_true")
    p.add_argument("--tls-endpoint", help="an HTTPS endpoint of a second server")
    p.add_argument("--ca-bundle", help="the CA certificate of --tls-endpoint")
    args = p.parse_args()
    os.makedirs(args.workdir, exist_ok=True)
    sys.exit(Smoke(args).run())


if __name__ == "__main__":
    main()
