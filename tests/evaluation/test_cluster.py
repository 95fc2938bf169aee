"""``eval --ray`` on a real Ray cluster of several nodes on 127.0.0.1, nodes lost and joining mid-run.

One cluster for the module: a head and a worker node, each started with ``ray start --block`` in a
session of its own (``setsid``) with pinned ports, and ended by process group. The worker node has
an address of its own (127.0.0.2), so that the command's driver attaches to the head's node and
never to the one that is killed. The tests run in order, each leaving the cluster as the next
needs it: a worker node killed (SIGKILL) mid-run; a node that joins mid-run; the whole cluster
killed, then started again (its head without CPUs of its own, beside a node that has them); that
node killed, so that no worker can start anywhere.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from sshconv.dataset.photos import make_photos
from tests.conftest import run_cli

from .conftest import eval_process, free_port, numbers

pytestmark = [pytest.mark.slow, pytest.mark.neutral]

#: Photos of the runs that must equal a one-process run, and of the run a node joins (longer: the node needs seconds).
PHOTOS, JOIN_PHOTOS = 4, 6



class Cluster:
    """Ray nodes on this machine, each a process group of its own."""

    def __init__(self) -> None:
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.folder = Path(tempfile.mkdtemp(prefix="sshconv-ray-", dir="/tmp"))  # short: Ray's sockets live in it
        self.nodes: dict[str, subprocess.Popen] = {}
        self.ray = Path(sys.executable).parent / "ray"
        if not self.ray.exists():
            pytest.fail("the ray extra is part of the test install: pip install 'sshconv[ray]'")

    def start(self, name: str, ip: str, cpus: int, head: bool = False) -> None:
        """Start a node; :meth:`wait` for it (a worker node started beside its head waits for the head itself)."""
        where = ["--head", f"--port={self.port}", "--include-dashboard=false", f"--temp-dir={self.folder}"] if head else [
            f"--address={self.address}"]  # fmt: skip
        with open(self.folder / f"{name}.log", "w") as out:
            self.nodes[name] = subprocess.Popen(
                [self.ray, "start", "--block", f"--node-ip-address={ip}", f"--num-cpus={cpus}", "--disable-usage-stats", *where],
                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}, start_new_session=True,
            )  # fmt: skip

    def wait(self, *names: str) -> None:
        """Until each node says it runs (``ray start`` prints so once the node is registered)."""
        deadline = time.time() + 120
        for name in names:
            log = self.folder / f"{name}.log"
            while "Ray runtime started" not in log.read_text():
                assert self.nodes[name].poll() is None and time.time() < deadline, f"Ray node {name} did not start: {log.read_text()}"
                time.sleep(0.5)

    def kill(self, name: str) -> None:
        """SIGKILL every process of the node (raylet, its workers and actors; the head's GCS too)."""
        node = self.nodes.pop(name)
        try:
            os.killpg(node.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        node.wait()

    def stop(self) -> None:
        for name in list(self.nodes):
            self.kill(name)


@pytest.fixture(scope="module")
def cluster():
    c = Cluster()
    try:
        c.start("head", "127.0.0.1", 1, head=True)
        c.start("node1", "127.0.0.2", 1)
        c.wait("head", "node1")
        yield c
    finally:
        c.stop()
        import shutil

        shutil.rmtree(c.folder, ignore_errors=True)


@pytest.fixture(scope="module")
def engines(faces_dir) -> list[str]:
    """The FP32 IR and the INT8 IR."""
    return ["--ir", str(faces_dir / "ir/mo/FP32/ssh-mxnet.xml"), "--ir", str(faces_dir / "ir/mo/INT8/ssh-mxnet.xml")]


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cluster-photos")
    make_photos(folder, count=PHOTOS, seed=47)
    return folder


@pytest.fixture(scope="module")
def reference(photos, engines, tmp_path_factory) -> dict:
    """The numbers of one uninterrupted run in this process."""
    out = tmp_path_factory.mktemp("cluster-reference")
    res = run_cli("eval", "--dataset", photos, *engines, "--work-dir", out / "w", "--json-file", out / "r.json")
    assert res.code == 0, res.err
    return numbers(json.loads((out / "r.json").read_text()))




def _after_photos(proc: subprocess.Popen, count: int) -> list[dict]:
    """Read the command's events until ``count`` photos are done; the events read."""
    events = []
    for line in proc.stderr:
        events.append(json.loads(line) if line.startswith("{") else {"line": line})
        if events[-1].get("event") == "progress" and events[-1].get("done", 0) >= count:
            return events
    raise AssertionError(f"the run ended before {count} photos: {events}")


def _ledger_photos(work: Path) -> list[int]:
    (ledger,) = work.rglob("ledger.sqlite")
    with sqlite3.connect(ledger) as conn:
        return [row[0] for row in conn.execute("SELECT idx FROM photos ORDER BY idx")]


def test_a_worker_node_killed_mid_run_costs_its_photos_not_the_run(cluster, photos, engines, reference, tmp_path):
    work, report = tmp_path / "w", tmp_path / "r.json"
    proc = eval_process("--dataset", photos, *engines, "--work-dir", work, "--ray", cluster.address, "--json-file", report)
    _after_photos(proc, 1)  # both nodes' actors hold photos (two each at the start): the worker node's go with it
    cluster.kill("node1")
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 0, err
    doc = json.loads(report.read_text())
    assert doc["workers"]["kind"] == "ray" and doc["workers"]["nodes"] == 2 and doc["workers"]["lost"] >= 1, doc["workers"]
    assert numbers(doc) == reference
    assert _ledger_photos(work) == list(range(PHOTOS))  # each photo once, whichever worker finished it
    retries = [json.loads(line) for line in err.splitlines() if '"retry"' in line]
    assert any("a Ray worker was lost" in e["reason"] for e in retries), err


def test_a_node_that_joins_mid_run_takes_photos(cluster, faces_dir, tmp_path):
    """One actor per node by default: the node that joins gets one, which takes photos; progress gives the pace."""
    data = tmp_path / "photos"
    make_photos(data, count=JOIN_PHOTOS, seed=53)
    report = tmp_path / "r.json"
    ir = ["--ir", str(faces_dir / "ir/mo/FP32/ssh-mxnet.xml")]
    proc = eval_process("--dataset", data, *ir, "--work-dir", tmp_path / "w", "--ray", cluster.address, "--json-file", report)
    events = _after_photos(proc, 1)
    cluster.start("node2", "127.0.0.3", 1)
    cluster.wait("node2")
    err = proc.stderr.read()
    assert proc.wait(timeout=300) == 0, err
    workers = json.loads(report.read_text())["workers"]
    # (The node killed by the test before may still count as alive at the start: Ray notices a lost node within seconds.)
    assert workers["joined"] == 1, workers
    assert len(workers["photos_by_node"]) == 2 and sum(workers["photos_by_node"].values()) == JOIN_PHOTOS, workers
    paced = [e for e in events + [json.loads(x) for x in err.splitlines() if x.startswith("{")] if "per_second" in e]
    assert paced and all(e["per_second"] > 0 and e["seconds_left"] >= 0 for e in paced)


def test_losing_the_head_is_one_line_exit_5_and_a_new_head_finishes_the_run(cluster, photos, engines, reference, tmp_path):
    """The head lost with the workers (a head alone with workers on other nodes is not the end: they go on)."""
    work, report = tmp_path / "w", tmp_path / "r.json"
    argv = ["--dataset", photos, *engines, "--work-dir", work, "--ray", cluster.address]
    proc = eval_process(*argv)
    _after_photos(proc, 1)
    started = time.time()
    cluster.stop()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 5, err
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("{")]
    assert len(lines) == 1 and "the Ray head at" in lines[0] and "run the same command" in lines[0], err
    assert time.time() - started < 60
    kept = _ledger_photos(work)
    assert kept, "the photos finished before the head was lost are kept"
    # The cluster started again at the same address: the same command finishes the run from the photos kept.
    cluster.start("head", "127.0.0.1", 0, head=True)  # no CPUs of its own: the next test loses every one there is
    cluster.start("node3", "127.0.0.4", 2)
    cluster.wait("head", "node3")
    res = run_cli("eval", *argv, "--json-file", report)
    assert res.code == 0, res.err
    doc = json.loads(report.read_text())
    assert doc["resumed_photos"] == len(kept) and numbers(doc) == reference
    assert _ledger_photos(work) == list(range(PHOTOS))


def test_no_room_for_any_worker_is_one_line_exit_5_after_the_wait(cluster, photos, engines, tmp_path):
    """The only node with CPUs lost: no worker can start again, and after ``--worker-wait`` seconds the run stops with
    one line and exit 5, its photos kept (the same command continuing a run: the test above)."""
    work = tmp_path / "w"
    proc = eval_process("--dataset", photos, *engines, "--work-dir", work, "--ray", cluster.address, "--worker-wait", "5")
    _after_photos(proc, 1)
    cluster.kill("node3")
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 5, err
    lines = [ln for ln in err.splitlines() if ln.strip() and not ln.startswith("{")]
    assert len(lines) == 1 and "no Ray worker could run photos for 5 s" in lines[0] and "add a node" in lines[0], err
    assert _ledger_photos(work)
