#!/usr/bin/env python
"""Print the measured inference latencies: MXNet, IR FP32, IR BF16 execution, FP16 IR, and the ceiling.

Prepares (or reuses) the demo's work folder offline (synthetic checkpoint, both
conversions, verification), then times every engine with ``sshconv.deploy.bench``:

    python scripts/bench_inference.py [--workdir ./sshconv-demo] [--seconds 10] [--routes mo onnx]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sshconv.cli.deploy import format_bench_table
from sshconv.demo import DEFAULT_WORKDIR, run_demo
from sshconv.deploy.bench import run_bench


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    ap.add_argument("--seconds", type=float, default=10.0, help="timed seconds per engine")
    ap.add_argument("--routes", nargs="+", default=["mo"], help="conversion routes to time (mo, onnx)")
    ap.add_argument("--json", type=Path, help="also write the result here")
    args = ap.parse_args()

    prepared = run_demo(args.workdir, bench_seconds=0)
    if not prepared.passed:
        print(f"verification failed: {prepared.verdict}", file=sys.stderr)
        return 1
    res = run_bench(
        input_dir=prepared.checkpoint_dir, artifacts=prepared.artifacts_dir, seconds=args.seconds, routes=args.routes,
        on_event=lambda e: print(f"[{e.get('done')}/{e.get('total')}] {e.get('item', e['event'])}", file=sys.stderr, flush=True),
    )  # fmt: skip
    print(format_bench_table(res))
    print()
    for c in res.cases:
        print(f"{c.name}: {c.median_s:.3f} s/frame (± {c.spread_s:.3f}, {len(c.times_s)} runs, ran {c.effective_execution})")
    print(f"FP32 matmul peak: {res.matmul_peak.gflops_per_s:.1f} GFLOP/s on {res.matmul_peak.cores} cores")
    if args.json:
        args.json.write_text(json.dumps(res.to_dict(), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
