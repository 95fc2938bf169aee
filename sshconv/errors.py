"""One exception family for every failure a user can cause, and every exit code.

Every error a user can trigger is a subclass of :class:`SshconvError`. The CLI
catches that one type, prints it on one line and exits with ``error.exit_code``.
Anything else that escapes is a bug in sshconv: exit :data:`EXIT_INTERNAL`.

The library speaks of its own parameters, never of CLI flags. A message that tells
the user what to pass marks the parameter with :func:`param` (``param("from_file")``);
``str(error)`` shows it as the Python keyword (`` `from_file` ``), and the CLI renders
the same error with its flag (``--from-file``) through :meth:`SshconvError.render`.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Mapping

#: Exit codes: this table is the only place they are defined. README's table mirrors it.
EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTEGRITY = 4
EXIT_WORKER = 5
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143

EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_MISMATCH: "verification mismatch: the converted model does not match the original",
    EXIT_USAGE: "bad usage or bad input (flags, model.yml, checkpoint, model, image, key or report files, budgets)",
    EXIT_UNREACHABLE: "no source reachable: every URL and mirror failed, or offline with a cold cache",
    EXIT_INTEGRITY: "integrity failure: checksum or size mismatch, unsafe archive, damaged golden file, manifest, ledger or bundle",
    EXIT_WORKER: "a worker process died (out of memory, or killed), or a Ray cluster lost its head or every worker; finished work is kept: run again to go on",
    EXIT_INTERNAL: "internal error: a bug in sshconv (report it with the -v output)",
    EXIT_INTERRUPTED: "interrupted by SIGINT; nothing half-written is left, run the command again",
    EXIT_TERMINATED: "terminated by SIGTERM; nothing half-written is left, run the command again",
}

# A parameter mark: unit separators never occur in paths or in model.yml text (which is
# shown JSON-escaped), so user data cannot be mistaken for one.
_MARK = "\x1f"
_PARAM = re.compile(f"{_MARK}([A-Za-z_][A-Za-z0-9_]*){_MARK}")


def param(name: str) -> str:
    """Mark the library parameter ``name`` in a message; the CLI shows its flag there instead."""
    return f"{_MARK}{name}{_MARK}"


#: Lines of a framework's message that say where in its sources it failed, not why (OpenVINO's
#: ``Exception from src/inference/src/cpp/core.cpp:84:``, ``Check 'x' failed at src/....cpp:900:``).
_WHERE_LINE = re.compile(r"^(Exception from \S+:\d+:?|Check '.*' failed at \S+:\d+:?)$")
_NO_MEMORY = ("bad_alloc", "out of memory", "cannot allocate memory", "failed to allocate", "memoryerror")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's text that says why (frameworks' messages run to pages, and OpenVINO's begin
    with lines saying where in its sources it failed); ``not enough memory`` first when the library ran out of it."""
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
    why = [ln for ln in lines if not _WHERE_LINE.match(ln)] or lines
    text = (why[0] if why else exc.__class__.__name__)[:200]
    if isinstance(exc, MemoryError) or any(k in str(exc).lower() for k in _NO_MEMORY):
        text = f"not enough memory: {text}"
    return text


class SshconvError(Exception):
    """Base of every error sshconv reports to a user; never raised directly."""

    exit_code = EXIT_USAGE

    def render(self, names: Mapping[str, str] | None = None) -> str:
        """The message on one line, each marked parameter shown as ``names[param]`` (else as `` `param` ``)."""
        names = names or {}
        text = _PARAM.sub(lambda m: names.get(m.group(1), f"`{m.group(1)}`"), super().__str__())
        return " ".join(text.split())

    def __str__(self) -> str:
        return self.render()


class UsageError(SshconvError):
    """Bad options or a bad combination of them."""

    exit_code = EXIT_USAGE


class InputError(SshconvError):
    """An input file or folder is missing, unreadable or not what it claims to be."""

    exit_code = EXIT_USAGE


class SpecError(InputError):
    """model.yml is not valid; the message names the path of the bad field."""


class CheckpointError(InputError):
    """The MXNet checkpoint (symbol JSON + params) is missing or broken."""


class ModelFileError(InputError):
    """An IR or ONNX file given to verify/detect/bench is missing or unusable."""


class OutputError(InputError):
    """An output location cannot be written."""


class LockTimeout(OutputError):
    """Another process held a lock on the output or cache folder for longer than the timeout."""


class MissingExtraError(UsageError):
    """A command needs a part of sshconv that is not installed here (the conversion stack, ONNX Runtime)."""


class SourceUnreachableError(SshconvError):
    """Every source of a file failed for network reasons, or offline mode missed the cache."""

    exit_code = EXIT_UNREACHABLE


class IntegrityError(SshconvError):
    """A checksum or size mismatch, or an archive that is unsafe to extract."""

    exit_code = EXIT_INTEGRITY


class VerificationMismatch(SshconvError):
    """The converted model's outputs differ from the original beyond tolerance."""

    exit_code = EXIT_MISMATCH


class WorkerDied(SshconvError):
    """A worker process or Ray actor ended without a result (the kernel's OOM killer, a kill, a crash)."""

    exit_code = EXIT_WORKER


class Interrupted(SshconvError):
    """The run was stopped by SIGINT; every cleanup ran, nothing half-written was left."""

    exit_code = EXIT_INTERRUPTED


class Terminated(Interrupted):
    """The run was stopped by SIGTERM; every cleanup ran, nothing half-written was left."""

    exit_code = EXIT_TERMINATED
