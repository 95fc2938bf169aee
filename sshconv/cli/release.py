"""``sshconv bundle``: flags to the library's builder, the bundle in a few lines."""

from __future__ import annotations

from pathlib import Path

from .common import (
    add_artifacts,
    add_input_dir,
    add_json,
    add_model,
    add_progress,
    command,
    load_spec,
    print_json,
    run_with_progress,
)


def cmd_bundle(args) -> int:
    from ..release import build_bundle

    res = run_with_progress(
        args, build_bundle, load_spec(args), args.artifacts, args.out, golden=args.golden, input_dir=args.input_dir,
        eval_report=args.eval, bench_report=args.bench, sign_key=args.sign_key, sign_cert=args.sign_cert,
        cert_chain=args.cert_chain, tarball=args.tar,
    )  # fmt: skip
    if args.json:
        print_json(res.to_dict())
        return 0
    print(f"bundle {res.folder}: {res.files} files, {res.bytes / 1e6:.1f} MB; verified: {', '.join(res.verified['checks'])}"
          + (f"; faces: {', '.join(res.verified['faces'])}" if res.verified["faces"] else ""))  # fmt: skip
    print("Model Server repository: " + ", ".join(f"models/{k} ({v})" for k, v in res.served.items()))
    print(f"signed: {'yes (model.sig)' if res.signed else 'no (give --sign-key to sign)'}")
    if res.tarball:
        print(f"tarball: {res.tarball}")
    return 0


def add_bundle(sub) -> None:
    p = command(
        sub, "bundle",
        "Verify a conversion folder and pack it for a deployment team: models, golden file, reports, model card, "
        "Model Server repository, every file's sha256, a signature.",
        "sshconv bundle --artifacts out --golden golden.npz --out release --sign-key key.pem\n"
        "sshconv bundle --artifacts out --golden golden.npz --eval eval.json --bench bench.json --out release --tar\n"
        "sshconv verify --bundle release --public-key key.pub",
        cmd_bundle,
        notes="Every model of --artifacts (raw and faces artifacts) is verified against --golden at every shape it "
        "holds (or against the checkpoint of --input-dir at the sweep's shapes, the golden file then written into the "
        "bundle); a failure refuses the bundle (exit 1). --eval and --bench reports are taken only if they measured "
        "these files. The bundle is written under a temporary name and renamed when complete; the same inputs give "
        "the same bytes (the signature apart).",
    )  # fmt: skip
    add_model(p)
    add_artifacts(p)
    p.add_argument("--out", metavar="B", type=Path, required=True, help="the bundle folder to write (must not exist)")
    p.add_argument("--golden", metavar="F", type=Path, help="verify against a golden file instead of MXNet")
    add_input_dir(p)
    p.add_argument("--eval", metavar="R.json", type=Path, help="an `sshconv eval` JSON report of these models, for the card")
    p.add_argument("--bench", metavar="R.json", type=Path, help="an `sshconv bench` JSON report of these models, for the card")
    p.add_argument(
        "--sign-key", metavar="KEY.pem", type=Path, help="sign the bundle with this elliptic-curve private key (the sign extra)"
    )
    p.add_argument(
        "--sign-cert", metavar="CERT.pem", type=Path, help="sign with the certificate of --sign-key (certificate-based signing)"
    )
    add_cert_chain(p)
    p.add_argument("--tar", action="store_true", help="also pack the bundle as B.tar.gz (fixed owners and times)")
    add_json(p)
    add_progress(p)


def add_cert_chain(p) -> None:
    p.add_argument(
        "--cert-chain", metavar="CERT.pem", type=Path, action="append", default=[],
        help="a certificate of the chain that vouches for the signing certificate; repeatable",
    )  # fmt: skip
