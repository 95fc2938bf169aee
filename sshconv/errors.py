"""One exception family for every failure a user can cause, and its exit codes.

Every error a user can trigger is a subclass of :class:`SshconvError`. The CLI
catches that one type, prints ``str(error)`` on one line and exits with
``error.exit_code``. Anything else that escapes is a bug in sshconv and shows a
traceback (with ``-v``) or a short "internal error" line.
"""

from __future__ import annotations

#: Exit codes, the only place they are defined. README's table mirrors this.
EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTEGRITY = 4

EXIT_CODES = {
    EXIT_OK: "success",
    EXIT_MISMATCH: "verification mismatch: the converted model does not match the original",
    EXIT_USAGE: "bad usage or bad input (flags, model.yml, checkpoint, model or image files)",
    EXIT_UNREACHABLE: "no source reachable: every URL and mirror failed, or --offline with a cold cache",
    EXIT_INTEGRITY: "integrity failure: checksum or size mismatch, unsafe archive",
}


class SshconvError(Exception):
    """Base of every error sshconv reports to a user; never raised directly."""

    exit_code = EXIT_USAGE


class UsageError(SshconvError):
    """Bad flags or a bad combination of them."""

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


class SourceUnreachableError(SshconvError):
    """Every source of a file failed for network reasons, or --offline missed the cache."""

    exit_code = EXIT_UNREACHABLE


class IntegrityError(SshconvError):
    """A checksum or size mismatch, or an archive that is unsafe to extract."""

    exit_code = EXIT_INTEGRITY


class VerificationMismatch(SshconvError):
    """The converted model's outputs differ from the original beyond tolerance."""

    exit_code = EXIT_MISMATCH


class Interrupted(SshconvError):
    """The run was stopped by SIGINT or SIGTERM; nothing half-written was left."""

    exit_code = 130


class LockTimeout(OutputError):
    """Another process held a lock on the output or cache folder for longer than the timeout."""
