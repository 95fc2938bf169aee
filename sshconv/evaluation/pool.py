"""Where the photos are evaluated: in this process, in N worker processes, or on a Ray cluster.

Every way has the same shape: photos go in one at a time, results come back as they are
finished (in any order), never more than a few per worker in flight, so memory does not
grow with the dataset. Each worker loads every engine once (:class:`~.worker.Worker`).

* ``jobs == 1``: one worker in this process, every core.
* ``jobs > 1``: that many processes (spawned), each with ``cores // jobs`` threads.
* ``ray``: an existing cluster: actors that come and go with its nodes (:mod:`.cluster`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from ..engines import Engine
from ..errors import WorkerDied
from .worker import IN_FLIGHT, Method, PhotoTask, Worker


def run_photos(
    tasks: Iterable[PhotoTask], engines: Sequence[Engine], spec, jobs: int | None = None, ray_address: str | None = None,
    workers: dict[str, Any] | None = None, method: Method | None = None, worker_wait: float | None = None,
    notify: Callable[[str], None] | None = None,
) -> Iterator[dict[str, Any]]:  # fmt: skip
    """Each task's result, as workers finish them; no worker starts when there is no task.

    ``workers``, when given, is filled with what runs them: ``kind``, ``count``, ``threads`` each (on Ray also the
    workers lost, the nodes that joined and the photos each node ran). On Ray, ``worker_wait`` is how long a run may
    have no worker before it ends, and ``notify(text)`` hears of workers lost and nodes joined (:mod:`.cluster`).
    """
    import itertools

    tasks = iter(tasks)
    first = next(tasks, None)
    if first is None:
        return
    tasks = itertools.chain([first], tasks)
    workers = {} if workers is None else workers
    if ray_address is not None:
        from . import WORKER_WAIT
        from .cluster import on_ray

        wait = WORKER_WAIT if worker_wait is None else worker_wait
        yield from on_ray(tasks, engines, spec, jobs, ray_address, workers, method, wait, notify)
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
