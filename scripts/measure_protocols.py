"""Both numbers users quote, and what each protocol costs: s/photo, OMZ mAP and WIDER Easy/Medium/Hard per engine.

    python scripts/measure_protocols.py --input-dir CKPT --artifacts CONVERTED \
        [--engines mxnet ir/mo/FP32 ir/mo/INT8 onnx] [--photos 24] [--seed 2024] \
        [--protocols omz upstream upstream-pyramid] [--pyramid-photos 6]

Generates the demo's photo set (``sshconv demo``'s eval step: 24 photos, seed 2024; in WIDER's
release layout with the .mat files) and runs ``sshconv eval --metric both`` under each protocol
in one process, every engine at its best configuration (OpenVINO with every core, f32 execution
pinned; MXNet with OMP_NUM_THREADS = cores). The pyramid runs on the first ``--pyramid-photos``
photos only (it costs about 12 times a 640x640 photo). Prints the CPU, then one line per
protocol and engine: seconds per photo (inference and the protocol's decoding), the mAP (OMZ's
accuracy checker) and the three official APs; then what a run on all of WIDER FACE val costs at
that pace: hours on one such machine, and how many such machines (``eval --ray``, one worker each)
bring it under an hour.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Photos in WIDER FACE val (eval_tools' wider_face_val.mat).
WIDER_VAL_PHOTOS = 3226
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--input-dir", type=Path, help="the MXNet checkpoint folder (the conversion stack)")
    ap.add_argument("--artifacts", type=Path, required=True)
    ap.add_argument("--engines", nargs="+", default=["mxnet", "ir/mo/FP32", "ir/mo/INT8", "onnx"])
    ap.add_argument("--photos", type=int, default=24)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--protocols", nargs="+", default=["omz", "upstream", "upstream-pyramid"])
    ap.add_argument("--pyramid-photos", type=int, default=6)
    args = ap.parse_args()

    from sshconv.versions import available_cores, cpu_flags, cpu_name

    os.environ.setdefault("OMP_NUM_THREADS", str(available_cores()))  # MXNet at its best; read when it loads
    from sshconv.dataset.photos import make_photos
    from sshconv.evaluation import evaluate
    from sshconv.model.parse import load_model_spec

    spec = load_model_spec(None)
    print(f"CPU: {cpu_name()} ({available_cores()} cores; {cpu_flags()})")
    print(f"{'protocol':<17} {'engine':<12} {'photos':>6} {'s/photo':>8} {'mAP %':>7} {'Easy':>7} {'Medium':>7} {'Hard':>7} "
          f"{'val h':>6} {'<1 h':>5}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="sshconv-protocols-") as tmp:
        tmp = Path(tmp)
        data = tmp / "photos"
        make_photos(data, count=args.photos, seed=args.seed, layout="official")
        few = tmp / "few"
        _subset(data, few, args.pyramid_photos)
        irs = [args.artifacts / e / "ssh-mxnet.xml" for e in args.engines if e.startswith("ir/")]
        onnx = [args.artifacts / "onnx/ssh-mxnet.onnx"] if "onnx" in args.engines else []
        labels = {str(p): e for p, e in zip(irs, [e for e in args.engines if e.startswith("ir/")])}
        for protocol in args.protocols:
            dataset = few if protocol == "upstream-pyramid" else data
            result = evaluate(spec, dataset, input_dir=args.input_dir if "mxnet" in args.engines else None,
                              irs=[*irs, *onnx], work_dir=tmp / f"w-{protocol}", protocol=protocol, metric="both")  # fmt: skip
            for label, r in result.results.items():
                name = labels.get(label.removeprefix("ir:"), label)
                w, per_photo = r.wider, r.seconds / max(r.photos, 1)
                hours = per_photo * WIDER_VAL_PHOTOS / 3600
                print(f"{protocol:<17} {name:<12} {r.photos:6d} {per_photo:8.2f} {r.ap.map_percent:7.2f} "
                      + " ".join(f"{w[s].ap:7.4f}" for s in ("easy", "medium", "hard"))
                      + f" {hours:6.2f} {math.ceil(hours):5d}")  # fmt: skip


def _subset(data: Path, out: Path, count: int) -> None:
    """The first ``count`` photos of ``data`` as a dataset of their own (the same files, the .mat files made again)."""
    from sshconv.dataset.wider import gt_text, read_gt
    from sshconv.dataset.wider_mat import MAT_FOLDERS, write_mats
    from sshconv.evaluation.core import find_dataset

    ds = find_dataset(data)
    photos = list(read_gt(ds.ground_truth))[:count]
    for p in photos:
        target = out / "WIDER_val/images" / p.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((ds.images / p.path).read_bytes())
    write_mats(out / MAT_FOLDERS[0], photos)
    (out / "wider_face_split").mkdir(parents=True)
    (out / "wider_face_split/wider_face_val_bbx_gt.txt").write_text(gt_text(photos))


if __name__ == "__main__":
    main()
