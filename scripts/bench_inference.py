#!/usr/bin/env python
"""Print the measured inference latencies: MXNet, IR FP32, IR BF16 execution, FP16 and INT8 IRs, at each shape,
each engine against the measured ceiling of its own precision (none may pass 100 %).

Prepares (or reuses) the demo's work folder offline (synthetic checkpoint, both
conversions, verification), then times every engine with ``sshconv.deploy.bench``:

    python scripts/bench_inference.py [--workdir ./sshconv-demo] [--seconds 10] [--routes mo onnx]
                                      [--shapes 1x640x640,1x720x1280,2x640x640]
    python scripts/bench_inference.py --artifacts ./converted [--input-dir ./synthetic] [--no-mxnet]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from sshconv.cli.deploy import format_bench_table
from sshconv.demo import DEFAULT_WORKDIR, run_demo
from sshconv.deploy.bench import run_bench
from sshconv.model.shapes import parse_shapes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR)
    ap.add_argument("--seconds", type=float, default=10.0, help="timed seconds per engine")
    ap.add_argument("--routes", nargs="+", default=["mo"], help="conversion routes to time (mo, onnx)")
    ap.add_argument("--artifacts", type=Path, help="time this conversion folder instead of preparing the demo's")
    ap.add_argument("--input-dir", type=Path, help="with --artifacts: the checkpoint, for MXNet (default: the manifest's)")
    ap.add_argument("--no-mxnet", action="store_true", help="time the artifacts only")
    ap.add_argument("--shapes", default="1x640x640", help="input shapes, as sshconv bench --shapes takes them")
    ap.add_argument("--json", type=Path, help="also write the result here")
    args = ap.parse_args()

    if args.artifacts is None:
        prepared = run_demo(args.workdir, bench_seconds=0)
        if not prepared.passed:
            print(f"verification failed: {prepared.verdict}", file=sys.stderr)
            return 1
        checkpoint, artifacts = prepared.checkpoint_dir, prepared.artifacts_dir
    else:
        checkpoint, artifacts = args.input_dir, args.artifacts
    res = run_bench(
        input_dir=checkpoint, artifacts=artifacts, seconds=args.seconds, routes=args.routes, mxnet=not args.no_mxnet,
        shapes=parse_shapes(args.shapes),
        on_event=lambda e: print(f"[{e.get('done')}/{e.get('total')}] {e.get('item', e['event'])}", file=sys.stderr, flush=True),
    )  # fmt: skip
    print(format_bench_table(res))
    print()
    for c in res.cases:
        print(f"{c.name} @ {'x'.join(map(str, c.input_shape))}: {c.median_s:.3f} s/inference (± {c.spread_s:.3f}, "
              f"{len(c.times_s)} runs, ran {c.effective_execution}), {c.of_ceiling:.0%} of the {c.ceiling} ceiling")  # fmt: skip
    over = [c for c in res.cases if c.of_ceiling > 1]
    print("every engine below its own ceiling" if not over else f"ABOVE its ceiling: {', '.join(c.name for c in over)}")
    if args.json:
        args.json.write_text(json.dumps(res.to_dict(), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
