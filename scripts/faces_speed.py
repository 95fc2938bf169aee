#!/usr/bin/env python
"""Print what the faces artifact's in-graph fitting, decoding and NMS cost over the raw network's inference.

Per raw IR that has a faces twin (``sshconv convert --faces``, ``sshconv quantize --faces``) and per shape,
in one run, interleaved (raw, raw + Python decoder, faces artifact, again and again) so that the machine's
drift falls on all three alike; medians of ``--runs`` frames each:

* network: the raw IR's inference alone on the frame's tensor;
* raw + Python decoder: frame to faces with sshconv's decoder (tensor layout, inference, decode, NMS);
* faces artifact: frame to faces in one call (the same steps inside the graph).

The goal: the faces artifact within 5 % of the network alone at 640x640 and 720x1280.

    python scripts/faces_speed.py --artifacts ./converted [--shapes 1x640x640,1x720x1280] [--runs 9]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from sshconv.conversion.manifest import read_manifest
from sshconv.dataset.photos import photo_bgr
from sshconv.detection.decode import DecodeConfig, decode
from sshconv.detection.images import resize
from sshconv.model import load_model_spec
from sshconv.model.shapes import parse_shapes
from sshconv.runtimes import OpenVINORunner
from sshconv.runtimes.faces import FacesRunner
from sshconv.versions import cpu_name

GOAL = 0.05


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--artifacts", type=Path, required=True, help="a conversion folder with faces artifacts")
    ap.add_argument("--shapes", default="1x640x640,1x720x1280")
    ap.add_argument("--runs", type=int, default=9, help="timed frames per engine and shape")
    args = ap.parse_args()

    spec = load_model_spec(None)
    manifest = read_manifest(args.artifacts)
    floor = float(manifest.faces.get("score_floor", 0.05))
    config = DecodeConfig.for_spec(spec, score_threshold=floor)
    pairs = [(manifest.file(a), manifest.folder / f) for f, a in _twins(manifest)]
    print(f"CPU: {cpu_name()}; faces artifacts: fit {manifest.faces.get('fit')}, floor {floor}; medians of {args.runs} frames")
    worst = 0.0
    for raw_path, faces_path in pairs:
        for n, _, h, w in parse_shapes(args.shapes):
            bgr, _ = photo_bgr(np.random.default_rng(h * w), size=(w, h))
            frame = resize(bgr, h, w) if bgr.shape[:2] != (h, w) else bgr
            frames = np.stack([frame] * n)
            tensor = np.ascontiguousarray(frames.transpose(0, 3, 1, 2).astype(np.float32))
            with OpenVINORunner(raw_path, spec, input_shape=tensor.shape) as raw, FacesRunner(faces_path) as faces:
                times = _time(raw, faces, frames, tensor, config, args.runs)
            med = {k: statistics.median(v) for k, v in times.items()}
            over = med["faces artifact"] / med["network"] - 1
            worst = max(worst, over)
            label = raw_path.relative_to(args.artifacts).parent.as_posix()
            print(f"{label} @ {n}x{h}x{w}: network {med['network'] * 1e3:.0f} ms, raw + Python decoder "
                  f"{med['raw + Python decoder'] * 1e3:.0f} ms ({med['raw + Python decoder'] / med['network'] - 1:+.1%}), "
                  f"faces artifact {med['faces artifact'] * 1e3:.0f} ms ({over:+.1%})")  # fmt: skip
    print(f"worst faces-artifact overhead over the network: {worst:+.1%} (goal <= {GOAL:.0%}): "
          f"{'met' if worst <= GOAL else 'NOT met'}")  # fmt: skip
    return 0 if worst <= GOAL else 1


def _time(raw, faces, frames: np.ndarray, tensor: np.ndarray, config: DecodeConfig, runs: int) -> dict[str, list[float]]:
    """Seconds per frame of each way from frame to faces, interleaved run by run."""
    n, h, w = frames.shape[:3]

    def python_decoder() -> None:
        outs = raw.infer(np.ascontiguousarray(frames.transpose(0, 3, 1, 2).astype(np.float32)))
        for i in range(n):
            decode(outs, (h, w), config, image=i)

    steps = {"network": lambda: raw.infer(tensor), "raw + Python decoder": python_decoder,
             "faces artifact": lambda: faces.infer_frames(frames)}  # fmt: skip
    for step in steps.values():  # warm up: compile and first-run costs out of the figures
        step()
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(runs):
        for name, step in steps.items():
            t0 = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - t0)
    return times


def _twins(manifest):
    """``(faces file, raw artifact)`` of every faces IR whose raw IR is listed."""
    raw = {a.label: a for a in manifest.models()}
    for f in manifest.faces_models():
        source = raw.get(f.label.removeprefix("faces/"))
        if source is not None and f.kind == "faces-ir-xml":
            yield f.path, source


if __name__ == "__main__":
    raise SystemExit(main())
