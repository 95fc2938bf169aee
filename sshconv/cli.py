"""The command line: a thin layer over the library.

Each command parses its flags, calls one library function and prints the result.
Every :class:`~sshconv.errors.SshconvError` becomes one line on stderr and its exit
code; a traceback is shown only with ``-v``.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import textwrap
from pathlib import Path
from typing import Any

from . import __version__
from .errors import EXIT_CODES, EXIT_USAGE, SshconvError, UsageError

log = logging.getLogger("sshconv")

EPILOG_EXIT_CODES = "exit codes:\n" + "\n".join(f"  {code}  {text}" for code, text in EXIT_CODES.items())


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and raises instead of exiting."""

    def error(self, message: str):  # noqa: D401
        raise UsageError(f"{self.prog}: {message}; see `{self.prog} --help`")


def _formatter(prog):
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32, width=100)


def _command(sub, name: str, summary: str, example: str, func) -> argparse.ArgumentParser:
    p = sub.add_parser(
        name,
        help=summary,
        description=f"{summary}\n\nexample:\n{textwrap.indent(example.strip(), '  ')}",
        epilog=EPILOG_EXIT_CODES,
        formatter_class=_formatter,
    )
    p.set_defaults(func=func)
    _add_common(p)
    return p


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("-v", "--verbose", action="store_true", help="debug logs, and tracebacks on errors")


def _add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="M", type=Path, help="model.yml to use (default: the packaged one)")


def _add_input_dir(p: argparse.ArgumentParser, required: bool = False) -> None:
    p.add_argument(
        "--input-dir", metavar="D", type=Path, required=required,
        help="folder with sshb-symbol.json and sshb-0000.params",
    )  # fmt: skip


def _print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, sort_keys=False, default=str))


def _load_spec(args):
    from .spec import load_model_spec

    return load_model_spec(args.model)


# --------------------------------------------------------------------------- info


def cmd_info(args) -> int:
    from .info import describe

    report = describe(_load_spec(args), args.input_dir)
    if args.json:
        _print_json(report)
        return 0
    print(f"model.yml: {report['model_yml']}  framework: {report['framework']}")
    for f in report["files"]:
        print(f"file {f['name']}: {f['size']} bytes, sha256 {f['sha256']}")
        for url in f["sources"]:
            print(f"  source: {url}")
    inp = report["input"]
    print(f"input {inp['name']} {inp['shape']}: raw BGR 0..255; mean {inp['mean_values']} (RGB), channels reversed: {inp['reverse_input_channels']}")
    if "params" in report:
        print(f"checkpoint {report['checkpoint']}: {report['params']:,} parameters, {report['gflops']:.4f} GFLOPs")
    for o in report["outputs"]:
        print(f"output {o['name']} {o['shape']}")
    return 0


def _add_info(sub) -> None:
    p = _command(
        sub, "info", "Show what model.yml says and, with a checkpoint, the graph's outputs, parameters and GFLOPs.",
        "sshconv info --input-dir ./ssh --json", cmd_info,
    )  # fmt: skip
    _add_model(p)
    _add_input_dir(p)
    p.add_argument("--json", action="store_true", help="print one JSON object")


# --------------------------------------------------------------------------- synth


def cmd_synth(args) -> int:
    from .synth import synthesize

    res = synthesize(args.output_dir, seed=args.seed)
    summary = {
        "folder": str(res.folder), "seed": res.seed, "symbol": str(res.symbol), "params": str(res.params),
        "archive": str(res.archive), "archive_size": res.archive_size, "archive_sha256": res.archive_sha256,
        "model_yml": str(res.model_yml),
    }  # fmt: skip
    if args.json:
        _print_json(summary)
    else:
        print(f"synthetic checkpoint (seed {res.seed}) in {res.folder}:")
        for key in ("symbol", "params", "archive", "model_yml"):
            print(f"  {summary[key]}")
        print(f"  archive sha256 {res.archive_sha256}, {res.archive_size} bytes")
    return 0


def _add_synth(sub) -> None:
    from .synth import DEFAULT_SEED

    p = _command(
        sub, "synth", "Write a synthetic checkpoint of the exact SSH architecture (seeded, calibrated weights).",
        "sshconv synth --output-dir ./synthetic --seed 7", cmd_synth,
    )  # fmt: skip
    p.add_argument("--output-dir", metavar="D", type=Path, required=True, help="folder to write into")
    p.add_argument("--seed", metavar="N", type=int, default=DEFAULT_SEED, help=f"weight seed (default {DEFAULT_SEED})")
    p.add_argument("--json", action="store_true", help="print what was written as JSON")


# --------------------------------------------------------------------------- registry

#: One function per command adds its sub-parser; the order here is the order in --help.
COMMANDS = [_add_info, _add_synth]


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="sshconv",
        description="Acquire, convert and verify the SSH face detector (ssh-mxnet) as OpenVINO IR.",
        epilog="example:\n  sshconv demo --workdir ./sshconv-demo\n\n" + EPILOG_EXIT_CODES,
        formatter_class=_formatter,
    )
    parser.add_argument("--version", action="version", version=f"sshconv {__version__}")
    _add_common(parser)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    for add in COMMANDS:
        add(sub)
    return parser


class _Terminated(KeyboardInterrupt):
    """SIGTERM, delivered like Ctrl-C so that every cleanup path runs."""


def _on_sigterm(signum, frame):
    raise _Terminated()


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("sshconv")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    verbose = "-v" in argv or "--verbose" in argv
    _setup_logging(verbose)
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if _is_main_thread() else None
    try:
        args = build_parser().parse_args(argv)
        if not hasattr(args, "func"):
            build_parser().print_help(sys.stderr)
            return EXIT_USAGE
        return int(args.func(args) or 0)
    except SshconvError as exc:
        if verbose:
            log.exception("error")
        print(f"sshconv: error: {_one_line(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except _Terminated:
        print("sshconv: terminated (SIGTERM); nothing half-written was left, run the command again to finish", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("sshconv: interrupted; nothing half-written was left, run the command again to finish", file=sys.stderr)
        return 128 + signal.SIGINT
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug in sshconv, not a user error
        if verbose:
            raise
        print(f"sshconv: internal error: {_one_line(f'{exc.__class__.__name__}: {exc}')} (run with -v for the traceback and report it)", file=sys.stderr)
        return 70
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _is_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
