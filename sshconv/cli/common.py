"""What every command shares: the parser, option groups that mean the same everywhere, output helpers."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

from ..errors import EXIT_CODES, UsageError
from .progress import MODES

EPILOG_EXIT_CODES = "exit codes:\n" + "\n".join(f"  {code:>3}  {text}" for code, text in EXIT_CODES.items())

#: Library parameters whose flag is not simply ``--`` + the parameter name with dashes.
PARAMETER_FLAGS = {"mirrors": "mirror", "precisions": "precision", "save_golden_to": "save_golden", "json_report": "json_file",
                   "output": "out", "count": "calibration_count", "seed": "calibration_seed", "ignore_types": "ignore_type",
                   "irs": "ir"}  # fmt: skip


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and raises instead of exiting."""

    def error(self, message: str):  # noqa: D401
        raise UsageError(f"{self.prog}: {message}; see `{self.prog} --help`")


def formatter(prog):
    return argparse.RawDescriptionHelpFormatter(prog, max_help_position=32, width=100)


def command(sub, name: str, summary: str, example: str, func, notes: str = "") -> argparse.ArgumentParser:
    """A sub-command with its summary, notes, an example, the exit codes and ``-v``; ``func(args)`` runs it.

    ``notes`` say what a shared flag means for this command in particular (its default, what it
    runs): the flag's own help is the same in every command.
    """
    notes = f"\n\n{textwrap.fill(notes, 100)}" if notes else ""
    p = sub.add_parser(
        name,
        help=summary,
        description=f"{summary}{notes}\n\nexample:\n{textwrap.indent(example.strip(), '  ')}",
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


# --------------------------------------------------------------------------- shared option groups
# Each flag is defined here once, with one help text, for every command that takes it (as sqlite-utils'
# output_options and Polygraphy's argument groups do). Flag combinations are checked by the library function
# the command calls, never here: the library and the command line refuse the same things in the same words.


def add_model(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="M", type=Path, help="model.yml to use (default: the packaged one)")


def add_input_dir(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input-dir", metavar="D", type=Path, help="the MXNet checkpoint folder (sshb-symbol.json, sshb-0000.params)")


def add_artifacts(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--artifacts", metavar="O", type=Path,
        help="a `sshconv convert` output folder: the models its manifest lists, each checked by sha256",
    )  # fmt: skip


#: One help text per flag, whatever the command: what a command does with it is in its own description.
IR_HELP = "an OpenVINO IR (.xml, its .bin beside it); repeat the flag where a command takes several"
ONNX_HELP = "an ONNX file, run by --runtime; repeat the flag where a command takes several"
JSON_HELP = "print the result as one JSON document on stdout instead of text"
#: What a command whose --json used to name a file says of the old spelling.
JSON_FILE_NOTE = "`--json R.json` (a file) is the old spelling of `--json-file R.json`: it still works, with a note on stderr."


def add_ir(p: argparse.ArgumentParser, several: bool = False) -> None:
    """``--ir X.xml``: one IR each time; where a command takes several, the flag is repeated."""
    if several:
        p.add_argument("--ir", metavar="X.xml", type=Path, action=_Several, default=[], help=IR_HELP)
    else:
        p.add_argument("--ir", metavar="X.xml", type=Path, help=IR_HELP)


def add_onnx(p: argparse.ArgumentParser, several: bool = False) -> None:
    if several:
        p.add_argument("--onnx", metavar="X.onnx", type=Path, action=_Several, default=[], help=ONNX_HELP)
    else:
        p.add_argument("--onnx", metavar="X.onnx", type=Path, help=ONNX_HELP)


def add_images(p: argparse.ArgumentParser) -> None:
    p.add_argument("--images", metavar="DIR", type=Path, help="a folder of your own photos (JPEG, PNG, ...; sub-folders too)")


def add_photos(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument(
        "--photos", metavar="N", type=int,
        help=f"generated photos with faces: the first N of `sshconv photos --seed S` ({default})",
    )  # fmt: skip


def add_calibration_count(p: argparse.ArgumentParser, default: int) -> None:
    p.add_argument("--calibration-count", metavar="N", type=int, default=default, help=f"calibration photos (default {default})")


def add_shapes(p: argparse.ArgumentParser) -> None:
    from ..model.shapes import SWEEP, SWEEP_NAME, shape_text

    p.add_argument(
        "--shapes", "--shape", metavar="NxHxW", action="append",
        help=f"input shape(s) to run at, comma-separated or repeated (1x720x1280, 2x640x640; HxW for batch 1); "
        f"{SWEEP_NAME} = {', '.join(shape_text((n, h, w)) for n, _, h, w in SWEEP)} (default: model.yml's shape)",
    )  # fmt: skip


def add_faces(p: argparse.ArgumentParser, what: str) -> None:
    """``--faces`` and what a faces artifact bakes in (convert and quantize)."""
    from ..conversion.options import FACES_FLOOR as DEFAULT_FLOOR
    from ..detection.fitting import FACES_FITS

    p.add_argument(
        "--faces", action="store_true",
        help=f"also write a faces artifact beside {what}: frame in (uint8 HxWx3 BGR), faces out (decoding and NMS inside)",
    )  # fmt: skip
    p.add_argument(
        "--faces-fit", metavar="FIT", default="none",
        help=f"how the faces artifact fits a frame to the network: {', '.join(FACES_FITS)} or HxW (default none: as it is)",
    )  # fmt: skip
    p.add_argument(
        "--faces-floor", metavar="P", type=float, default=DEFAULT_FLOOR,
        help=f"the faces artifact's score floor: faces under it are dropped inside (default {DEFAULT_FLOOR})",
    )  # fmt: skip


def faces_options(args, spec):
    """The faces options ``--faces-fit`` and ``--faces-floor`` give (checked before anything runs), or ``None``."""
    if not args.faces:
        return None
    from ..conversion.faces import check_faces_options
    from ..conversion.faces_graph import FacesOptions
    from ..detection.decode import DecodeConfig

    return check_faces_options(FacesOptions(args.faces_fit, args.faces_floor, DecodeConfig.for_spec(spec)))


def add_progress(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--progress",
        choices=MODES,
        help="progress on stderr: a bar, plain lines, one JSON event per line, or none "
        "(default: a bar on a terminal, plain lines elsewhere)",
    )


def add_fail_fast(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--fail-fast", action="store_true",
        help="stop verifying after the first model that fails (the models after it are not run; exit 1 all the same)",
    )  # fmt: skip


def add_runtime(p: argparse.ArgumentParser) -> None:
    from ..extras import RUNTIMES

    p.add_argument(
        "--runtime", choices=RUNTIMES, default=RUNTIMES[0],
        help="what runs ONNX files: openvino (default) or onnxruntime (the onnxruntime extra); IRs always run on OpenVINO",
    )  # fmt: skip


def add_json(p: argparse.ArgumentParser, file: bool = False, legacy_path: bool = False) -> None:
    """``--json``: the result as one JSON document on stdout instead of text, in every command.

    ``file`` adds ``--json-file R.json`` (the same document written to a file, the text still
    printed). ``legacy_path``: this command's ``--json`` used to take a file; ``--json R`` still
    writes R, with a one-line deprecation note on stderr.
    """
    if legacy_path:  # the old `--json R.json` is said in the command's notes (JSON_FILE_NOTE), not here: one help text
        p.add_argument("--json", nargs="?", const=True, default=False, metavar="R.json", help=JSON_HELP)
    else:
        p.add_argument("--json", action="store_true", help=JSON_HELP)
    if file:
        p.add_argument("--json-file", metavar="R.json", type=Path, help="also write the result as JSON to R.json")


def add_html(p: argparse.ArgumentParser) -> None:
    p.add_argument("--html", metavar="R.html", type=Path, help="write the result as a self-contained HTML page to R.html")


def json_targets(args) -> tuple[bool, Path | None]:
    """``(print JSON on stdout, file to write JSON to)`` from ``--json`` / ``--json-file``, old spellings included."""
    printed, file = args.json, getattr(args, "json_file", None)
    if isinstance(printed, str):  # the old spelling: --json R.json named a file
        deprecated(f"--json {printed}", f"--json-file {printed}")
        return False, Path(printed)
    return bool(printed), file


def deprecated(old: str, new: str) -> None:
    """One line on stderr: ``old`` still works for now; ``new`` is the spelling to use."""
    print(f"sshconv: note: `{old}` is deprecated and will go; use `{new}` (it does the same)", file=sys.stderr)


class _Several(argparse.Action):
    """A repeatable path flag; the old spelling ``--ir A B`` (several after one flag) still works, with a note."""

    def __init__(self, option_strings, dest, **kw):
        super().__init__(option_strings, dest, nargs="+", **kw)

    def __call__(self, parser, namespace, values, option_string=None):
        if len(values) > 1:
            flag = option_string or self.option_strings[0]
            deprecated(f"{flag} {' '.join(map(str, values))}", " ".join(f"{flag} {v}" for v in values))
        setattr(namespace, self.dest, [*(getattr(namespace, self.dest, None) or []), *values])


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
