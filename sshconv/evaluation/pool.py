"""Where the photos are evaluated: in this process, in N worker processes, or on a Ray cluster.

Every way has the same shape: photos go in one at a time, results come back as they are
finished (in any order), never more than a few per worker in flight, so memory does not
grow with the dataset. Each worker loads every engine once (:class:`~.worker.Worker`).

* ``jobs == 1``: one worker in this process, every core.
* ``jobs > 1``: that many processes (spawned), each with ``cores // jobs`` threads.
* ``ray``: an existing cluster (``ray.init(address=...)``): ``jobs`` actors (default one per
  node), each reserving ``cluster CPUs // jobs`` CPUs and using as many threads. The model
  files travel through Ray's object store (each worker checks their sha256 and loads them
  once) and each photo travels as its bytes: nodes need sshconv installed, not the files.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ..engines import Engine
from ..errors import SourceUnreachableError, SshconvError, WorkerDied
from .worker import Method, PhotoTask, Worker

#: Photos in flight per worker: one running, one waiting, so no worker idles between photos.
IN_FLIGHT = 2


def run_photos(
    tasks: Iterable[PhotoTask], engines: Sequence[Engine], spec, jobs: int | None = None, ray_address: str | None = None,
    workers: dict[str, Any] | None = None, method: Method | None = None,
) -> Iterator[dict[str, Any]]:  # fmt: skip
    """Each task's result, as workers finish them; no worker starts when there is no task.

    ``workers``, when given, is filled with what runs them: ``kind``, ``count``, ``threads`` each.
    """
    import itertools

    tasks = iter(tasks)
    first = next(tasks, None)
    if first is None:
        return
    tasks = itertools.chain([first], tasks)
    workers = {} if workers is None else workers
    if ray_address is not None:
        yield from _on_ray(tasks, engines, spec, jobs, ray_address, workers, method)
    elif (jobs or 1) > 1:
        workers.update(kind="processes", count=jobs, threads=threads_per_worker(jobs))
        yield from _in_processes(tasks, engines, spec, jobs, method)
    else:
        from ..versions import available_cores

        workers.update(kind="this process", count=1, threads=available_cores())
        with Worker(engines, spec, method=method) as worker:
            for task in tasks:
                yield worker.run(task)


def threads_per_worker(jobs: int) -> int:
    from ..versions import available_cores

    return max(1, available_cores() // max(1, jobs))


# -- worker processes on this machine -------------------------------------------------------------

_WORKER: Worker | None = None


def _start_process(engines: Sequence[Engine], spec, threads: int, method: Method | None) -> None:
    """A pool process's initializer: MXNet's threads set before it loads, every engine loaded once."""
    global _WORKER
    os.environ["OMP_NUM_THREADS"] = str(threads)
    _WORKER = Worker(engines, spec, threads, method).__enter__()


def _run_in_process(task: PhotoTask) -> dict[str, Any]:
    assert _WORKER is not None
    return _WORKER.run(task)


def _in_processes(tasks, engines, spec, jobs: int, method: Method | None) -> Iterator[dict[str, Any]]:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    threads = threads_per_worker(jobs)
    ctx = multiprocessing.get_context("spawn")  # no forked copies of loaded frameworks
    pool = ProcessPoolExecutor(jobs, mp_context=ctx, initializer=_start_process, initargs=(list(engines), spec, threads, method))
    pending: set = set()
    started = False  # a result came back: the workers did start
    try:
        it = iter(tasks)
        exhausted = False
        while True:
            while not exhausted and len(pending) < IN_FLIGHT * jobs:
                task = next(it, None)
                if task is None:
                    exhausted = True
                else:
                    pending.add(pool.submit(_run_in_process, task))
            if not pending:
                break
            finished, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in finished:
                result = f.result()
                started = True
                yield result
    except BrokenProcessPool:
        raise WorkerDied(_died_message(started)) from None
    finally:
        for f in pending:
            f.cancel()
        pool.shutdown(wait=True, cancel_futures=True)


def _died_message(started: bool) -> str:
    """What to say when a worker process died; a death before any result, from a script, is most likely the spawn pitfall."""
    import sys

    if not started and _run_as_script(sys.modules.get("__main__")):
        return ("eval: a worker process ended while starting: worker processes import your script again, so evaluate() "
                "with more than one job must be called under `if __name__ == \"__main__\":` in it")  # fmt: skip
    return "eval: a worker process died (out of memory, or killed); the photos done so far are kept: run the same command again to go on"


def _run_as_script(main) -> bool:
    """``python script.py`` (not ``python -m``, not an interactive session, not the sshconv command)."""
    path = getattr(main, "__file__", None)
    return bool(path) and getattr(main, "__spec__", None) is None and not str(path).endswith(("sshconv", "sshconv.exe"))


# -- a Ray cluster --------------------------------------------------------------------------------


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

    def ready(self) -> bool:
        return True

    def run(self, task: PhotoTask) -> dict[str, Any]:
        return self.worker.run(task)


def connect_ray(address: str):
    """``ray`` connected to the cluster at ``address`` (the caller disconnects); exit 3 if none answers there."""
    import signal
    import threading

    from ..extras import require

    ray = require("ray", "eval on a Ray cluster")
    _probe(address)
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


def _probe(address: str) -> None:
    """A gRPC server answers at ``host:port`` (Ray's own ``ray://`` and ``auto`` forms are left to Ray), else exit 3.

    ray.init retries for minutes where nothing answers, or where something else does (a web
    server, a database): both are told here within :data:`PROBE_TIMEOUT` seconds.
    """
    import socket

    host, sep, port = address.rpartition(":")
    if "://" in address or not sep or not port.isdigit():
        return
    advice = "start one with `ray start --head` or pass its address"
    try:
        conn = socket.create_connection((host, int(port)), timeout=PROBE_TIMEOUT)
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


#: Ray's errors for an actor, a worker process or a node that is gone (killed, out of memory, crashed).
RAY_DEATHS = ("RayActorError", "ActorDiedError", "ActorUnavailableError", "WorkerCrashedError", "OutOfMemoryError",
              "NodeDiedError", "ObjectLostError", "OwnerDiedError")  # fmt: skip


def _ray_error(exc: BaseException) -> BaseException:
    """The sshconv error a Ray task or actor raised; a dead actor as :class:`WorkerDied`, as a dead process is; else ``exc``."""
    cause = getattr(exc, "cause", None) or getattr(exc, "__cause__", None)
    if isinstance(cause, SshconvError):
        return cause
    if any(c.__name__ in RAY_DEATHS for c in type(exc).__mro__):
        return WorkerDied(
            f"eval: a Ray worker died ({type(exc).__name__}: out of memory, killed, or its node gone); the photos done so "
            "far are kept: run the same command again to go on"
        )
    return exc


def _on_ray(tasks, engines, spec, jobs: int | None, address: str, workers: dict, method=None) -> Iterator[dict[str, Any]]:
    import sys

    from ..errors import UsageError, param

    already = "ray" in sys.modules and sys.modules["ray"].is_initialized()  # the caller's own connection: left open
    ray = sys.modules["ray"] if already else connect_ray(address)
    busy: dict[Any, Any] = {}  # object ref -> the actor running it
    actors: list[Any] = []
    try:
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        cpus = int(ray.cluster_resources().get("CPU", 1))
        jobs = jobs or max(1, len(nodes))
        if jobs > cpus:  # actors that can never be placed would wait for ever
            raise UsageError(f"eval: the Ray cluster at {address} has {cpus} CPU(s); pass {param('jobs')} {cpus} or fewer")
        threads = max(1, cpus // jobs)
        workers.update(kind="ray", count=jobs, threads=threads, address=address, nodes=len(nodes))
        blobs = {e.label: {name: ray.put(path.read_bytes()) for name, path in e.file_paths().items()} for e in engines}
        actor_class = ray.remote(_RayWorker)
        actors += [
            actor_class.options(num_cpus=threads, scheduling_strategy="SPREAD").remote(list(engines), blobs, spec, threads, method)
            for _ in range(jobs)
        ]
        try:
            ray.get([a.ready.remote() for a in actors])
        except Exception as exc:  # noqa: BLE001 - Ray wraps what the actor raised
            raise _ray_error(exc) from None
        del blobs
        load = {a: 0 for a in actors}
        it = iter(tasks)
        exhausted = False
        while True:
            while not exhausted:
                actor = min(load, key=load.get)
                if load[actor] >= IN_FLIGHT:
                    break
                task = next(it, None)
                if task is None:
                    exhausted = True
                    break
                busy[actor.run.remote(task)] = actor
                load[actor] += 1
            if not busy:
                break
            ready, _ = ray.wait(list(busy), num_returns=1)
            for ref in ready:
                load[busy.pop(ref)] -= 1
                try:
                    yield ray.get(ref)
                except Exception as exc:  # noqa: BLE001
                    raise _ray_error(exc) from None
    finally:
        # Killing an actor ends its running and queued calls (Ray refuses force-cancelling an actor's call: a
        # ValueError that, raised here, hid the error that brought the run here).
        for actor in actors:
            with contextlib.suppress(Exception):  # one already dead, or its node gone: nothing left to end
                ray.kill(actor)
        if not already:
            ray.shutdown()
