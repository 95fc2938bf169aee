"""The one progress contract: every event has a stage and an event kind, counts, and throttled progress."""

from __future__ import annotations

import io
import json

import pytest

from sshconv.cli.progress import ProgressRenderer
from sshconv.events import Emitter

pytestmark = pytest.mark.quick


def test_every_event_carries_stage_event_and_counts():
    got = []
    emit = Emitter("convert", got.append)
    emit.start(3, item="out")
    emit.progress(1, 3, item="checkpoint")
    emit("artifact", item="ir/mo/FP32/ssh-mxnet.xml", size=10)
    emit("done")
    assert [(e["stage"], e["event"]) for e in got] == [
        ("convert", "start"), ("convert", "progress"), ("convert", "artifact"), ("convert", "done"),
    ]  # fmt: skip
    assert got[0] == {"stage": "convert", "event": "start", "total": 3, "done": 0, "unit": "step", "item": "out"}
    assert (got[1]["done"], got[1]["total"], got[1]["unit"]) == (1, 3, "step")


def test_progress_is_throttled_per_item_but_the_last_one_always_goes_out():
    got = []
    emit = Emitter("download", got.append, interval=3600)
    for n in range(1, 101):
        emit.progress(n, 100, "B", item="a.bin")
    emit.progress(5, 10, "B", item="b.bin")  # another item is not held back by the first one's clock
    emit.progress(6, 10, "B", item="b.bin")
    emit.progress(7, 10, "B", force=True, item="b.bin")
    done = [(e["item"], e["done"]) for e in got]
    assert done == [("a.bin", 1), ("a.bin", 100), ("b.bin", 5), ("b.bin", 7)]


def test_no_handler_emits_nothing_and_for_stage_reaches_the_same_handler():
    Emitter("x").progress(1, 2)  # no handler: nothing to call, no error
    got = []
    Emitter("demo", got.append).for_stage("verify")("start", total=1)
    assert got == [{"stage": "verify", "event": "start", "total": 1}]


def test_renderer_json_lines_and_bars():
    events = [
        {"stage": "demo", "event": "start", "total": 2, "done": 0, "unit": "step", "item": "w"},
        {"stage": "download", "event": "start", "total": 1000, "done": 100, "unit": "B", "item": "a.zip"},
        {"stage": "download", "event": "progress", "total": 1000, "done": 1000, "unit": "B", "item": "a.zip"},
        {"stage": "download", "event": "retry", "item": "a.zip", "url": "http://127.0.0.1/a.zip", "reason": "HTTP 503"},
        {"stage": "download", "event": "done", "item": "a.zip"},
        {"stage": "demo", "event": "progress", "total": 2, "done": 2, "unit": "step", "item": "download"},
        {"stage": "demo", "event": "done"},
    ]
    out = io.StringIO()
    json_lines = ProgressRenderer("json", out)
    for e in events:
        json_lines(e)
    assert [json.loads(line) for line in out.getvalue().splitlines()] == events

    out = io.StringIO()
    bars = ProgressRenderer("bar", out)
    for e in events[:4]:
        bars(e)
    assert set(bars.bars) == {"demo", "download"}, "a stage that runs others keeps its bar below theirs"
    assert bars.bars["download"].n == 1000
    for e in events[4:]:
        bars(e)
    assert not bars.bars
    text = out.getvalue()
    assert "download a.zip" in text and "http://127.0.0.1/a.zip: HTTP 503" in text

    out = io.StringIO()
    quiet = ProgressRenderer("none", out)
    for e in events:
        quiet(e)
    assert out.getvalue() == ""


def test_plain_lines_where_stderr_is_not_a_terminal():
    """A long command whose stderr is a log or a pipe says where it is every LINE_INTERVAL seconds; a short one says nothing."""
    import io

    from sshconv.cli.progress import LINE_INTERVAL, ProgressRenderer, default_mode

    assert default_mode(io.StringIO()) == "lines"
    now = [0.0]
    out = io.StringIO()
    lines = ProgressRenderer(None, out, clock=lambda: now[0])
    assert lines.mode == "lines"
    emit = Emitter("eval", lines, interval=0)
    emit.start(100, "photo")
    emit.progress(1, 100, "photo", item="a.jpg")
    assert out.getvalue() == "", "nothing before the first interval"
    now[0] = LINE_INTERVAL + 1
    emit.progress(7, 100, "photo", item="b.jpg")
    emit.progress(8, 100, "photo", item="c.jpg")  # within the next interval: not written
    now[0] = 2 * LINE_INTERVAL + 5
    emit.progress(9, 100, "photo", item="d.jpg", per_second=0.25, seconds_left=364.0)  # eval's pace, when it has one
    now[0] = 3 * LINE_INTERVAL + 5
    emit.progress(10, 100, "photo", item="e.jpg", per_second=0.2, seconds_left=4 * 3600 + 300.0)
    emit("done")
    assert out.getvalue().splitlines() == [
        f"eval: 7/100 photo: b.jpg ({LINE_INTERVAL + 1:.0f} s)",
        f"eval: 9/100 photo: d.jpg ({2 * LINE_INTERVAL + 5:.0f} s, 0.25 photo/s, 6 min left)",
        f"eval: 10/100 photo: e.jpg ({3 * LINE_INTERVAL + 5:.0f} s, 0.2 photo/s, 4 h 05 min left)",
        f"eval: done ({3 * LINE_INTERVAL + 5:.0f} s)",
    ]
    quiet = io.StringIO()
    short = Emitter("convert", ProgressRenderer("lines", quiet, clock=lambda: 0.0), interval=0)
    short.start(3, "step")
    short.progress(3, 3, "step")
    short("done")
    assert quiet.getvalue() == ""


def test_no_step_starts_while_a_worker_process_imports_the_script(monkeypatch):
    """The spawn pitfall: a worker process importing the user's script again must not run the script's pipeline."""
    import multiprocessing

    import pytest

    from sshconv.errors import UsageError

    monkeypatch.setattr(multiprocessing.current_process(), "_inheriting", True, raising=False)
    with pytest.raises(UsageError, match="__name__"):
        Emitter("convert")
    monkeypatch.setattr(multiprocessing.current_process(), "_inheriting", False)
    Emitter("convert")
