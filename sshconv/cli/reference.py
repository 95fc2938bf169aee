"""The command reference of the documentation (``docs/reference/cli.md``), written from the real argument parser.

Every command's summary, notes and examples, and a table of its flags (each with its value, its default and its one
help text), so the page says what the parser says. ``scripts/gen_cli_docs.py`` writes it; a test fails when the
committed page differs and names that script.
"""

from __future__ import annotations

import argparse

#: Where the page lives, from the project's root.
REFERENCE_PAGE = "docs/reference/cli.md"
REGENERATE = "python scripts/gen_cli_docs.py"


def _sub_commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _flag(action: argparse.Action) -> str:
    names = ", ".join(action.option_strings)
    if action.nargs == 0:
        return f"`{names}`"
    if action.choices:
        value = "|".join(str(c) for c in action.choices)
    else:
        value = action.metavar or action.dest.upper()
    return f"`{names} [{value}]`" if action.nargs == "?" else f"`{names} {value}`"


def _default(action: argparse.Action) -> str:
    if action.nargs == 0 or action.default in (None, argparse.SUPPRESS, []) or isinstance(action.default, bool):
        return ""
    if isinstance(action.default, (list, tuple)):
        return _cell(", ".join(str(v) for v in action.default))
    return f"`{action.default}`"


def _command(name: str, parser: argparse.ArgumentParser) -> list[str]:
    text = parser.description or ""
    summary, _, example = text.partition("\n\nexample:\n")
    out = [f"## `sshconv {name}`", "", _cell(summary.replace("\n\n", " ")), "", "```bash"]
    out += [line.strip() for line in example.strip().splitlines()]
    out += ["```", "", "| flag | default | meaning |", "|---|---|---|"]
    for action in parser._actions:
        if action.option_strings and action.help != argparse.SUPPRESS:
            out.append(f"| {_flag(action)} | {_default(action)} | {_cell((action.help or '').replace('%%', '%'))} |")
    return out + [""]


def render_reference(parser: argparse.ArgumentParser | None = None) -> str:
    """The whole page, as Markdown."""
    from .common import EPILOG_EXIT_CODES
    from .main import build_parser

    parser = parser or build_parser()
    commands = _sub_commands(parser)
    out = [
        "# Command reference",
        "",
        "<!-- Written by `" + REGENERATE + "` from the argument parser: edit the help texts in sshconv/cli/, not this page. -->",
        "",
        "Every command of `sshconv`, every flag with its default, as `sshconv COMMAND --help` gives them. The pages under "
        "Commands say what each command does and why; this one is what the parser accepts, and cannot drift from it "
        "(a test compares the two).",
        "",
        "Every command exits with one of these codes:",
        "",
        "```text",
        *EPILOG_EXIT_CODES.splitlines(),
        "```",
        "",
        "Commands: " + ", ".join(f"[`{n}`](#sshconv-{n})" for n in commands) + ".",
        "",
    ]
    for name, sub in commands.items():
        out += _command(name, sub)
    return "\n".join(out).rstrip() + "\n"
