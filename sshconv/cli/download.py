"""``sshconv download``."""

from __future__ import annotations

from pathlib import Path

from .common import add_json, add_model, add_progress, command, load_spec, print_json, run_with_progress


def cmd_download(args) -> int:
    from ..download.core import download_model

    res = run_with_progress(
        args, download_model, load_spec(args), args.output_dir, cache_dir=args.cache_dir, mirrors=args.mirror or (),
        from_file=args.from_file or (), retries=args.retries, timeout=args.timeout, offline=args.offline,
        lock_timeout=args.lock_timeout,
    )  # fmt: skip
    if args.json:
        print_json(res.to_dict())
        return 0
    for f in res.files:
        how = {"existing": "already present, verified", "cache": "from the cache"}.get(f.source, f"from {f.source}")
        extra = f", {f.bytes_transferred:,} bytes transferred" if f.bytes_transferred else ""
        print(f"{f.name}: {how}{extra} (sha256 {f.sha256[:12]}…)")
    for p in res.postprocessing:
        print(f"{p.kind} {p.file}: {', '.join(p.outputs) or '-'}")
    print(f"output folder: {res.output_dir}" + (" (up to date)" if res.up_to_date else ""))
    return 0


def add_download(sub) -> None:
    from ..download.settings import DEFAULT_RETRIES, DEFAULT_TIMEOUT, LOCK_TIMEOUT

    p = command(
        sub, "download", "Fetch the files of model.yml by checksum (sources, mirrors, cache, resume), then unpack them.",
        "sshconv download --output-dir ./ssh --mirror https://mirror.example.com/models/ssh\n"
        "sshconv download --output-dir ./ssh --from-file ~/Downloads/ssh-model-final.zip", cmd_download,
    )  # fmt: skip
    add_model(p)
    p.add_argument("--output-dir", metavar="D", type=Path, help="folder for the files (default $SSHCONV_HOME/ssh-mxnet, else ~/.local/share/sshconv/ssh-mxnet)")  # fmt: skip
    p.add_argument("--cache-dir", metavar="C", type=Path, help="content-addressed cache (default $SSHCONV_CACHE_DIR, else ~/.cache/sshconv)")  # fmt: skip
    p.add_argument("--mirror", metavar="URL_PREFIX", action="append", help="try URL_PREFIX/NAME after model.yml's sources (repeatable; a folder works too)")  # fmt: skip
    p.add_argument("--from-file", metavar="PATH", action="append", type=Path, help="import a local copy after checking its size and sha256 (repeatable)")  # fmt: skip
    p.add_argument("--retries", metavar="N", type=int, default=DEFAULT_RETRIES, help=f"extra attempts per source on transient failures (default {DEFAULT_RETRIES})")  # fmt: skip
    p.add_argument("--timeout", metavar="S", type=float, default=DEFAULT_TIMEOUT, help=f"connect and read timeout in seconds (default {DEFAULT_TIMEOUT:g})")  # fmt: skip
    p.add_argument("--offline", action="store_true", help="never touch the network: output folder, cache and --from-file only")
    p.add_argument("--lock-timeout", metavar="S", type=float, default=LOCK_TIMEOUT, help=f"wait this long for another sshconv process using the same folder or cache entry (default {LOCK_TIMEOUT:g})")  # fmt: skip
    add_progress(p)
    add_json(p)
