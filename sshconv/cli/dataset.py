"""``sshconv photos``: a labelled photo set in the WIDER FACE layout."""

from __future__ import annotations

from pathlib import Path

from .common import add_json, add_progress, command, print_json, run_with_progress


def cmd_photos(args) -> int:
    from ..dataset.photos import make_photos

    res = run_with_progress(args, make_photos, args.output_dir, count=args.count, seed=args.seed)
    if args.json:
        print_json(res.to_dict())
        return 0
    summary = res.to_dict()
    print(f"{summary['photos']} photos, {summary['faces']} faces ({summary['face_free']} photos without one) in {res.folder}")
    print(f"ground truth: {res.ground_truth}")
    return 0


def add_photos(sub) -> None:
    from ..dataset.photos import DEFAULT_COUNT, DEFAULT_SEED

    p = command(
        sub, "photos", "Generate labelled photos with drawn faces, in the WIDER FACE layout (images/ and the ground truth).",
        "sshconv photos --output-dir ./photos --count 200 --seed 7", cmd_photos,
    )  # fmt: skip
    p.add_argument("--output-dir", metavar="D", type=Path, required=True, help="folder for images/ and wider_face_val_bbx_gt.txt")
    p.add_argument("--count", metavar="N", type=int, default=DEFAULT_COUNT, help=f"how many photos (default {DEFAULT_COUNT})")
    p.add_argument(
        "--seed", metavar="S", type=int, default=DEFAULT_SEED, help=f"the same seed gives the same files (default {DEFAULT_SEED})"
    )
    add_progress(p)
    add_json(p)
