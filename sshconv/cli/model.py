"""``sshconv info`` and ``sshconv synth``: what the model is, and a synthetic checkpoint of it."""

from __future__ import annotations

from pathlib import Path

from .common import add_input_dir, add_json, add_model, add_progress, command, load_spec, print_json, run_with_progress


def cmd_info(args) -> int:
    from ..info import describe

    report = describe(load_spec(args), args.input_dir)
    if args.json:
        print_json(report)
        return 0
    print(f"model.yml: {report['model_yml']}  framework: {report['framework']}")
    for f in report["files"]:
        print(f"file {f['name']}: {f['size']} bytes, sha256 {f['sha256']}")
        for url in f["sources"]:
            print(f"  source: {url}")
    inp = report["input"]
    print(
        f"input {inp['name']} {inp['shape']}: raw BGR 0..255; mean {inp['mean_values']} (RGB), channels reversed: {inp['reverse_input_channels']}"
    )
    if "params" in report:
        print(f"checkpoint {report['checkpoint']}: {report['params']:,} parameters, {report['gflops']:.4f} GFLOPs")
    for o in report["outputs"]:
        print(f"output {o['name']} {o['shape']}")
    return 0


def add_info(sub) -> None:
    p = command(
        sub, "info", "Show what model.yml says and, with a checkpoint, the graph's outputs, parameters and GFLOPs.",
        "sshconv info --input-dir ./ssh --json", cmd_info,
    )  # fmt: skip
    add_model(p)
    add_input_dir(p)
    add_json(p)


def cmd_synth(args) -> int:
    from ..synthetic.synth import synthesize

    res = run_with_progress(
        args, synthesize, args.output_dir, seed=args.seed, cache_dir=args.cache_dir, use_cache=not args.no_cache
    )
    summary = {
        "folder": str(res.folder), "seed": res.seed, "symbol": str(res.symbol), "params": str(res.params),
        "archive": str(res.archive), "archive_size": res.archive_size, "archive_sha256": res.archive_sha256,
        "model_yml": str(res.model_yml),
    }  # fmt: skip
    if args.json:
        print_json(summary)
    else:
        print(f"synthetic checkpoint (seed {res.seed}) in {res.folder}:")
        for key in ("symbol", "params", "archive", "model_yml"):
            print(f"  {summary[key]}")
        print(f"  archive sha256 {res.archive_sha256}, {res.archive_size} bytes")
    return 0


def add_synth(sub) -> None:
    from ..synthetic.synth import DEFAULT_SEED

    p = command(
        sub, "synth", "Write a synthetic checkpoint of the exact SSH architecture that finds drawn faces (seeded; trained once, then cached).",
        "sshconv synth --output-dir ./synthetic --seed 7", cmd_synth,
    )  # fmt: skip
    p.add_argument("--output-dir", metavar="D", type=Path, required=True, help="folder to write into")
    p.add_argument("--seed", metavar="N", type=int, default=DEFAULT_SEED, help=f"weight seed (default {DEFAULT_SEED})")
    p.add_argument(
        "--cache-dir",
        metavar="DIR",
        type=Path,
        default=None,
        help="where the trained part is kept (default: $SSHCONV_CACHE_DIR or ~/.cache/sshconv)",
    )
    p.add_argument("--no-cache", action="store_true", help="train even if a cached result exists, and keep nothing")
    add_progress(p)
    add_json(p)
