"""What the evaluation tests share: a free port, an eval command to interrupt, a report's numbers."""

from __future__ import annotations

import socket
import subprocess
import sys


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def eval_process(*argv) -> subprocess.Popen:
    """``sshconv eval`` in a process of its own, its events (``--progress json``) on stderr, to be interrupted."""
    return subprocess.Popen([sys.executable, "-m", "sshconv", "eval", *map(str, argv), "--progress", "json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def numbers(report: dict) -> dict:
    """A JSON report's results without the timings (which differ from run to run)."""
    return {k: {kk: vv for kk, vv in v.items() if kk != "seconds_per_photo"} for k, v in report["results"].items()}
