"""Faces on 1920x1080 frames: how many each ``sshconv detect --fit`` finds, and how long a frame takes.

    python scripts/frames_native_vs_resize.py --ir converted/ir/mo/FP32/ssh-mxnet.xml [--frames 6] [--seed 1]

Generates labelled 1920x1080 frames (``sshconv photos``' drawing, six faces tried per frame, heights
16 to 400 px), runs each through what ``sshconv detect`` does with each fit (resize to 640x640,
upstream's 1200/1600 scale, native), and prints the faces found at IoU >= 0.5 (score >= 0.5), the
faces' heights, and seconds per frame, with the CPU's name.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

FITS = ("resize", "upstream", "native")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ir", type=Path, required=True, help="an IR (or ONNX file) of the synthetic checkpoint")
    p.add_argument("--frames", type=int, default=6)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()

    from sshconv.dataset.photos import photo_bgr
    from sshconv.deploy.detect import detect_faces
    from sshconv.detection.boxes import iou_matrix
    from sshconv.engines import open_runner
    from sshconv.engines.plan import model_engine
    from sshconv.versions import cpu_flags, cpu_name

    rng = np.random.default_rng(args.seed)
    frames = [photo_bgr(rng, (1920, 1080), 6) for _ in range(args.frames)]
    heights = sorted(f.h for _, faces in frames for f in faces)
    print(f"{len(frames)} frames 1920x1080, {len(heights)} faces, heights {heights[0]}..{heights[-1]} px "
          f"(median {heights[len(heights) // 2]}); CPU {cpu_name()} ({cpu_flags()})")  # fmt: skip
    with open_runner(model_engine(args.ir, "ir")) as runner:
        for fit in FITS:
            detect_faces(runner, frames[0][0], (640, 640), 0.5, fit)  # compile at this fit's size first
            found, t0 = 0, time.perf_counter()
            for bgr, faces in frames:
                dets = detect_faces(runner, bgr, (640, 640), 0.5, fit)
                truth = np.array([[f.x, f.y, f.x + f.w - 1, f.y + f.h - 1] for f in faces], float)
                if len(dets) and len(truth):
                    found += int((iou_matrix(truth, dets[:, :4]).max(axis=1) >= 0.5).sum())
            per_frame = (time.perf_counter() - t0) / len(frames)
            print(f"--fit {fit:<9} {found:3d} of {len(heights)} faces found, {per_frame:.2f} s a frame")
    return 0


if __name__ == "__main__":
    sys.exit(main())
