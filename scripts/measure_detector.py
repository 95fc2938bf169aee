"""How well the synthetic checkpoint finds faces, through a converted IR and sshconv's decoder.

    python scripts/measure_detector.py --ir converted/ir/mo/FP32/ssh-mxnet.xml
    python scripts/measure_detector.py            # synthesize and convert first (conversion stack)

Prints, on labelled photos from a seed used neither in training nor in the tests:
AP at IoU 0.5 on faces at least 24 px tall (smaller ones are "don't care"), recall per
face height at threshold 0.5, and, on pictures without a face (uniform noise, two-colour
gradients, flat colours), the boxes per picture at threshold 0.5. Photos go through what
``sshconv detect`` does: JPEG read, OpenCV-exact resize to 640x640, the IR, the decoder.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

#: Never used for training (that stream is seeded differently) nor by the tests.
EVAL_SEED = 424242
HEIGHT_BANDS = ((16, 24), (24, 48), (48, 96), (96, 192), (192, 10_000))


def _convert(folder: Path) -> Path:
    ckpt, out = folder / "synth", folder / "converted"
    subprocess.run([sys.executable, "-m", "sshconv", "synth", "--output-dir", ckpt], check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "sshconv", "convert", "--input-dir", ckpt, "--output-dir", out, "--via", "mo",
                    "--precision", "FP32"], check=True, capture_output=True)  # fmt: skip
    return out / "ir" / "mo" / "FP32" / "ssh-mxnet.xml"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ir", type=Path, help="FP32 IR of the synthetic checkpoint (default: synthesize and convert)")
    p.add_argument("--photos", type=int, default=200, help="labelled photos (default 200)")
    p.add_argument("--face-free", type=int, default=60, help="pictures without a face, a third of each kind (default 60)")
    p.add_argument("--seed", type=int, default=EVAL_SEED, help=f"photo seed (default {EVAL_SEED})")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args()

    from sshconv.dataset.photos import FACE_FREE_KINDS, face_free_picture, make_photos
    from sshconv.dataset.voc_ap import average_precision, face_boxes
    from sshconv.dataset.wider import IMAGES
    from sshconv.deploy.detect import detect_faces
    from sshconv.detection.images import load_bgr
    from sshconv.runtimes.openvino import OpenVINORunner

    with tempfile.TemporaryDirectory() as tmp:
        ir = args.ir or _convert(Path(tmp))
        photos = make_photos(Path(tmp) / "photos", args.photos, args.seed)
        rng = np.random.default_rng(args.seed)
        plain = [face_free_picture(rng, FACE_FREE_KINDS[i % 3]) for i in range(args.face_free)]
        t0 = time.perf_counter()
        with OpenVINORunner(ir, execution="f32") as runner:
            hw = (int(runner.input_shape[2]), int(runner.input_shape[3]))
            pairs = []
            for photo in photos.photos:
                dets = detect_faces(runner, load_bgr(photos.folder / IMAGES / photo.path), hw, threshold=0.05)
                pairs.append((dets, face_boxes(photo.faces)))
            false_alarms = [len(detect_faces(runner, np.ascontiguousarray(rgb[:, :, ::-1]), hw, 0.5)) for rgb in plain]
        seconds = time.perf_counter() - t0

    ap = average_precision(pairs, iou=0.5, min_height=24)
    bands = {}
    for lo, hi in HEIGHT_BANDS:
        found = total = 0
        for dets, faces in pairs:
            strong = dets[dets[:, 4] >= 0.5]
            for face in faces[(faces[:, 4] >= lo) & (faces[:, 4] < hi)]:
                total += 1
                found += int(len(strong) > 0 and _best_iou(strong, face) >= 0.5)
        bands[f"{lo}-{hi if hi < 10_000 else ''}px"] = {"faces": total, "recall_at_0.5": round(found / max(total, 1), 3)}
    per_kind = {k: float(np.mean(false_alarms[i::3])) for i, k in enumerate(FACE_FREE_KINDS) if false_alarms[i::3]}
    result = {
        "ir": str(ir), "seed": args.seed, "photos": args.photos, "ap_at_0.5_faces_24px_up": round(ap.ap, 4),
        "faces_24px_up": ap.faces, "recall_by_height": bands,
        "face_free_pictures": args.face_free, "boxes_per_face_free_picture_at_0.5": round(float(np.mean(false_alarms)), 3),
        "boxes_per_face_free_picture_by_kind": per_kind, "seconds": round(seconds, 1),
    }  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"AP@0.5 (faces >= 24 px, {ap.faces} faces on {args.photos} photos, seed {args.seed}): {ap.ap:.4f}")
    for band, v in bands.items():
        print(f"  recall at 0.5, faces {band:>10}: {v['recall_at_0.5']:.3f} of {v['faces']}")
    print(f"boxes per face-free picture at 0.5 ({args.face_free} pictures): {np.mean(false_alarms):.3f} "
          + ", ".join(f"{k} {v:.2f}" for k, v in per_kind.items()))  # fmt: skip
    return 0


def _best_iou(dets: np.ndarray, face: np.ndarray) -> float:
    from sshconv.detection.boxes import iou_matrix

    return float(iou_matrix(dets, face[None, :4]).max())


if __name__ == "__main__":
    sys.exit(main())
