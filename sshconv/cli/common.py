"""What every command shares: the parser, option groups that mean the same everywhere, output helpers."""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path
from typing import Any

from ..errors import EXIT_CODES, UsageError
from .progress import MODES

EPILOG_EXIT_CODES = "exit codes:\n" + "\n".join(f"  {code:>3}  {text}" for code, text in EXIT_CODES.items())

#: Library parameters whose flag is not simply ``--`` + the parameter name with dashes.
PARAMETER_FLAGS = {"mirrors": "mirror", "precisions": "precision", "save_golden_to": "save_golden", "json_report": "json",
                   "output": "out", "count": "calibration_count", "seed": "calibration_seed", "ignore_types": "ignore_type",
                   "irs": "ir"}  # fmt: skip


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and raises instead of exiting."""

    def error(self, message: str):  # noqa: D401
        raise UsageError(f"{self.prog}: {message}; see `{self.prog} --help`")


def formatter(prog):
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32, width=100)


def command(sub, name: str, summary: str, example: str, func) -> argparse.ArgumentParser:
    """A sub-command with its summary, an example, the exit codes and ``-v``; ``func(args)`` runs it."""
    p = sub.add_parser(
        name,
        help=summary,
        description=f"{summary}\n\nexample:\n{textwrap.indent(example.strip(), '  ')}",
        epilog=EPILOG_EXIT_CODES,
        formatter_class=formatter,
    )
    p.set_defaults(func=func, parser=p)
    add_verbose(p)
    return p


def flag_names(parser: argparse.ArgumentParser | None) -> dict[str, str]:
    """``{library parameter: flag}`` for one command, so that its errors name its own flags."""
    if parser is None:
        return {}
    by_dest = {a.dest: a.option_strings[-1] for a in parser._actions if a.option_strings}
    names = dict(by_dest)
    for param, dest in PARAMETER_FLAGS.items():
        if dest in by_dest:
            names[param] = by_dest[dest]
    return names


def add_verbose(p: argparse.ArgumentParser) -> None:
    p.add_argument("-v", "--verbose", action="store_true", help="debug logs, and tracebacks on errors")


def add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="M", type=Path, help="model.yml to use (default: the packaged one)")


def add_input_dir(p: argparse.ArgumentParser, help: str = "folder with sshb-symbol.json and sshb-0000.params") -> None:
    p.add_argument("--input-dir", metavar="D", type=Path, help=help)


def add_progress(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--progress",
        choices=MODES,
        help="progress on stderr: a bar, one JSON event per line, or none (default: bar on a terminal)",
    )


def add_runtime(p: argparse.ArgumentParser) -> None:
    from ..extras import RUNTIMES

    p.add_argument(
        "--runtime", choices=RUNTIMES, default=RUNTIMES[0],
        help="what runs ONNX files: openvino (default) or onnxruntime (the onnxruntime extra); IRs always run on OpenVINO",
    )  # fmt: skip


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, sort_keys=False, default=str))


def load_spec(args):
    from ..model.parse import load_model_spec

    return load_model_spec(args.model)


def run_with_progress(args, func, *a, **kw):
    """``func(*a, on_event=renderer, **kw)`` with the renderer ``--progress`` asks for, closed afterwards."""
    from .progress import ProgressRenderer

    renderer = ProgressRenderer(getattr(args, "progress", None))
    try:
        return func(*a, on_event=renderer, **kw)
    finally:
        renderer.close()
