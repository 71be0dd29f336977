#!/usr/bin/env python3
"""s3gate serving an rclone crypt remote, interoperable with rclone both ways.

Usage: smoke_crypt.py S3GATE_BIN RCLONE_BIN WORK

For each of four name settings (standard names; base64 with plain folder names; obfuscated
names; names off with a suffix), one set of values defines the crypt remote `vault` over a
folder, both in an rclone.conf and in s3gate's configuration (passwords obscured by
`rclone obscure`, as rclone.conf keeps them); two of the four serve `vault:` from the rclone.conf
itself (`--rclone-config`). Then:
  - a tree `rclone copy` wrote is served by s3gate byte for byte, with the MD5 of the plain
    content as ETag, and ranged GETs across blocks;
  - objects put through s3gate (PUT, an empty one, a multipart upload, a copy) are read back by
    `rclone cat`, and pass `rclone check --download` and `rclone cryptcheck`;
  - where names are encrypted, no plain name is left in the folder;
  - what s3gate deletes is gone for rclone;
  - with standard names, a 128 MiB object put, copied and read back streams through the
    cipher: s3gate's peak memory stays far below the object's size.
Exit 0 on success; any failure raises.
"""

import os
import subprocess
import sys

from localprocs import Procs
from smoke_remotes import (check, md5, pattern, reset_peak, rss_mib, server_log_is_clean,
                           show_server_log, start_gate)

VARIANTS = {
    "standard": {},
    "base64-plain-folders": {"filename_encoding": "base64",
                             "directory_name_encryption": "false"},
    "obfuscate": {"filename_encryption": "obfuscate"},
    "names-off": {"filename_encryption": "off", "suffix": ".enc"},
}

THEIRS = {
    "empty": b"",
    "one-block.bin": pattern(65536, 1),
    "dir/plus-one.bin": pattern(65537, 2),
    "dir/sub/déjà vu €.txt": pattern(1000, 3),
    "big.bin": pattern((3 << 20) + 5, 4),
}

OURS = {
    "put.bin": pattern(200_000, 5),
    "nothing": b"",
    "folder/mp.bin": pattern(5 << 20, 6) + pattern(3, 7),
    "folder/copy.bin": pattern(200_000, 5),
}


def write_tree(root, files):
    for name, data in files.items():
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)


def streams_through(c, pid):
    """A 128 MiB object is sealed and opened block by block, never held whole."""
    huge = pattern(128 << 20, 8)
    reset_peak(pid)
    base = rss_mib(pid, "VmRSS")
    r = c.put_object(Bucket="froms3gate", Key="huge.bin", Body=huge)
    check(r["ETag"].strip('"') == md5(huge), "ETag of the 128 MiB object")
    c.copy_object(Bucket="froms3gate", Key="huge-copy.bin", CopySource="froms3gate/huge.bin")
    for key in ("huge.bin", "huge-copy.bin"):
        check(c.get_object(Bucket="froms3gate", Key=key)["Body"].read() == huge,
              f"{key} read back")
        c.delete_object(Bucket="froms3gate", Key=key)
    peak = rss_mib(pid, "VmHWM") - base
    print(f"crypt with 128 MiB objects: peak {peak:.1f} MiB above the {base:.1f} before")
    check(peak < 48, f"s3gate holds far less than the 128 MiB objects: peak +{peak:.0f} MiB")


def variant(name, extra, gate, rclone, work):
    vwork = os.path.join(work, name)
    folder = os.path.join(vwork, "vault")
    os.makedirs(folder, exist_ok=True)

    def obscure(secret):
        return subprocess.run([rclone, "obscure", secret], check=True, capture_output=True,
                              text=True).stdout.strip()

    remote = {"type": "crypt", "remote": folder, "password": obscure("smoke password"),
              "password2": obscure("smoke salt"), **extra}
    conf = os.path.join(vwork, "rclone.conf")
    with open(conf, "w") as f:
        f.write("[vault]\n" + "".join(f"{k} = {v}\n" for k, v in remote.items()))
    env = {**os.environ, "RCLONE_CONFIG": conf}

    def rc(*args):
        out = subprocess.run([rclone, *args], env=env, capture_output=True)
        check(out.returncode == 0, f"rclone {args}: {out.stderr.decode(errors='replace')}")
        return out.stdout

    src = os.path.join(vwork, "theirs")
    write_tree(src, THEIRS)
    rc("copy", src, "vault:fromrclone")

    procs = Procs(vwork)
    try:
        # Half the settings are served from the rclone.conf itself, unedited.
        if name in ("base64-plain-folders", "names-off"):
            p, c = start_gate(procs, gate, vwork, remote, "vault:", conf)
        else:
            p, c = start_gate(procs, gate, vwork, remote)
        listed = c.list_objects_v2(Bucket="fromrclone").get("Contents", [])
        check(sorted(o["Key"] for o in listed) == sorted(THEIRS), f"keys: {listed}")
        for o in listed:
            data = THEIRS[o["Key"]]
            check(o["Size"] == len(data), f"listed size of {o['Key']}")
            check(o["ETag"].strip('"') == md5(data), f"listed ETag of {o['Key']}")
            got = c.get_object(Bucket="fromrclone", Key=o["Key"])
            check(got["Body"].read() == data, f"{o['Key']} served byte for byte")
        got = c.get_object(Bucket="fromrclone", Key="big.bin", Range="bytes=65000-200000")
        check(got["Body"].read() == THEIRS["big.bin"][65000:200001], "ranged GET across blocks")

        c.create_bucket(Bucket="froms3gate")
        c.put_object(Bucket="froms3gate", Key="put.bin", Body=OURS["put.bin"])
        c.put_object(Bucket="froms3gate", Key="nothing", Body=b"")
        mp = OURS["folder/mp.bin"]
        up = c.create_multipart_upload(Bucket="froms3gate", Key="folder/mp.bin")["UploadId"]
        done = []
        for n, body in ((1, mp[:5 << 20]), (2, mp[5 << 20:])):
            r = c.upload_part(Bucket="froms3gate", Key="folder/mp.bin", UploadId=up,
                              PartNumber=n, Body=body)
            done.append({"PartNumber": n, "ETag": r["ETag"]})
        c.complete_multipart_upload(Bucket="froms3gate", Key="folder/mp.bin", UploadId=up,
                                    MultipartUpload={"Parts": done})
        c.copy_object(Bucket="froms3gate", Key="folder/copy.bin",
                      CopySource="froms3gate/put.bin")
        for key, data in OURS.items():
            check(rc("cat", f"vault:froms3gate/{key}") == data, f"rclone cat {key}")
        expect = os.path.join(vwork, "ours")
        write_tree(expect, OURS)
        rc("check", "--download", expect, "vault:froms3gate")
        rc("cryptcheck", expect, "vault:froms3gate")

        if extra.get("filename_encryption") != "off":
            words = ["put.bin", "copy.bin", "mp.bin", "big.bin", "plus-one", "déjà"]
            if extra.get("directory_name_encryption") != "false":
                words += ["fromrclone", "froms3gate", "folder", ".s3gate"]
            for dirpath, dirs, files in os.walk(folder):
                for n in dirs + files:
                    check(not any(w in n for w in words), f"plain name in the folder: {n}")

        if not extra:
            streams_through(c, p.pid)

        c.delete_object(Bucket="froms3gate", Key="put.bin")
        left = rc("lsf", "-R", "--files-only", "vault:froms3gate").decode().split()
        check(sorted(left) == ["folder/copy.bin", "folder/mp.bin", "nothing"],
              f"rclone lists after a delete: {left}")
        procs.stop(p)
        server_log_is_clean(vwork)
        print(f"{name}: rclone and s3gate read each other's files")
    except BaseException:
        show_server_log(vwork)
        raise
    finally:
        procs.stop_all()


def main():
    gate, rclone, work = sys.argv[1:4]
    for name, extra in VARIANTS.items():
        variant(name, extra, gate, rclone, work)


if __name__ == "__main__":
    main()
