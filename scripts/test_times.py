"""Where the test suite's time goes: seconds per test file and per tier, from a pytest durations report.

    python -m pytest --durations=0 ... | tee run.log          # any run that prints every duration
    python scripts/test_times.py run.log                      # per file, per tier, slowest first
    python scripts/test_times.py run.log --top 10 --json      # the same as one JSON document

A durations report is what ``--durations=0`` prints at the end of a run: one line per phase of a
test (``12.34s call     tests/x/test_y.py::test_z[p]``). Setup and teardown count with the test
that paid them, so a session fixture's cost shows in the file of the first test that asked for it.

The tier of each test is read from the suite itself: the script asks pytest which tests
``-m quick`` selects (``--collect-only``, a few seconds, run with this Python). Give
``--quick-ids FILE`` (one node id a line) to use a list made elsewhere instead.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

LINE = re.compile(r"^\s*(?P<seconds>\d+(?:\.\d+)?)s\s+(?P<phase>setup|call|teardown)\s+(?P<node>\S.*?)\s*$")


def read_durations(text: str) -> dict[str, float]:
    """Seconds per test node id, setup + call + teardown, from a durations report."""
    per_test: dict[str, float] = defaultdict(float)
    for line in text.splitlines():
        m = LINE.match(line)
        if m:
            per_test[m.group("node")] += float(m.group("seconds"))
    return dict(per_test)


def quick_ids(root: Path) -> set[str]:
    """The node ids that ``python -m pytest -m quick`` would run here."""
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "quick", "-p", "no:cacheprovider"],
        cwd=root, capture_output=True, text=True,
    )  # fmt: skip
    ids = {line.strip() for line in run.stdout.splitlines() if "::" in line}
    if not ids:
        raise SystemExit(f"pytest --collect-only -m quick found no tests in {root}: {run.stdout[-500:]}{run.stderr[-500:]}")
    return ids


def summarize(per_test: dict[str, float], quick: set[str]) -> dict:
    files: dict[str, dict[str, float]] = defaultdict(lambda: {"seconds": 0.0, "tests": 0, "quick_seconds": 0.0})
    tiers = {"quick": 0.0, "full only": 0.0}
    for node, seconds in per_test.items():
        f = files[node.split("::")[0]]
        f["seconds"] += seconds
        f["tests"] += 1
        if node in quick:
            f["quick_seconds"] += seconds
            tiers["quick"] += seconds
        else:
            tiers["full only"] += seconds
    ranked = dict(sorted(files.items(), key=lambda kv: -kv[1]["seconds"]))
    slowest = sorted(per_test.items(), key=lambda kv: -kv[1])
    return {"files": ranked, "tiers": tiers, "total": sum(per_test.values()), "slowest": slowest}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("report", type=Path, help="a pytest log with --durations=0 output")
    ap.add_argument("--quick-ids", type=Path, help="node ids of the quick tier, one a line (default: ask pytest)")
    ap.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1], help="the project (default: this one)")
    ap.add_argument("--top", type=int, default=15, help="how many of the slowest tests to name (default 15)")
    ap.add_argument("--files", type=int, default=0, help="how many files to list, slowest first (default: all)")
    ap.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    args = ap.parse_args(argv)

    per_test = read_durations(args.report.read_text(errors="replace"))
    if not per_test:
        print(f"{args.report}: no durations found; run pytest with --durations=0", file=sys.stderr)
        return 2
    quick = set(args.quick_ids.read_text().split()) if args.quick_ids else quick_ids(args.root)
    summary = summarize(per_test, quick)
    if args.json:
        summary["slowest"] = summary["slowest"][: args.top]
        print(json.dumps(summary, indent=1))
        return 0
    print(f"{'seconds':>8} {'quick s':>8} {'tests':>5}  file")
    files = list(summary["files"].items())
    for name, f in files[: args.files or None]:
        print(f"{f['seconds']:8.1f} {f['quick_seconds']:8.1f} {f['tests']:5d}  {name}")
    if args.files and len(files) > args.files:
        rest = files[args.files :]
        print(
            f"{sum(f['seconds'] for _, f in rest):8.1f} {sum(f['quick_seconds'] for _, f in rest):8.1f} "
            f"{sum(f['tests'] for _, f in rest):5d}  ({len(rest)} other files)"
        )
    print()
    for tier, seconds in summary["tiers"].items():
        print(f"{tier:>10}: {seconds:7.1f} s ({seconds / 60:.1f} min)")
    print(f"{'total':>10}: {summary['total']:7.1f} s ({summary['total'] / 60:.1f} min) in {len(per_test)} tests")
    print(f"\nslowest {args.top}:")
    for node, seconds in summary["slowest"][: args.top]:
        print(f"{seconds:8.1f}  {'quick ' if node in quick else ''}{node}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
