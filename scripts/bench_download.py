"""Benchmark: `sshconv download` against `curl -o FILE` + `sha256sum FILE`, same loopback server.

Serves a random file (256 MiB by default) from a threaded HTTP server on 127.0.0.1 that
uses sendfile(2), then times, alternately and REPEAT times each:

* curl -s -o FILE URL && sha256sum FILE   (download, then hash: two passes)
* sshconv download (a subprocess, so its start-up counts too; hashes in the write pass)

and prints each best time, MiB/s and the ratio (sshconv speed / curl speed; goal >= 0.8).
Then it kills a download half-way with SIGKILL, runs again, and prints how many bytes
the second run transferred against how many were missing.

    python scripts/bench_download.py [--size-mib 256] [--repeat 3]
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

MiB = 1 << 20


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        size = self.server.path.stat().st_size
        start = 0
        rng = self.headers.get("Range")
        if rng:
            start = int(rng.removeprefix("bytes=").split("-")[0])
        self.send_response(206 if rng else 200)
        self.send_header("Content-Length", str(size - start))
        self.send_header("ETag", '"bench"')
        self.send_header("Accept-Ranges", "bytes")
        if rng:
            self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        self.end_headers()
        self.wfile.flush()
        rate = self.server.rate
        with open(self.server.path, "rb") as f:
            offset = start
            try:
                while offset < size:
                    n = os.sendfile(
                        self.connection.fileno(), f.fileno(), offset, min(size - offset, 4 * MiB if not rate else 256 << 10)
                    )
                    if n == 0:
                        break
                    offset += n
                    self.server.sent += n
                    if rate:
                        time.sleep(n / rate)
            except (BrokenPipeError, ConnectionResetError):
                pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, path: Path):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.path, self.rate, self.sent = path, 0, 0


def make_file(path: Path, size: int) -> str:
    h = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            block = os.urandom(min(left, 8 * MiB))
            f.write(block)
            h.update(block)
            left -= len(block)
    return h.hexdigest()


def time_curl(url: str, dest: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(["curl", "-s", "-f", "-o", str(dest), url], check=True)
    out = subprocess.run(["sha256sum", str(dest)], check=True, capture_output=True, text=True).stdout
    elapsed = time.perf_counter() - t0
    assert out.split()[0], out
    dest.unlink()
    return elapsed


def sshconv_cmd(model: Path, out: Path, cache: Path) -> list[str]:
    return [sys.executable, "-m", "sshconv", "download", "--model", str(model), "--output-dir", str(out),
            "--cache-dir", str(cache), "--progress", "none", "--json"]  # fmt: skip


def time_sshconv(model: Path, work: Path) -> float:
    out, cache = work / "out", work / "cache"
    t0 = time.perf_counter()
    subprocess.run(sshconv_cmd(model, out, cache), check=True, capture_output=True)
    elapsed = time.perf_counter() - t0
    shutil.rmtree(out)
    shutil.rmtree(cache)
    return elapsed


def resume_check(server: _Server, model: Path, work: Path, size: int) -> tuple[int, int, int]:
    """Kill a throttled download half-way, run again; return (bytes on disk, missing, transferred)."""
    out, cache = work / "out", work / "cache"
    server.rate = max(size // 4, MiB)  # ~4 s for the whole file
    proc = subprocess.Popen(sshconv_cmd(model, out, cache), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    part = out / "data.bin.part"
    while not (part.exists() and part.stat().st_size >= size // 2):
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    have = part.stat().st_size
    server.rate = 0
    res = subprocess.run(sshconv_cmd(model, out, cache), check=True, capture_output=True, text=True)
    transferred = json.loads(res.stdout)["bytes_transferred"]
    shutil.rmtree(out)
    shutil.rmtree(cache)
    return have, size - have, transferred


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mib", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    size = args.size_mib * MiB
    with tempfile.TemporaryDirectory(prefix="sshconv-bench-") as tmp:
        work = Path(tmp)
        src = work / "data.bin"
        digest = make_file(src, size)
        server = _Server(src)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_port}/data.bin"
        model = work / "model.yml"
        model.write_text(
            yaml.safe_dump({"files": [{"name": "data.bin", "size": size, "sha256": digest, "source": url}], "framework": "mxnet"})
        )
        curl, ours = [], []
        for _ in range(args.repeat):
            curl.append(time_curl(url, work / "curl.bin"))
            ours.append(time_sshconv(model, work))
        c, s = min(curl), min(ours)
        mib = size / MiB
        print(f"file: {mib:.0f} MiB on http://127.0.0.1 (sendfile server); best of {args.repeat}")
        print(f"curl -o FILE + sha256sum FILE: {c:6.2f} s  {mib / c:7.1f} MiB/s")
        print(f"sshconv download:              {s:6.2f} s  {mib / s:7.1f} MiB/s  (includes Python start-up)")
        print(f"ratio (sshconv speed / curl speed): {c / s:.2f}  (goal >= 0.80)")
        have, missing, transferred = resume_check(server, model, work, size)
        print(f"resume after SIGKILL: {have:,} bytes on disk, {missing:,} missing, second run transferred {transferred:,} "
              f"({'only the missing bytes' if transferred == missing else 'MORE than missing'})")  # fmt: skip
        server.shutdown()


if __name__ == "__main__":
    main()
