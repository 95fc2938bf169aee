"""sshconv download: real HTTP servers on 127.0.0.1 that fail in every way the issue lists."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

from sshconv.download import download_model
from sshconv.download.settings import LOCK_NAME
from sshconv.errors import IntegrityError, LockTimeout, SourceUnreachableError
from sshconv.locking import file_lock
from sshconv.model import load_model_spec

from ..conftest import assert_one_line_error, run_cli, spawn_sshconv
from ..httpserver import MisbehavingServer

pytestmark = pytest.mark.quick

KiB, MiB = 1024, 1024 * 1024
FAST = {"backoff_base": 0.01, "backoff_max": 0.05}


def blob(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_model(folder: Path, files: list[dict], post: list[dict] | None = None) -> Path:
    doc = {"files": files, "framework": "mxnet"}
    if post:
        doc["postprocessing"] = post
    path = folder / "model.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def file_entry(name: str, data: bytes, *urls: str) -> dict:
    entry = {"name": name, "size": len(data), "sha256": sha(data)}
    if urls:
        entry["source"] = urls[0]
    if len(urls) > 1:
        entry["sources"] = list(urls[1:])
    return entry


def download(model: Path, out: Path, cache: Path, **kw):
    events: list[dict] = []
    res = download_model(load_model_spec(model), out, cache_dir=cache, on_event=events.append, **{**FAST, **kw})
    return res, events


def leftovers(folder: Path) -> list[str]:
    """Files in ``folder`` that are not final results (parts, sidecars, temporaries, staging)."""
    if not folder.exists():
        return []
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith((".part", ".part.json", ".tmp")) or ".unpack-" in p.name)


# --------------------------------------------------------------------------- the happy path


def test_download_verifies_caches_and_rerun_is_idempotent(server, dirs, tmp_path):
    out, cache = dirs
    data = blob(300 * KiB)
    model = write_model(tmp_path, [file_entry("a.bin", data, server.put("/a.bin", data))])
    r = run_cli("download", "--model", model, "--output-dir", out, "--cache-dir", cache, "--json")
    assert r.code == 0, r.err
    summary = json.loads(r.out)
    (f,) = summary["files"]
    assert f["source"] == server.url("/a.bin") and f["bytes_transferred"] == len(data) and not f["from_cache"]
    assert (out / "a.bin").read_bytes() == data
    assert (cache / "sha256" / sha(data)).read_bytes() == data
    assert leftovers(out) == []
    # Re-run: verified in place, no request, nothing transferred.
    n_requests = len(server.requests)
    again = run_cli("download", "--model", model, "--output-dir", out, "--cache-dir", cache, "--json")
    assert again.code == 0, again.err
    assert json.loads(again.out)["up_to_date"] is True
    assert len(server.requests) == n_requests
    # Human output names the file and the folder.
    text = run_cli("download", "--model", model, "--output-dir", out, "--cache-dir", cache)
    assert "a.bin: already present, verified" in text.out and str(out) in text.out


def test_file_url_source_and_folder_mirror(dirs, tmp_path):
    out, cache = dirs
    data = blob(100 * KiB, 1)
    src = tmp_path / "srv"
    src.mkdir()
    (src / "a.bin").write_bytes(data)
    model = write_model(tmp_path, [file_entry("a.bin", data, (src / "missing.bin").as_uri())])
    res, _ = download(model, out, cache, mirrors=[str(src)])
    assert res.files[0].source == (src / "a.bin").resolve().as_uri()
    assert res.files[0].failed_attempts[0].reason.startswith("cannot read")
    assert (out / "a.bin").read_bytes() == data


# --------------------------------------------------------------------------- flaky networks


@pytest.mark.parametrize("cut", [1, 4096, 100_000, 1 * MiB + 17, 2 * MiB - 1])
def test_cut_mid_body_resumes_where_it_stopped(server, dirs, tmp_path, cut):
    out, cache = dirs
    data = blob(2 * MiB, 2)
    url = server.put("/a.bin", data)
    server.behave("/a.bin", ("cut", cut))
    model = write_model(tmp_path, [file_entry("a.bin", data, url)])
    res, events = download(model, out, cache)
    assert (out / "a.bin").read_bytes() == data
    first, second = server.requests_for("/a.bin")
    assert first.range is None and first.sent == cut
    etag = server.files["/a.bin"].etag
    assert (second.range, second.if_range, second.status) == (f"bytes={cut}-", etag, 206)
    assert res.files[0].bytes_transferred == len(data), "only the missing bytes were fetched again"
    assert [e["event"] for e in events].count("retry") == 1
    assert leftovers(out) == []


def test_5xx_and_retry_after_then_success(server, dirs, tmp_path):
    out, cache = dirs
    data = blob(50 * KiB, 3)
    url = server.put("/a.bin", data)
    server.behave("/a.bin", ("status", 500), ("status", 429, {"Retry-After": "1"}), ("status", 503, {"Retry-After": "0"}))
    model = write_model(tmp_path, [file_entry("a.bin", data, url)])
    t0 = time.monotonic()
    res, events = download(model, out, cache, retries=3)
    elapsed = time.monotonic() - t0
    retries = [e for e in events if e["event"] == "retry"]
    assert [e["reason"].split()[1] for e in retries] == ["500", "429", "503"]
    assert retries[1]["delay"] == 1.0 and retries[2]["delay"] == 0.0
    assert retries[0]["delay"] <= FAST["backoff_max"]
    assert elapsed >= 1.0, "Retry-After: 1 was honoured"
    assert (out / "a.bin").read_bytes() == data and res.files[0].source == url


def test_retries_exhausted_on_503_is_exit_3(server, dirs, tmp_path):
    out, cache = dirs
    data = blob(10 * KiB, 4)
    url = server.put("/a.bin", data)
    server.behave("/a.bin", *[("status", 503)] * 3)
    model = write_model(tmp_path, [file_entry("a.bin", data, url)])
    r = run_cli("download", "--model", model, "--output-dir", out, "--cache-dir", cache, "--retries", "2")
    assert_one_line_error(r, 3, "tried 1 source", "HTTP 503", "after 3 attempts")
    assert len(server.requests_for("/a.bin")) == 3
    assert not (out / "a.bin").exists()


def test_404_is_not_retried_and_the_mirror_is_used(server, dirs, tmp_path):
    out, cache = dirs
    data = blob(64 * KiB, 5)
    server.put("/mirror/a.bin", data)
    model = write_model(tmp_path, [file_entry("a.bin", data, server.url("/gone/a.bin"))])
    res, events = download(model, out, cache, mirrors=[server.url("/mirror/")])
    assert len(server.requests_for("/gone/a.bin")) == 1, "404 is final: no retry"
    assert res.files[0].source == server.url("/mirror/a.bin")
    (failed,) = res.files[0].failed_attempts
    assert failed.reason.startswith("HTTP 404") and not failed.integrity
    assert [e for e in events if e["event"] == "error"][0]["url"] == server.url("/gone/a.bin")


def test_every_source_fails_lists_each_attempt(server, dirs, tmp_path):
    """404, connection refused and a server slower than the timeout: exit 3, each reason named."""
    out, cache = dirs
    data = blob(10 * KiB, 6)
    server.put("/slow/a.bin", data)
    server.behave("/slow/a.bin", *[("slow", 1.5)] * 2)
    with MisbehavingServer() as dead:
        refused = dead.url("/a.bin")  # bound then closed: nothing listens there
    urls = [server.url("/none/a.bin"), refused, server.url("/slow/a.bin")]
    model = write_model(tmp_path, [file_entry("a.bin", data, *urls)])
    r = run_cli("download", "--model", model, "--output-dir", out, "--cache-dir", cache, "--retries", "1", "--timeout", "0.4")
    assert_one_line_error(r, 3, "a.bin: tried 3 sources:", f"{urls[0]}: HTTP 404", f"{refused}: connection failed",
                          f"{urls[2]}: timed out after 0.4 s", "--mirror", "--from-file")  # fmt: skip
    assert not (out / "a.bin").exists() and leftovers(out) == []


def test_right_size_wrong_bytes_is_exit_4_and_deleted(server, dirs, tmp_path):
    out, cache = dirs
    data = blob(200 * KiB, 7)
    evil = bytearray(data)
    evil[123_456] ^= 0xFF
    url = server.put("/a.bin", bytes(evil))
    model = write_model(tmp_path, [file_entry("a.bin", data, server.url("/missing"), url)])
    r = run_cli("download", "--model", model, "--output-dir", out, "--cache-dir", cache)
    # Mixed failures (a 404 and wrong bytes) are an integrity failure: exit 4.
    assert_one_line_error(r, 4, "tried 2 sources", "HTTP 404", f"sha256 mismatch: expected {sha(data)}, got {sha(bytes(evil))}",
                          "deleted the download")  # fmt: skip
    assert not (out / "a.bin").exists() and leftovers(out) == []
    assert not (cache / "sha256" / sha(data)).exists()


def test_wrong_size_announced_is_refused_before_the_body(server, dirs, tmp_path):
    out, cache = dirs
    data = blob(100 * KiB, 8)
    url = server.put("/a.bin", data + b"extra")
    model = write_model(tmp_path, [file_entry("a.bin", data, url)])
    events: list[dict] = []
    with pytest.raises(IntegrityError, match="size mismatch: expected 102,400 bytes, server announces 102,405"):
        download_model(load_model_spec(model), out, cache_dir=cache, on_event=events.append, retries=0)
    assert [e["event"] for e in events] == ["error"], "no byte of the body was read"
    assert leftovers(out) == [] and not (out / "a.bin").exists()


def test_server_ignoring_range_restarts_cleanly(server, dirs, tmp_path):
    out, cache = dirs
    data = blob(1 * MiB, 9)
    url = server.put("/a.bin", data)
    server.ignore_range = True
    server.behave("/a.bin", ("cut", 300_000))
    model = write_model(tmp_path, [file_entry("a.bin", data, url)])
    res, _ = download(model, out, cache)
    first, second = server.requests_for("/a.bin")
    assert second.range == "bytes=300000-" and second.status == 200
    assert (out / "a.bin").read_bytes() == data
    assert res.files[0].bytes_transferred == 300_000 + len(data)


def test_etag_change_between_runs_restarts(server, dirs, tmp_path):
    """Run 1 stops inside an old version of the file; run 2 must not splice the new one onto it."""
    out, cache = dirs
    data = blob(1 * MiB, 10)
    old = blob(1 * MiB, 11)
    url = server.put("/a.bin", old, etag='"v1"')
    server.behave("/a.bin", ("cut", 400_000))
    model = write_model(tmp_path, [file_entry("a.bin", data, url)])
    with pytest.raises(SourceUnreachableError, match="connection broken after 400,000"):
        download(model, out, cache, retries=0)
    part = out / "a.bin.part"
    assert part.stat().st_size == 400_000
    assert json.loads((out / "a.bin.part.json").read_text())["etag"] == '"v1"'
    server.put("/a.bin", data, etag='"v2"')
    res, _ = download(model, out, cache)
    last = server.requests_for("/a.bin")[-1]
    assert (last.range, last.if_range, last.status) == ("bytes=400000-", '"v1"', 200)
    assert (out / "a.bin").read_bytes() == data and res.files[0].bytes_transferred == len(data)
    assert leftovers(out) == []


# --------------------------------------------------------------------------- processes


def _spawn_download(model: Path, out: Path, cache: Path, *extra: str) -> subprocess.Popen:
    return spawn_sshconv("download", "--model", model, "--output-dir", out, "--cache-dir", cache, "--json", *extra)


def test_sigkill_then_next_run_resumes_only_the_missing_bytes(server, dirs, tmp_path):
    out, cache = dirs
    data = blob(3 * MiB, 12)
    url = server.put("/a.bin", data)
    server.rate = 2 * MiB  # bytes per second: slow enough to kill it mid-way
    model = write_model(tmp_path, [file_entry("a.bin", data, url)])
    proc = _spawn_download(model, out, cache)
    part = out / "a.bin.part"
    deadline = time.monotonic() + 30
    while not (part.exists() and part.stat().st_size >= 1 * MiB):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read() if proc.poll() is not None else "timeout"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    have = part.stat().st_size
    assert MiB <= have < len(data) and not (out / "a.bin").exists()
    server.rate = 0
    res, _ = download(model, out, cache)
    assert res.files[0].bytes_transferred == len(data) - have
    last = server.requests_for("/a.bin")[-1]
    assert last.range == f"bytes={have}-" and last.status == 206 and last.sent == len(data) - have
    assert (out / "a.bin").read_bytes() == data and leftovers(out) == []


def test_two_concurrent_processes_end_with_one_correct_file(server, dirs, tmp_path):
    out, cache = dirs
    data = blob(2 * MiB, 13)
    url = server.put("/a.bin", data)
    server.rate = 4 * MiB
    model = write_model(tmp_path, [file_entry("a.bin", data, url)])
    procs = [_spawn_download(model, out, cache) for _ in range(2)]
    results = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    summaries = [json.loads(o) for o, _ in results]
    assert sorted(s["bytes_transferred"] for s in summaries) == [0, len(data)]
    assert server.sent("/a.bin") == len(data), "the file crossed the network once"
    assert (out / "a.bin").read_bytes() == data and leftovers(out) == []


def test_two_processes_for_one_cache_entry_wait_for_each_other(server, tmp_path):
    """Different output folders, one cache: the second process starts while the first downloads, waits on the
    cache entry's lock, then takes the file from the cache; the file crosses the network once."""
    data = blob(2 * MiB, 16)
    url = server.put("/a.bin", data)
    server.rate = 2 * MiB
    model = write_model(tmp_path, [file_entry("a.bin", data, url)])
    cache = tmp_path / "cache"
    first = _spawn_download(model, tmp_path / "one", cache)
    part = tmp_path / "one" / "a.bin.part"
    deadline = time.monotonic() + 30
    while not (part.exists() and part.stat().st_size > 0):
        assert first.poll() is None and time.monotonic() < deadline, "the first download did not start"
        time.sleep(0.01)
    second = _spawn_download(model, tmp_path / "two", cache)
    assert first.poll() is None, "both processes run at once"
    outs = [json.loads(p.communicate(timeout=60)[0]) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0]
    assert outs[0]["files"][0]["bytes_transferred"] == len(data)
    assert outs[1]["files"][0]["source"] == "cache" and outs[1]["files"][0]["bytes_transferred"] == 0
    assert len(server.requests_for("/a.bin")) == 1 and server.sent("/a.bin") == len(data)
    assert (tmp_path / "two" / "a.bin").read_bytes() == data


def test_lock_timeout_says_who_holds_it(dirs, tmp_path):
    out, cache = dirs
    out.mkdir()
    data = blob(1 * KiB, 14)
    model = write_model(tmp_path, [file_entry("a.bin", data)])
    ready, release = threading.Event(), threading.Event()

    def hold():
        with file_lock(out / LOCK_NAME, 60):
            ready.set()
            release.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    ready.wait(5)
    try:
        with pytest.raises(LockTimeout, match=rf"another sshconv process \(pid {os.getpid()}\).*over 0.2 s"):
            download(model, out, cache, lock_timeout=0.2)
        res = run_cli("download", "--model", model, "--output-dir", out, "--cache-dir", cache, "--lock-timeout", "0.3")
        assert_one_line_error(res, 2, f"output folder {out}", f"(pid {os.getpid()})", "over 0.3 s", "wait for it to finish")
    finally:
        release.set()
        t.join()


# --------------------------------------------------------------------------- cache, --offline, --from-file


def test_offline_hit_and_miss(server, dirs, tmp_path):
    out, cache = dirs
    data = blob(100 * KiB, 15)
    model = write_model(tmp_path, [file_entry("a.bin", data, server.put("/a.bin", data))])
    miss = run_cli("download", "--model", model, "--output-dir", out, "--cache-dir", cache, "--offline")
    assert_one_line_error(miss, 3, "a.bin: not in the cache", "--offline")
    assert server.requests == []
    download(model, tmp_path / "first", cache)
    n = len(server.requests)
    hit = run_cli("download", "--model", model, "--output-dir", out, "--cache-dir", cache, "--offline", "--json")
    assert hit.code == 0, hit.err
    (f,) = json.loads(hit.out)["files"]
    assert f["from_cache"] and f["source"] == "cache" and f["bytes_transferred"] == 0
    assert len(server.requests) == n and (out / "a.bin").read_bytes() == data


def test_corrupt_cache_entry_is_dropped_and_refetched(server, dirs, tmp_path):
    out, cache = dirs
    data = blob(20 * KiB, 16)
    model = write_model(tmp_path, [file_entry("a.bin", data, server.put("/a.bin", data))])
    entry = cache / "sha256" / sha(data)
    entry.parent.mkdir(parents=True)
    entry.write_bytes(b"x" * len(data))
    res, _ = download(model, out, cache)
    assert res.files[0].source == server.url("/a.bin") and entry.read_bytes() == data


def test_from_file_good_goes_to_cache_and_bad_is_exit_4(dirs, tmp_path):
    out, cache = dirs
    data = blob(150 * KiB, 17)
    model = write_model(tmp_path, [file_entry("a.bin", data, "http://127.0.0.1:9/never-used")])
    bad = tmp_path / "a.bin"
    bad.write_bytes(data[:-1] + b"?")
    r = run_cli("download", "--model", model, "--output-dir", out, "--cache-dir", cache, "--from-file", bad)
    assert_one_line_error(r, 4, f"--from-file {bad}", f"expected {sha(data)}", "nothing was imported")
    assert not (out / "a.bin").exists()
    good = tmp_path / "colleague-copy.zip"
    good.write_bytes(data)
    r = run_cli(
        "download", "--model", model, "--output-dir", out, "--cache-dir", cache, "--from-file", good, "--offline", "--json"
    )
    assert r.code == 0, r.err
    assert json.loads(r.out)["files"][0]["source"] == f"from-file:{good}"
    assert (cache / "sha256" / sha(data)).read_bytes() == data
    missing = run_cli("download", "--model", model, "--output-dir", out, "--cache-dir", cache, "--from-file", tmp_path / "nope")
    assert_one_line_error(missing, 2, "--from-file", "nope")


def test_progress_json_events_on_stderr(server, dirs, tmp_path):
    out, cache = dirs
    data = blob(3 * MiB, 18)
    model = write_model(tmp_path, [file_entry("a.bin", data, server.put("/a.bin", data))])
    r = run_cli("download", "--model", model, "--output-dir", out, "--cache-dir", cache, "--progress", "json")
    assert r.code == 0, r.err
    events = [json.loads(line) for line in r.err.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and "progress" in kinds
    assert {e["stage"] for e in events} == {"download"}, "every event names its stage"
    last = [e for e in events if e["event"] == "progress"][-1]
    assert (last["done"], last["total"], last["unit"], last["item"]) == (len(data), len(data), "B", "a.bin")
    assert "a.bin" in r.out


def test_bad_flags_are_exit_2(dirs, tmp_path):
    out, cache = dirs
    model = write_model(tmp_path, [file_entry("a.bin", b"x")])
    r = run_cli("download", "--model", model, "--output-dir", out, "--cache-dir", cache, "--mirror", "ftp://x")
    assert_one_line_error(r, 2, "--mirror", "ftp://x")
    r = run_cli("download", "--model", model, "--output-dir", out, "--cache-dir", cache, "--retries", "-1")
    assert_one_line_error(r, 2, "retries")


def test_postprocessing_never_edits_a_file_outside_the_output_folder(tmp_path):
    """A regex_replace target that is a link leading out of the output folder is refused; the file outside is untouched."""
    data = blob(KiB, 51)
    copy = tmp_path / "a.bin"
    copy.write_bytes(data)
    outside = tmp_path / "outside.txt"
    outside.write_text("secret=1\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / "settings.txt").symlink_to(outside)
    post = [{"$type": "regex_replace", "file": "settings.txt", "pattern": "secret=1", "replacement": "secret=2"}]
    model = write_model(tmp_path, [file_entry("a.bin", data)], post)
    res = run_cli("download", "--model", model, "--output-dir", out, "--cache-dir", tmp_path / "c", "--from-file", copy)
    assert_one_line_error(res, 2, "postprocessing[0]", "leads outside the output folder")
    assert outside.read_text() == "secret=1\n"


def test_documented_retry_defaults():
    """README: backoff 0.5 s, 1 s, 2 s ... up to 30 s, each x 0.5-1; Retry-After honoured up to 120 s; 3 retries; 30 s timeout."""
    from sshconv.download.settings import BACKOFF_BASE, BACKOFF_MAX, DEFAULT_RETRIES, DEFAULT_TIMEOUT, RETRY_AFTER_MAX
    from sshconv.download.sources import backoff_delay

    assert (BACKOFF_BASE, BACKOFF_MAX, RETRY_AFTER_MAX, DEFAULT_RETRIES, DEFAULT_TIMEOUT) == (0.5, 30.0, 120.0, 3, 30.0)
    for failures, full in ((1, 0.5), (2, 1.0), (3, 2.0), (6, 16.0), (7, 30.0), (20, 30.0)):
        delays = [backoff_delay(failures, BACKOFF_BASE, BACKOFF_MAX) for _ in range(200)]
        assert full / 2 <= min(delays) and max(delays) <= full, failures
        assert max(delays) - min(delays) > full / 4, "jittered"
