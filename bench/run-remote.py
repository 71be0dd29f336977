#!/usr/bin/env python3
"""s3gate in front of a slow remote, beside s3gate on a local disk, in one run.

The remote is an S3 store (a second s3gate over a local folder) reached through a proxy in this
script that delays every answer by --latency-ms and shares --bandwidth MB/s per direction among
all connections: a distant object store in miniature. Three servers are measured with s3bench
(SigV4, aws-sdk-s3):

  local   s3gate serving a local folder (the reference)
  off     s3gate serving the slow remote, --vfs-cache-mode off
  writes  s3gate serving the slow remote, --vfs-cache-mode writes
  full    s3gate serving the slow remote, --vfs-cache-mode full (reads cached in chunks on
          disk, and the default 64 MiB of them in memory)
  fullmem the same with --vfs-cache-mem-size 512M: a memory tier the big object fits in

Workloads: PUT latency (4 KiB and 1 MiB objects, one at a time), GET of a --big object twice
(first and second read), and ListObjectsV2 of a --list-key prefix, with the number of requests
the remote received during the listings (read from its metrics).

With --rounds N the second read is taken N more times from each server in turn (the order
rotated each round), and each caching server's ratio to the local one is given per round, with
the median and the spread; --reads-only skips the PUT and listing workloads, --servers picks
the servers, and --alt-bin BIN adds `fullalt`, a `full` server run by another s3gate binary (a
build before a change, beside the one after it). The caching servers trust a version checked
with the remote for an hour (--vfs-cache-trust), so that every second read, however late in
the rounds, asks the remote nothing. Each server's peak RSS is printed at the end.

Prints a table and writes JSON to target/bench-remote.json. Only the standard library is used;
s3gate and s3bench are built in release mode unless BENCH_BUILD=0.
"""

import argparse
import asyncio
import json
import os
import statistics
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
from localprocs import Procs, free_port, wait_http  # noqa: E402 (after the path it needs)
NAMES = ("local", "off", "writes", "full", "fullmem", "fullalt")
AK, SK = "benchak", "benchsk"


class Link:
    """One direction of the slow network: a delay, and a bandwidth shared by all connections."""

    def __init__(self, latency, bandwidth):
        self.latency, self.rate = latency, bandwidth
        self.free_at = 0.0  # when the link has sent everything queued so far
        self.lock = asyncio.Lock()

    async def send_time(self, n):
        async with self.lock:
            now = time.monotonic()
            self.free_at = max(self.free_at, now) + n / self.rate
            return self.free_at + self.latency


class SlowProxy:
    """A TCP proxy on loopback to `target`, counting connections."""

    def __init__(self, target_port, latency, bandwidth):
        self.target_port = target_port
        self.port = free_port()
        self.latency, self.bandwidth = latency, bandwidth
        self.loop = asyncio.new_event_loop()
        self.connections = 0

    def start(self):
        ready = threading.Event()

        def run():
            asyncio.set_event_loop(self.loop)
            self.up = Link(0.0, self.bandwidth)
            self.down = Link(self.latency, self.bandwidth)
            server = self.loop.run_until_complete(
                asyncio.start_server(self.handle, "127.0.0.1", self.port))
            ready.set()
            self.loop.run_forever()
            server.close()

        threading.Thread(target=run, daemon=True).start()
        ready.wait()

    async def pump(self, reader, writer, link):
        queue = asyncio.Queue()

        async def deliver():
            while True:
                item = await queue.get()
                if item is None:
                    break
                at, data = item
                delay = at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                writer.write(data)
                await writer.drain()
            try:
                writer.close()
            except Exception:
                pass

        sender = asyncio.ensure_future(deliver())
        try:
            while True:
                data = await reader.read(256 * 1024)
                if not data:
                    break
                await queue.put((await link.send_time(len(data)), data))
        except Exception:
            pass
        await queue.put(None)
        await sender

    async def handle(self, client_r, client_w):
        self.connections += 1
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(self.pump(client_r, server_w, self.up),
                             self.pump(server_r, client_w, self.down))


def cached_files(cache_dir):
    """Objects still waiting in a write cache under `cache_dir`."""
    return sum(len(fs) for d, _, fs in os.walk(cache_dir) if "/writeback/data/bench" in d)


def requests_served(metrics_url):
    """The requests a server has answered so far (its Prometheus counter)."""
    text = urllib.request.urlopen(metrics_url, timeout=5).read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("s3gate_requests_total{"))


def peak_rss_mb(pid):
    """The most memory a process has held (VmHWM), in MB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def s3bench(bin_, endpoint, *args, bucket="bench"):
    out = subprocess.run(
        [bin_, "--endpoint", endpoint, "--access-key", AK, "--secret-key", SK,
         "--bucket", bucket, "--json", *args],
        check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--bandwidth", type=float, default=100.0, help="MB/s per direction")
    ap.add_argument("--big", default="256MiB")
    ap.add_argument("--puts", type=int, default=100, help="objects per PUT workload")
    ap.add_argument("--list-keys", type=int, default=10000)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--rounds", type=int, default=0,
                    help="second reads taken again from each server in turn")
    ap.add_argument("--reads-only", action="store_true", help="skip the PUTs and listings")
    ap.add_argument("--servers", default="local,off,writes,full,fullmem",
                    help="comma-separated, from: " + ",".join(NAMES))
    ap.add_argument("--alt-bin", default=None, help="the s3gate binary `fullalt` runs")
    args = ap.parse_args()
    names = [n for n in NAMES if n in args.servers.split(",") or (n == "fullalt" and args.alt_bin)]
    if "local" not in names:
        raise SystemExit("run-remote: the local server is the reference and always runs")

    if os.environ.get("BENCH_BUILD", "1") == "1":
        print("run-remote: building s3gate and s3bench (release)", file=sys.stderr)
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "s3gate", "-p", "s3gate-bench"],
                       check=True, cwd=ROOT)
    gate = os.path.join(ROOT, "target/release/s3gate")
    bench = os.path.join(ROOT, "target/release/s3bench")
    work = args.workdir or tempfile.mkdtemp(prefix="s3gate-bench-remote-")
    os.makedirs(work, exist_ok=True)
    procs = Procs(work)
    results = {"latency_ms": args.latency_ms, "bandwidth_mb_s": args.bandwidth}
    try:
        # The remote: a second s3gate, behind the slow link.
        back_port, back_metrics = free_port(), free_port()
        back = procs.start("backing", [gate, "serve", os.path.join(work, "backing"),
                                "--addr", f"127.0.0.1:{back_port}", "--auth-key", f"{AK},{SK}",
                                "--metrics-addr", f"127.0.0.1:{back_metrics}",
                                "--log-level", "warn"])
        wait_http(f"http://127.0.0.1:{back_port}/", back, "the backing s3gate")
        s3bench(bench, f"http://127.0.0.1:{back_port}", "create-bucket", bucket="store")
        proxy = SlowProxy(back_port, args.latency_ms / 1000, args.bandwidth * 1e6)
        proxy.start()

        servers, pids = {}, {}
        for name in names:
            port = free_port()
            argv = [args.alt_bin if name == "fullalt" else gate, "serve"]
            if name == "local":
                argv.append(os.path.join(work, "local"))
            else:
                conf = os.path.join(work, f"{name}.toml")
                with open(conf, "w") as f:
                    f.write(f'[vfs]\ncache_dir = "{os.path.join(work, "cache-" + name)}"\n'
                            f'cache_mode = "{name.removesuffix("mem").removesuffix("alt")}"\n'
                            f'cache_trust = "1h"\n'
                            f'cache_mem_size = "{"512M" if name == "fullmem" else "64M"}"\n'
                            f'[remotes.slow]\ntype = "s3"\nbucket = "store"\n'
                            f'endpoint = "http://127.0.0.1:{proxy.port}"\nregion = "us-east-1"\n'
                            f'access_key_id = "{AK}"\nsecret_access_key = "{SK}"\n'
                            f'root = "/{name}"\ndisable_config_load = "true"\n'
                            f'disable_ec2_metadata = "true"\n')
                argv += ["slow:", "--config", conf]
            argv += ["--addr", f"127.0.0.1:{port}", "--auth-key", f"{AK},{SK}",
                     "--log-level", "warn"]
            p = procs.start(name, argv)
            servers[name], pids[name] = f"http://127.0.0.1:{port}", p.pid
            wait_http(servers[name] + "/", p, name)
            s3bench(bench, servers[name], "create-bucket")

        table = []
        for size in () if args.reads_only else ("4KiB", "1MiB"):
            row = {}
            for name, url in servers.items():
                r = s3bench(bench, url, "put", "--count", str(args.puts), "--size", size,
                            "--concurrency", "1", "--prefix", f"put-{size}/")
                row[name] = r["lat_p50_ms"]
            results[f"put_{size}_p50_ms"] = row
            table.append((f"PUT {size}, one at a time: p50 latency (ms)", row, "writes"))

        # The big object: written through each server, then read twice.
        first, second = {}, {}
        for name, url in servers.items():
            s3bench(bench, url, "put", "--count", "1", "--size", args.big, "--concurrency", "1",
                    "--prefix", "big/")
        # The caching servers read from their write cache until the upload is done: wait.
        deadline = time.time() + 600
        while time.time() < deadline and any(
                cached_files(os.path.join(work, f"cache-{n}")) for n in names[1:]):
            time.sleep(0.5)
        for name, url in servers.items():
            first[name] = s3bench(bench, url, "get", "--count", "1", "--concurrency", "1",
                                  "--prefix", "big/")["mb_s"]
            second[name] = s3bench(bench, url, "get", "--count", "1", "--concurrency", "1",
                                   "--prefix", "big/")["mb_s"]
        results["get_big_first_mb_s"], results["get_big_second_mb_s"] = first, second
        table.append((f"GET {args.big}, first read (MB/s)", first, "full"))
        for against in ("full", "fullmem", "fullalt"):
            if against in names:
                table.append((f"GET {args.big}, second read (MB/s)", second, against))

        # The second read again, from each server in turn, the order rotated each round.
        rounds = {n: [] for n in names}
        for r in range(args.rounds):
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                rounds[name].append(s3bench(bench, servers[name], "get", "--count", "1",
                                            "--concurrency", "1", "--prefix", "big/")["mb_s"])
            print(f"round {r + 1}: " + "  ".join(f"{n} {rounds[n][-1]:.0f}" for n in names),
                  file=sys.stderr)
        ratios = {n: [a / b for a, b in zip(rounds[n], rounds["local"])] for n in names[1:]}
        results["get_big_rounds_mb_s"], results["get_big_round_ratios"] = rounds, ratios

        # Listings: keys written through the server (so its index holds them), then listed
        # three times while the remote's request counter is watched.
        remote_calls, listing = {}, {}
        for name in () if args.reads_only else names[1:]:
            s3bench(bench, servers[name], "put", "--count", str(args.list_keys), "--size", "0",
                    "--concurrency", "64", "--prefix", "list/")
            # Uploads from a write cache would count as the listing's requests: let them end.
            while cached_files(os.path.join(work, f"cache-{name}")):
                time.sleep(0.5)
            before = requests_served(f"http://127.0.0.1:{back_metrics}/metrics")
            r = s3bench(bench, servers[name], "list", "--prefix", "list/", "--repeat", "3")
            after = requests_served(f"http://127.0.0.1:{back_metrics}/metrics")
            remote_calls[name] = after - before
            listing[name] = r["listing_s"] * 1000
        if not args.reads_only:
            r = s3bench(bench, servers["local"], "put", "--count", str(args.list_keys),
                        "--size", "0", "--concurrency", "64", "--prefix", "list/")
            listing["local"] = s3bench(bench, servers["local"], "list", "--prefix", "list/",
                                       "--repeat", "3")["listing_s"] * 1000
            remote_calls["local"] = 0
            results["list_ms"], results["list_remote_requests"] = listing, remote_calls
            table.append((f"ListObjectsV2 of {args.list_keys} keys (ms per listing)", listing,
                          "off"))
            table.append(("  requests the remote received for 3 listings", remote_calls, None))
        rss = {n: peak_rss_mb(pids[n]) for n in names}
        results["peak_rss_mb"] = rss
        table.append(("peak RSS (MB)", rss, None))

        print(f"\nslow remote: +{args.latency_ms:g} ms per answer, {args.bandwidth:g} MB/s per "
              f"direction; {os.cpu_count()} cores")
        print(f"{'workload':52}" + "".join(f"{n:>9}" for n in names) + f" {'ratio':>19}")
        for what, row, against in table:
            ratio = ""
            if against and row.get("local"):
                ratio = f"{against}/local {row[against] / row['local']:.2f}"
            print(f"{what:52}" + "".join(f"{row[n]:9.1f}" for n in names) + f" {ratio:>19}")
        for name, rs in ratios.items() if args.rounds else ():
            print(f"second read, {args.rounds} rounds: {name}/local {statistics.median(rs):.2f} "
                  f"({min(rs):.2f} to {max(rs):.2f}); {name} {statistics.median(rounds[name]):.0f}"
                  f" MB/s, local {statistics.median(rounds['local']):.0f} MB/s (medians)")
        out = os.path.join(ROOT, "target", "bench-remote.json")
        with open(out, "w") as f:
            json.dump(results, f, indent=2)
        print(f"\nJSON: {out}")
    finally:
        procs.stop_all()
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
