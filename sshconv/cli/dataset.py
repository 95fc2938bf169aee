"""``sshconv photos``: a labelled photo set in the WIDER FACE layout."""

from __future__ import annotations

from pathlib import Path

from .common import add_json, add_progress, command, print_json, run_with_progress


def cmd_photos(args) -> int:
    from ..dataset.photos import make_photos

    res = run_with_progress(args, make_photos, args.output_dir, count=args.count, seed=args.seed, layout=args.layout)
    if args.json:
        print_json(res.to_dict())
        return 0
    summary = res.to_dict()
    print(f"{summary['photos']} photos, {summary['faces']} faces ({summary['face_free']} photos without one) in {res.folder}")
    print(f"ground truth: {res.ground_truth}")
    print(f"official evaluation's ground truth: {res.mats[0].parent} ({', '.join(m.name for m in res.mats)})")
    return 0


def add_photos(sub) -> None:
    from ..dataset.photos import DEFAULT_COUNT, DEFAULT_LAYOUT, DEFAULT_SEED, LAYOUTS

    p = command(
        sub, "photos", "Generate labelled photos with drawn faces, in the WIDER FACE layout (images/, the ground truth "
        "and the official evaluation's Easy/Medium/Hard .mat files).",
        "sshconv photos --output-dir ./photos --count 200 --seed 7\n"
        "sshconv photos --output-dir ./WIDER --layout official", cmd_photos,
    )  # fmt: skip
    p.add_argument("--output-dir", metavar="D", type=Path, required=True,
                   help="folder for images/, wider_face_val_bbx_gt.txt and eval_tools/ground_truth/*.mat")  # fmt: skip
    p.add_argument("--layout", choices=list(LAYOUTS), default=DEFAULT_LAYOUT,
                   help="plain (images/ and the ground truth in D; default) or official (WIDER_val/images/ and "
                   "wider_face_split/, as WIDER FACE ships them)")  # fmt: skip
    p.add_argument("--count", metavar="N", type=int, default=DEFAULT_COUNT, help=f"how many photos (default {DEFAULT_COUNT})")
    p.add_argument(
        "--seed", metavar="S", type=int, default=DEFAULT_SEED, help=f"the same seed gives the same files (default {DEFAULT_SEED})"
    )
    add_progress(p)
    add_json(p)
