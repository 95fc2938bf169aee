"""The one renderer of the one event shape (:mod:`sshconv.events`): a tqdm bar, plain lines, JSON lines, or nothing.

One bar per stage: ``start`` opens it (bytes are shown scaled), ``progress`` moves it and
names the item, ``retry`` and ``error`` are written above it, ``done`` closes it. A stage
that runs others (the demo) keeps its bar while theirs come and go below it.

Where stderr is not a terminal (a CI log, ``2> file``, a pipe) a bar would be noise, and
silence for an 18-minute command says nothing: there each stage writes one plain line at
most every :data:`LINE_INTERVAL` seconds, and one when it ends if it wrote any; a failure is
the command's own last line, not repeated here.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any, TextIO

MODES = ("bar", "lines", "json", "none")
#: In ``lines`` mode a stage says where it is at most this often (seconds); a shorter stage says nothing.
LINE_INTERVAL = 30.0


def default_mode(stream: TextIO | None = None) -> str:
    """``bar`` on a terminal, else ``lines``."""
    stream = stream or sys.stderr
    return "bar" if stream.isatty() else "lines"


def _duration(seconds: float) -> str:
    """``42 s``, ``7 min``, ``3 h 05 min``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


class ProgressRenderer:
    """Call it with each event; :meth:`close` when the command ends (also on errors)."""

    def __init__(self, mode: str | None = None, stream: TextIO | None = None, clock=time.monotonic):
        self.stream = stream or sys.stderr
        self.mode = mode or default_mode(self.stream)
        self.bars: dict[str, Any] = {}
        self.clock = clock
        self.lines: dict[str, list[float]] = {}  # lines mode: stage -> [started, last line written or started, lines]

    def __call__(self, event: dict[str, Any]) -> None:
        if self.mode == "json":
            print(json.dumps(event, default=str), file=self.stream, flush=True)
        elif self.mode == "bar":
            self._bar(event)
        elif self.mode == "lines":
            self._line(event)

    def _line(self, event: dict[str, Any]) -> None:
        stage, kind, now = event.get("stage", "?"), event.get("event"), self.clock()
        state = self.lines.setdefault(stage, [now, now, 0])
        if kind == "start":
            self.lines[stage] = [now, now, 0]
        elif kind == "progress" and now - state[1] >= LINE_INTERVAL:
            total = f"/{event['total']}" if event.get("total") is not None else ""
            item = f": {event['item']}" if event.get("item") and event.get("unit") != "B" else ""
            unit = event.get("unit") or "steps"
            pace = f", {event['per_second']:.3g} {unit}/s, {_duration(event['seconds_left'])} left" if "per_second" in event else ""
            print(f"{stage}: {event.get('done', 0)}{total} {unit}{item} ({now - state[0]:.0f} s{pace})", file=self.stream, flush=True)
            state[1], state[2] = now, state[2] + 1
        elif kind == "done":  # retries and errors are not repeated here: the command's last line says what failed
            if state[2]:
                print(f"{stage}: done ({now - state[0]:.0f} s)", file=self.stream, flush=True)
            self.lines.pop(stage, None)

    def _bar(self, event: dict[str, Any]) -> None:
        stage, kind = event.get("stage", "?"), event.get("event")
        if kind == "start":
            self._close(stage)
            self._open(stage, event)
        elif kind == "progress":
            bar = self.bars.get(stage) or self._open(stage, event)
            if event.get("total") is not None:
                bar.total = event["total"]
            bar.n = event.get("done", bar.n)
            if event.get("item") and event.get("unit") != "B":
                bar.set_postfix_str(str(event["item"])[-50:], refresh=False)
            bar.refresh()
        elif kind in ("retry", "error"):
            where = " ".join(str(event[k]) for k in ("item", "url") if event.get(k))
            line = f"{stage}: {where}: {event.get('reason', kind)}"
            if self.bars:  # above the bars, which tqdm redraws below it (on stderr: stdout is for results)
                next(iter(self.bars.values())).write(line, file=self.stream)
            else:
                print(line, file=self.stream)
        elif kind == "done":
            self._close(stage)

    def _open(self, stage: str, event: dict[str, Any]):
        from tqdm import tqdm

        is_bytes = event.get("unit") == "B"
        desc = f"{stage} {event['item']}" if is_bytes and event.get("item") else stage
        self.bars[stage] = tqdm(
            total=event.get("total"), initial=event.get("done") or 0, desc=desc, unit=event.get("unit") or "step",
            unit_scale=is_bytes, unit_divisor=1024 if is_bytes else 1000, file=self.stream, leave=False,
            position=len(self.bars), dynamic_ncols=True,
        )  # fmt: skip
        return self.bars[stage]

    def _close(self, stage: str) -> None:
        bar = self.bars.pop(stage, None)
        if bar is not None:
            bar.close()

    def close(self) -> None:
        for stage in list(self.bars):
            self._close(stage)
