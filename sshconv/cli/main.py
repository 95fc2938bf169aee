"""The command line: a thin layer over the library, and the one place errors become exit codes.

Each command (one module per stage) parses its flags, calls one library function and
prints the result. Every :class:`~sshconv.errors.SshconvError` becomes one line on stderr,
naming the command's own flags where the library named its parameters, and its exit
code; SIGINT and SIGTERM become :class:`~sshconv.errors.Interrupted` and
:class:`~sshconv.errors.Terminated`; anything else is a bug (:data:`~sshconv.errors.EXIT_INTERNAL`).
A traceback is shown only with ``-v``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys

from .. import __version__
from ..errors import EXIT_INTERNAL, EXIT_USAGE, Interrupted, SshconvError, Terminated
from .common import EPILOG_EXIT_CODES, Parser, add_verbose, flag_names, formatter
from .convert import add_convert, add_quantize
from .dataset import add_photos
from .deploy import add_bench, add_demo, add_detect
from .download import add_download
from .evaluate import add_eval
from .model import add_info, add_synth
from .release import add_bundle
from .verify import add_verify

log = logging.getLogger("sshconv")

#: One function per command adds its sub-parser; the order here is the order in --help.
COMMANDS = [
    add_info,
    add_synth,
    add_photos,
    add_download,
    add_convert,
    add_quantize,
    add_detect,
    add_bench,
    add_demo,
    add_verify,
    add_eval,
    add_bundle,
]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="sshconv",
        description="Acquire, convert and verify the SSH face detector (ssh-mxnet) as OpenVINO IR.",
        epilog="example:\n  sshconv demo --workdir ./sshconv-demo\n\n" + EPILOG_EXIT_CODES,
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"sshconv {__version__}")
    add_verbose(parser)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=Parser)
    for add in COMMANDS:
        add(sub)
    return parser


class _SigTerm(KeyboardInterrupt):
    """SIGTERM, delivered like Ctrl-C so that every cleanup path runs (library code never catches it)."""


def _on_sigterm(signum, frame):
    raise _SigTerm()


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("sshconv")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    root.propagate = False  # frameworks add handlers to the root logger: say things once


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    verbose = "-v" in argv or "--verbose" in argv
    _setup_logging(verbose)
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if _is_main_thread() else None
    args = None
    try:
        try:
            args = build_parser().parse_args(argv)
            if not hasattr(args, "func"):
                build_parser().print_help(sys.stderr)
                return EXIT_USAGE
            return int(args.func(args) or 0)
        except _SigTerm:
            raise Terminated("terminated (SIGTERM); nothing half-written was left, run the command again to finish") from None
        except KeyboardInterrupt:
            raise Interrupted("interrupted; nothing half-written was left, run the command again to finish") from None
    except SshconvError as exc:
        if verbose:
            log.exception("error")
        label = "sshconv" if isinstance(exc, Interrupted) else "sshconv: error"
        print(f"{label}: {exc.render(flag_names(getattr(args, 'parser', None)))}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug in sshconv, not a user error
        if verbose:
            raise
        text = " ".join(f"{exc.__class__.__name__}: {exc}".split())
        print(f"sshconv: internal error: {text} (run with -v for the traceback and report it)", file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _is_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
