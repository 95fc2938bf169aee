"""The one progress contract every long step speaks: a dict per event.

Every event has at least:

* ``stage``: which step speaks (``download``, ``convert``, ``verify``, ``bench``, ``detect``, ``demo``, ...);
* ``event``: what happened: ``start`` (a piece of work begins, with its ``total`` when known),
  ``progress`` (``done`` of ``total``), ``done`` (it finished), ``retry`` and ``error``
  (something failed, with a ``reason``), or a stage's own kind (``artifact``, ``postprocess``);
* counts: ``done`` and ``total`` in ``unit`` (``B`` for bytes, ``step``, ``run``, ``image``) on
  ``start`` and ``progress``;
* ``item`` when the event is about one piece of the stage (a file, a route, a model × sample).

The library only emits (``on_event(event)``); the CLI renders the same events as a tqdm bar,
JSON lines or nothing. A stage that runs others (the demo) passes its handler on, so their
events reach the user unchanged, each with its own ``stage``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

Event = dict[str, Any]
EventHandler = Callable[[Event], None]

#: The least time, in seconds, between two ``progress`` events of one item (the last one always goes out).
PROGRESS_INTERVAL = 0.2


class Emitter:
    """Emits the events of one stage to ``handler`` (``None``: nowhere), throttling ``progress``."""

    def __init__(self, stage: str, handler: EventHandler | None = None, interval: float = PROGRESS_INTERVAL):
        refuse_while_a_worker_imports_the_script(stage)
        self.stage = stage
        self.handler = handler
        self.interval = interval
        self._last: dict[Any, float] = {}

    def __call__(self, event: str, **fields: Any) -> None:
        if self.handler is not None:
            self.handler({"stage": self.stage, "event": event, **fields})

    def start(self, total: int | None = None, unit: str = "step", **fields: Any) -> None:
        self("start", total=total, done=fields.pop("done", 0), unit=unit, **fields)

    def progress(self, done: int, total: int | None, unit: str = "step", force: bool = False, **fields: Any) -> None:
        """A ``progress`` event, at most one per :attr:`interval` per item, unless ``force`` or finished."""
        if self.handler is None:
            return
        key = fields.get("item")
        now = time.monotonic()
        finished = total is not None and done >= total
        if force or finished or now - self._last.get(key, -1e9) >= self.interval:
            self._last[key] = now
            self("progress", done=done, total=total, unit=unit, **fields)

    def for_stage(self, stage: str) -> Emitter:
        """An emitter for another stage that reaches the same handler."""
        return Emitter(stage, self.handler, self.interval)


def refuse_while_a_worker_imports_the_script(stage: str) -> None:
    """Every long step starts its events here, so this is where the spawn pitfall is caught.

    A worker process started with ``spawn`` (``evaluate(jobs=2)``) first imports the user's main
    script again; a script that calls sshconv at its top level, not under
    ``if __name__ == "__main__":``, would then run its whole pipeline once more in every worker
    (minutes, then a worker that "died"). While a process is importing its parent's script,
    no step may start: one line says why, at once.
    """
    import multiprocessing

    if getattr(multiprocessing.current_process(), "_inheriting", False):
        from .errors import UsageError

        raise UsageError(
            f"{stage} was called while a worker process was importing your script again (that is how worker processes "
            'start): put the script\'s calls under `if __name__ == "__main__":`'
        )
