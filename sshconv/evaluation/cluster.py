"""Photos on a Ray cluster, through the loss and the arrival of nodes.

``eval --ray ADDRESS`` connects to a running cluster and starts ``jobs`` actors (default: one per
node), each reserving ``cluster CPUs // jobs`` CPUs and using as many threads. The model files
travel through Ray's object store (each actor checks their sha256 and loads every engine once)
and each photo travels as its bytes: nodes need sshconv installed, not the files.

What a cluster of preemptible machines does to a run, and what this module does about it:

* a worker node is lost (its actors die: Ray reports them dead or unavailable): the photos that
  were in flight on them go back to the queue and the actors left take them; a replacement actor
  is asked for at once and starts wherever the cluster has room (a node that comes back, or
  another). A photo is tried at most :data:`MAX_ATTEMPTS` times: one that kills every worker it
  meets (out of memory on a huge photo) ends the run instead of the cluster;
* a node joins: when ``jobs`` was not given (one actor per node), an actor is started on it and
  takes photos as soon as its engines are loaded;
* the head stops answering: the actors left go on (the head is needed only to start new ones);
  when it has been silent for :data:`HEAD_GRACE` seconds and no actor is left (their calls fail
  within a second of their death), the run ends;
* no actor is left and none can start (no room anywhere) for ``wait`` seconds: the run ends.

A run that ends raises :class:`~sshconv.errors.WorkerDied` (exit 5), every finished photo kept in
the ledger; the same command continues the run.

Whichever worker finished a photo, and however often it ran, its result is given once. Ray's own
retries are not used: they would re-run a photo on an actor that Ray restarts in place, which
never happens when its node is gone, and they would hide the loss from the run's report.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections import deque
from collections.abc import Iterator, Sequence
from typing import Any

from ..engines import Engine
from ..errors import SourceUnreachableError, SshconvError, UsageError, WorkerDied, param
from . import WORKER_WAIT
from .worker import IN_FLIGHT, Worker

#: Times a photo may be started before its losses end the run.
MAX_ATTEMPTS = 3
#: Seconds the head may be silent, with no actor left, before the run ends (exit 5).
HEAD_GRACE = 10.0
#: Seconds between looks at the head while no result comes, and at most between looks at it and at the nodes.
POLL = 1.0
LOOK_EVERY = 5.0
#: Actors whose start failed one after another (their process died while loading) before the run ends.
MAX_FAILED_STARTS = 3
#: Ray's driver ends its own process (a fatal log, no cleanup) when the head is gone this long; the run's own
#: look at the head (:data:`HEAD_GRACE`) must come first, so it is raised for this process unless set already.
GCS_RECONNECT_ENV = "RAY_gcs_rpc_server_reconnect_timeout_s"
GCS_RECONNECT_SECONDS = 3600


class _RayWorker:
    """A Ray actor's body: writes the model files it was sent, checks them, loads every engine once."""

    def __init__(self, engines: Sequence[Engine], blobs: dict[str, dict[str, Any]], spec, threads: int, method=None) -> None:
        import tempfile
        from pathlib import Path

        import ray

        from ..engines.plan import check_copies

        os.environ["OMP_NUM_THREADS"] = str(threads)
        self._folder = tempfile.TemporaryDirectory(prefix="sshconv-eval-")
        local = []
        for n, engine in enumerate(engines):
            folder = Path(self._folder.name) / str(n)
            folder.mkdir()
            for name, ref in blobs[engine.label].items():
                (folder / name).write_bytes(ray.get(ref))
            local.append(check_copies(engine, folder))
        self.worker = Worker(local, spec, threads, method).__enter__()

    def ready(self) -> str:
        """The node this actor runs on."""
        import ray

        return ray.get_runtime_context().get_node_id()

    def run(self, task) -> dict[str, Any]:
        return self.worker.run(task)


def connect_ray(address: str):
    """``ray`` connected to the cluster at ``address`` (the caller disconnects); exit 3 if none answers there."""
    import signal
    import threading

    from ..extras import require

    ray = require("ray", "eval on a Ray cluster")
    _probe(address)
    os.environ.setdefault(GCS_RECONNECT_ENV, str(GCS_RECONNECT_SECONDS))
    # ray.init puts in a SIGTERM handler of its own (sys.exit(15): no message, no cleanup of ours); the caller's
    # (the CLI's: a clean line, nothing half-written) is put back.
    on_term = signal.getsignal(signal.SIGTERM) if threading.current_thread() is threading.main_thread() else None
    try:
        ray.init(address=address, logging_level="ERROR", log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        text = " ".join(str(exc).split())[:160]
        raise SourceUnreachableError(
            f"Ray cluster {address}: cannot connect ({text}); start one with `ray start --head` or pass its address"
        ) from None
    finally:
        if on_term is not None:
            signal.signal(signal.SIGTERM, on_term)
    return ray


#: Seconds to wait for a TCP answer at a cluster's address (ray.init itself retries for minutes).
PROBE_TIMEOUT = 5.0
#: What a gRPC server (a Ray head's GCS is one) answers to the HTTP/2 client preface and an empty SETTINGS frame:
#: a SETTINGS frame of its own (frame type 4 in the fourth byte of the nine-byte frame header).
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
HTTP2_SETTINGS = 4


def _host_port(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of a ``host:port`` address; ``None`` for Ray's own ``ray://`` and ``auto`` forms."""
    host, sep, port = address.rpartition(":")
    if "://" in address or not sep or not port.isdigit():
        return None
    return host, int(port)


def _probe(address: str) -> None:
    """A gRPC server answers at ``host:port`` (Ray's own ``ray://`` and ``auto`` forms are left to Ray), else exit 3.

    ray.init retries for minutes where nothing answers, or where something else does (a web
    server, a database): both are told here within :data:`PROBE_TIMEOUT` seconds.
    """
    where = _host_port(address)
    if where is None:
        return
    advice = "start one with `ray start --head` or pass its address"
    try:
        conn = socket.create_connection(where, timeout=PROBE_TIMEOUT)
    except OSError as exc:
        raise SourceUnreachableError(
            f"Ray cluster {address}: nothing answers there ({exc.__class__.__name__}); {advice}"
        ) from None
    answer = b""
    with conn:
        try:
            conn.sendall(HTTP2_PREFACE)
            while len(answer) < 9 and (chunk := conn.recv(9 - len(answer))):
                answer += chunk
        except OSError:  # reset, or silence until the timeout: no gRPC server
            pass
    if len(answer) < 9 or answer[3] != HTTP2_SETTINGS:
        raise SourceUnreachableError(
            f"Ray cluster {address}: something answers there, but not a Ray cluster (no gRPC server); {advice}"
        )


def _head_answers(address: str) -> bool:
    """The head still accepts connections at its address (always True for addresses Ray resolves itself)."""
    where = _host_port(address)
    if where is None:
        return True
    try:
        socket.create_connection(where, timeout=POLL).close()
    except OSError:
        return False
    return True


#: Ray's errors for an actor, a worker process or a node that is gone (killed, out of memory, crashed).
RAY_DEATHS = ("RayActorError", "ActorDiedError", "ActorUnavailableError", "WorkerCrashedError", "OutOfMemoryError",
              "NodeDiedError", "ObjectLostError", "OwnerDiedError")  # fmt: skip


def _is_death(exc: BaseException) -> bool:
    return any(c.__name__ in RAY_DEATHS for c in type(exc).__mro__)


def _raised(exc: BaseException) -> BaseException:
    """The sshconv error a Ray task or actor raised, else ``exc`` itself."""
    cause = getattr(exc, "cause", None) or getattr(exc, "__cause__", None)
    return cause if isinstance(cause, SshconvError) else exc


KEPT = "the photos done so far are kept"


class _Fleet:
    """One run's actors: those starting, those ready (with the photos each holds), and what became of the others."""

    def __init__(self, ray, make, jobs: int, one_per_node: bool, known_nodes: set[str]) -> None:
        self.ray, self.make, self.jobs, self.one_per_node = ray, make, jobs, one_per_node
        self.starting: dict[Any, Any] = {}  # ready() ref -> actor
        self.node: dict[Any, str] = {}  # ready actor -> its node
        self.holds: dict[Any, dict[Any, Any]] = {}  # ready actor -> {run ref: task}
        self.known = set(known_nodes)
        self.lost = self.joined = self.failed_starts = 0
        self.photos_by_node: dict[str, int] = {}

    def start(self, node: str | None = None) -> None:
        """An actor asked for (on ``node``, or wherever there is room); it takes photos once its ``ready`` answers."""
        actor = self.make(node)
        self.starting[actor.ready.remote()] = actor

    def refs(self) -> list[Any]:
        return [*self.starting, *(ref for held in self.holds.values() for ref in held)]

    def free(self) -> Any | None:
        """The ready actor holding fewest photos, if it can take one more."""
        if not self.holds:
            return None
        actor = min(self.holds, key=lambda a: len(self.holds[a]))
        return actor if len(self.holds[actor]) < IN_FLIGHT else None

    def owner(self, ref) -> Any | None:
        return next((a for a, held in self.holds.items() if ref in held), None)

    def lose(self, actor) -> list[Any]:
        """``actor`` is gone: its photos, to run again; a replacement asked for (it starts where there is room)."""
        held = self.holds.pop(actor, {})
        self.node.pop(actor, None)
        self.lost += 1
        self.start()
        return list(held.values())

    def look_for_nodes(self) -> None:
        """Nodes that joined since the last look: with one actor per node, one is started on each."""
        alive = {n["NodeID"] for n in self.ray.nodes() if n.get("Alive")}
        for node in sorted(alive - self.known):
            self.known.add(node)
            self.joined += 1
            if self.one_per_node:
                self.jobs += 1
                self.start(node)

    def end(self) -> None:
        for actor in [*self.holds, *self.starting.values()]:
            with contextlib.suppress(Exception):  # one already dead, or its node gone: nothing left to end
                self.ray.kill(actor)


def on_ray(tasks, engines, spec, jobs: int | None, address: str, workers: dict, method=None,
           wait: float = WORKER_WAIT, notify=None) -> Iterator[dict[str, Any]]:  # fmt: skip
    """Each task's result once, as the cluster's actors finish them (see the module's docstring).

    ``notify(text)`` is told of each worker lost and each node that joined.
    """
    import sys

    already = "ray" in sys.modules and sys.modules["ray"].is_initialized()  # the caller's own connection: left open
    ray = sys.modules["ray"] if already else connect_ray(address)
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    fleet: _Fleet | None = None
    head_lost = False
    try:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        cpus = int(ray.cluster_resources().get("CPU", 1))
        one_per_node = jobs is None
        jobs = jobs or max(1, len(nodes))
        if jobs > cpus:  # actors that can never be placed would wait for ever
            raise UsageError(f"eval: the Ray cluster at {address} has {cpus} CPU(s); pass {param('jobs')} {cpus} or fewer")
        threads = max(1, cpus // jobs)
        blobs = {e.label: {name: ray.put(path.read_bytes()) for name, path in e.file_paths().items()} for e in engines}
        actor_class = ray.remote(_RayWorker)

        def make(node: str | None):
            strategy = NodeAffinitySchedulingStrategy(node, soft=False) if node else "SPREAD"
            return actor_class.options(num_cpus=threads, scheduling_strategy=strategy).remote(
                list(engines), blobs, spec, threads, method
            )

        workers.update(kind="ray", count=jobs, threads=threads, address=address, nodes=len(nodes))
        fleet = _Fleet(ray, make, jobs, one_per_node, {n["NodeID"] for n in nodes})
        for _ in range(jobs):
            fleet.start()
        queue: deque = deque()  # photos to run again, before new ones
        attempts: dict[int, int] = {}
        given: set[int] = set()
        it, exhausted = iter(tasks), False
        idle_since = looked = nodes_looked = time.monotonic()
        head_missing: float | None = None
        while True:
            while (actor := fleet.free()) is not None and (queue or not exhausted):
                task = queue.popleft() if queue else next(it, None)
                if task is None:
                    exhausted = True
                    break
                attempts[task.index] = attempts.get(task.index, 0) + 1
                fleet.holds[actor][actor.run.remote(task)] = task
            if exhausted and not queue and not any(fleet.holds.values()):
                break
            ready, _ = ray.wait(fleet.refs(), num_returns=1, timeout=POLL)
            now = time.monotonic()
            if fleet.holds:  # some actor is ready to run photos
                idle_since = now
            if not ready or now - looked >= LOOK_EVERY:  # the cluster looked at: each quiet second, or every few
                looked = now
                if _head_answers(address):
                    head_missing = None
                    if now - nodes_looked >= LOOK_EVERY:
                        nodes_looked, before = now, fleet.joined
                        fleet.look_for_nodes()
                        if fleet.joined > before and notify:
                            notify(f"{fleet.joined - before} node(s) joined the cluster")
                else:  # the actors left may go on without it (it only starts new ones): the end is when nothing comes
                    head_missing = head_missing or now
                    if not fleet.holds and now - head_missing >= HEAD_GRACE:  # no worker left, none can start
                        head_lost = True
                        raise WorkerDied(
                            f"eval: the Ray head at {address} stopped answering (its machine lost, or it was stopped) "
                            f"and no worker left has a result; {KEPT}: start the cluster again and run the same command"
                        )
            if not ready:
                if not fleet.holds and now - idle_since >= wait:
                    raise WorkerDied(
                        f"eval: no Ray worker could run photos for {wait:g} s ({fleet.lost} lost, none started again: "
                        f"no room on the nodes left); {KEPT}: add a node, or run the same command again"
                    )
                continue
            for ref in ready:
                if ref in fleet.starting:
                    actor = fleet.starting.pop(ref)
                    try:
                        fleet.node[actor] = ray.get(ref)
                    except Exception as exc:  # noqa: BLE001 - Ray wraps what the actor raised
                        if not _is_death(exc):
                            raise _raised(exc) from None
                        fleet.failed_starts += 1
                        if fleet.failed_starts >= MAX_FAILED_STARTS:
                            raise WorkerDied(
                                f"eval: {fleet.failed_starts} Ray workers in a row died while loading the "
                                f"engines (out of memory?); {KEPT}: run the same command again"
                            ) from None
                        fleet.start()
                        continue
                    fleet.failed_starts = 0
                    fleet.holds[actor] = {}
                    continue
                actor = fleet.owner(ref)
                if actor is None:  # a call of an actor already counted lost
                    continue
                task = fleet.holds[actor].pop(ref)
                try:
                    result = ray.get(ref)
                except Exception as exc:  # noqa: BLE001
                    if not _is_death(exc):
                        raise _raised(exc) from None
                    again = [task, *fleet.lose(actor)]  # the photo that failed, and those the actor held besides
                    if _head_answers(address):  # one only unavailable for now would hold its CPUs (with no head, Ray blocks)
                        with contextlib.suppress(Exception):
                            ray.kill(actor)
                    for lost in again:
                        if attempts.get(lost.index, 0) >= MAX_ATTEMPTS:
                            raise WorkerDied(
                                f"eval: photo {lost.path} was on {MAX_ATTEMPTS} Ray workers that died (out of memory "
                                f"on it?); {KEPT}: run the same command again"
                            ) from None
                    queue.extendleft(reversed(again))
                    if notify:
                        notify(f"a Ray worker was lost ({type(exc).__name__}); {len(again)} photo(s) given to the others")
                    continue
                node = fleet.node.get(actor, "?")
                if result["index"] not in given:
                    given.add(result["index"])
                    fleet.photos_by_node[node] = fleet.photos_by_node.get(node, 0) + 1
                    yield result
        workers.update(count=fleet.jobs, lost=fleet.lost, joined=fleet.joined, photos_by_node=dict(fleet.photos_by_node))
    finally:
        if fleet is not None and not head_lost and _head_answers(address):
            fleet.end()  # killing an actor ends its running and queued calls
        if not already:
            ray.shutdown()
