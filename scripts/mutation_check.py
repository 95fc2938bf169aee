"""Does the quick tier catch real defects? Apply deliberate ones to a copy of sshconv, one at a time, and run it.

    python scripts/mutation_check.py                 # every mutation this stack can show, then a table
    python scripts/mutation_check.py --list          # what each mutation does, and where
    python scripts/mutation_check.py --only nms-threshold --only wider-int32
    python scripts/mutation_check.py --artifacts .test-artifacts   # runtime stack: the conversion stack's artifacts

The project's files (what git tracks, and new files it does not ignore) are copied to a temporary folder;
``python -m pytest -m quick -x`` runs there first unchanged (it must pass: a failure then would prove nothing),
then once per mutation with that one defect written into the copy. A mutation is caught when the run fails; the
table names the first test that failed and how long it took. Exit 0 when every mutation was caught, 1 when one
was not, 2 when the unchanged copy fails or a mutation no longer applies (its code moved: update it here).

The conversion stack converts, so it can show every mutation; the runtime stack converts nothing and skips the
two that break a conversion (it says so). On the conversion stack the copy's tests make their own conversion
and never write into ``SSHCONV_TEST_ARTIFACTS``; the synthetic checkpoint's training comes from the test store
(``~/.cache/sshconv-tests``), so a run without it trains first (minutes).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    name: str
    what: str
    path: str
    before: str
    after: str
    converts: bool = False  # only a conversion shows it: the conversion stack's


MUTATIONS = (
    Mutation("mean-not-subtracted", "the ONNX route leaves out the mean subtraction",
             "sshconv/conversion/mxnet_onnx.py", "    if spec.input.mean_values:\n        mean =",
             "    if False:\n        mean =", converts=True),
    Mutation("channels-not-reversed", "Model Optimizer is not told to reverse the input channels",
             "sshconv/conversion/mo.py", "        kwargs[key] = value if eq else True\n",
             "        if key != 'reverse_input_channels':\n            kwargs[key] = value if eq else True\n", converts=True),
    Mutation("decode-plus-one-dropped", "the box transform forgets upstream's +1 in a box's width",
             "sshconv/detection/boxes.py", "    widths = boxes[:, 2] - boxes[:, 0] + 1.0\n",
             "    widths = boxes[:, 2] - boxes[:, 0]\n"),
    Mutation("nms-threshold", "NMS suppresses at IoU 0.4 instead of upstream's 0.3",
             "sshconv/detection/decode.py", "NMS_THRESHOLD = 0.3\n", "NMS_THRESHOLD = 0.4\n"),
    Mutation("wider-int32-off", "the WIDER overlap is computed in floats, not MATLAB's int32",
             "sshconv/evaluation/wider_ap.py",
             "        return np.clip(np.sign(x) * np.floor(np.abs(x) + 0.5), _INT32.min, _INT32.max)\n",
             "        return np.asarray(x, dtype=np.float64)\n"),
    Mutation("manifest-hash-unchecked", "a manifest's sha256 is never compared with the file's",
             "sshconv/conversion/manifest.py", "            if got != a.sha256.lower():\n",
             "            if False:\n"),
    Mutation("bundle-ignores-added-file", "a bundle's listing check ignores files that were added",
             "sshconv/release/layout.py", "        if rel not in listed:\n            raise IntegrityError(",
             "        if False:\n            raise IntegrityError("),
    Mutation("resume-recounts-photos", "a resumed evaluation runs (and counts) the photos its ledger holds again",
             "sshconv/evaluation/core.py", "run_photos(_tasks(ds, ledger.done(), hashes)", "run_photos(_tasks(ds, {}, hashes)"),
)  # fmt: skip


def conversion_stack() -> bool:
    return importlib.util.find_spec("mxnet") is not None


def copy_project(dst: Path) -> None:
    """The files git tracks and the new ones it does not ignore: what a commit of this work tree would hold."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True)
    for rel in filter(None, listed.stdout.decode().split("\0")):
        src = ROOT / rel
        if src.is_file():
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)


def run_quick(tree: Path, env: dict[str, str], timeout: float) -> tuple[int, str, float]:
    """``python -m pytest -m quick -x`` in ``tree``: exit code, the first failed test (or ""), seconds."""
    t0 = time.monotonic()
    try:
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-m", "quick", "-x", "-q", "-p", "no:cacheprovider", "-o", "addopts=-ra"],
            cwd=tree, env=env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return 124, f"(no result in {timeout:.0f} s)", time.monotonic() - t0
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", run.stdout, re.M)
    first = failed[0] if failed else (run.stdout.strip().splitlines() or [""])[-1]
    return run.returncode, first, time.monotonic() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", action="store_true", help="print the mutations and exit")
    ap.add_argument("--only", action="append", metavar="NAME", help="run this mutation only (repeat for several)")
    ap.add_argument("--artifacts", type=Path, help="SSHCONV_TEST_ARTIFACTS for the runtime stack's run (read only)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds one quick-tier run may take (default 900)")
    args = ap.parse_args(argv)

    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only]
    if args.list or not chosen:
        for m in MUTATIONS:
            print(f"{m.name:28} {m.path}: {m.what}{' (conversion stack)' if m.converts else ''}")
        return 0 if args.list else 2
    converts = conversion_stack()
    env = {k: v for k, v in os.environ.items() if k != "SSHCONV_TEST_ARTIFACTS"}
    if args.artifacts is not None:
        if converts:
            print("--artifacts is for the runtime stack: the conversion stack's tests would write into it", file=sys.stderr)
            return 2
        env["SSHCONV_TEST_ARTIFACTS"] = str(args.artifacts.resolve())
    with tempfile.TemporaryDirectory(prefix="sshconv-mutants-") as tmp:
        tree = Path(tmp) / "sshconv"
        copy_project(tree)
        env["PYTHONPATH"] = str(tree)  # the copy's sshconv, in pytest and in every `python -m sshconv` it starts
        code, first, seconds = run_quick(tree, env, args.timeout)
        print(f"{'unchanged':28} {'passes' if code == 0 else 'FAILS'} in {seconds:.0f} s" + ("" if code == 0 else f": {first}"))
        if code != 0:
            return 2
        missed, broken, elsewhere = [], [], []
        for m in chosen:
            if m.converts and not converts:
                print(f"{m.name:28} not shown here: this stack converts nothing (run the script on the conversion stack)")
                elsewhere.append(m.name)
                continue
            path = tree / m.path
            original = path.read_text()
            if original.count(m.before) != 1:
                print(f"{m.name:28} NO LONGER APPLIES: {m.path} does not hold its code exactly once")
                broken.append(m.name)
                continue
            path.write_text(original.replace(m.before, m.after))
            try:
                code, first, seconds = run_quick(tree, env, args.timeout)
            finally:
                path.write_text(original)
            if code == 0:
                missed.append(m.name)
            print(f"{m.name:28} {'MISSED: the quick tier passes' if code == 0 else f'caught by {first}'} ({seconds:.0f} s)")
    if broken:
        return 2
    shown = len(chosen) - len(elsewhere)
    where = f" ({len(elsewhere)} shown on the conversion stack only)" if elsewhere else ""
    print(f"\n{shown - len(missed)} of {shown} caught{where}" if not missed else f"\nmissed: {', '.join(missed)}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
