"""Measure `sshconv eval`: peak memory against dataset size, overhead over inference, and scaling with workers.

    python scripts/measure_eval.py --ir converted/ir/mo/INT8/ssh-mxnet.xml [--input-dir CKPT] \
        [--sizes 100 1000] [--jobs 1 2] [--ray ADDRESS]

For each size, generates that many photos (seeded) and runs `sshconv eval` in a fresh
process, printing its peak resident memory (ru_maxrss of the child), the ratio to the
smallest size, images per second, and the overhead the run reports (the workers' time over
the engines' own inference). Then, on the smallest size, each `--jobs` value locally (and on
`--ray` if given): images per second in all and per worker.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_eval(dataset: Path, engines: list[str], work: Path, extra: list[str]) -> tuple[dict, float, float]:
    out = work / "r.json"
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sshconv", "eval", "--dataset", str(dataset), *engines, "--work-dir", str(work / "w"),
                    "--json", str(out), "--progress", "none", *extra], check=True, capture_output=True)  # fmt: skip
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return json.loads(out.read_text()), wall, max(peak, before) / 1024.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ir", nargs="+", required=True)
    ap.add_argument("--input-dir")
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 1000])
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--ray")
    args = ap.parse_args()
    from sshconv.dataset.photos import make_photos

    engines = ["--ir", *args.ir] + (["--input-dir", args.input_dir] if args.input_dir else [])
    with tempfile.TemporaryDirectory(prefix="sshconv-measure-eval-") as tmp:
        tmp = Path(tmp)
        first = None
        for n in sorted(args.sizes):
            data = tmp / f"photos{n}"
            make_photos(data, count=n, seed=11)
            # ru_maxrss of children is the largest of all children so far: sizes run smallest first.
            report, wall, peak = run_eval(data, engines, tmp / f"m{n}", [])
            first = first or peak
            t = report["timing"]
            print(f"{n:5d} photos: peak RSS {peak:7.0f} MB ({peak / first:.2f}x the smallest), {n / wall:.2f} photos/s, "
                  f"overhead over inference {t['overhead_percent']:.1f} %")  # fmt: skip
        n = min(args.sizes)
        data = tmp / f"photos{n}"
        runs = [(f"jobs {j}", ["--jobs", str(j)], j) for j in args.jobs]
        if args.ray:
            runs += [(f"ray, {j} worker(s)", ["--ray", args.ray, "--jobs", str(j)], j) for j in args.jobs]
        for name, extra, workers in runs:
            report, wall, _ = run_eval(data, engines, tmp / name.replace(" ", "_").replace(",", ""), extra)
            print(f"{name:<20} {n / wall:6.2f} photos/s in all, {n / wall / workers:6.2f} per worker ({wall:.1f} s for {n})")


if __name__ == "__main__":
    main()
