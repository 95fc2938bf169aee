"""``sshconv bundle``: the release a deployment team receives, built only from what verification passed.

:func:`build_bundle` verifies every model of a conversion folder (raw and faces artifacts) against
a golden file, or against MXNet at the sweep's shapes (writing the golden file into the bundle);
refuses a failing verification (exit 1), and evaluation or benchmark reports about files that are
not these; then writes, in a temporary folder beside the target, the layout of :mod:`.layout`: the
conversion folder as converted, the golden file, the reports, an OpenVINO Model Server repository
(:mod:`.ovms`), the model card (:mod:`.card`), the listing of every file's sha256, and the signature
when a key is given (:mod:`.signing`); then renames it into place (and packs ``B.tar.gz`` if asked).
A failure leaves nothing. The same inputs give the same bytes on the same machine and stack, the
signature apart (it is dated, and ECDSA signatures are randomised); the tarball is packed with
fixed owners and times so that it, too, is the same.
"""

from __future__ import annotations

import json
import shutil
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, OutputError, UsageError, VerificationMismatch, param
from ..events import Emitter, EventHandler
from ..fsutil import atomic_folder, atomic_path, sha256_file
from ..model.spec import ModelSpec
from .card import card_facts, render_card, report_facts
from .fields import Field
from .layout import (
    ARTIFACTS,
    BENCH_REPORT,
    CARD,
    EVAL_REPORT,
    GOLDEN,
    LISTING,
    MODEL_YML,
    VERIFY_REPORT,
    read_json,
    write_listing,
)  # fmt: skip
from .ovms import write_repository
from .signing import check_signing, sign_folder


@dataclass
class BundleResult:
    folder: Path
    files: int
    bytes: int
    served: dict[str, str]  # Model Server name -> the artifact's label
    signed: bool
    tarball: Path | None = None
    verified: dict[str, Any] = field(default_factory=dict)  # the verification's summary (passed, labels)

    def to_dict(self) -> dict[str, Any]:
        return {"folder": str(self.folder), "files": self.files, "bytes": self.bytes, "served": self.served,
                "signed": self.signed, "tarball": str(self.tarball) if self.tarball else None, "verified": self.verified}  # fmt: skip


def build_bundle(
    spec: ModelSpec, artifacts: str | Path, out: str | Path, *, golden: str | Path | None = None,
    input_dir: str | Path | None = None, eval_report: str | Path | None = None, bench_report: str | Path | None = None,
    sign_key: str | Path | None = None, sign_cert: str | Path | None = None, cert_chain: Sequence[str | Path] = (),
    tarball: bool = False, verified: Any = None, on_event: EventHandler | None = None,
) -> BundleResult:  # fmt: skip
    """Verify ``artifacts`` against ``golden`` (or MXNet on ``input_dir``) and write the bundle ``out``; see the module.

    ``verified``: a passing :class:`~sshconv.verification.VerifyResult` of exactly these artifacts that wrote ``golden``
    (MXNet's outputs on its inputs), as ``demo`` has just made: the models are not run again on the same inputs to
    compare with the same numbers; its report goes into the bundle.
    """
    from ..conversion.manifest import read_manifest
    from ..model.shapes import parse_shapes
    from ..verification import VerifyOptions, verify
    from ..verification.golden import load_golden
    from ..verification.results import jsonable

    emit = Emitter("bundle", on_event)
    out, artifacts = Path(out), Path(artifacts).resolve()
    if (golden is None) == (input_dir is None):
        raise UsageError(f"bundle: give the reference, one of {param('golden')} (a golden file) or {param('input_dir')} "
                         "(the checkpoint)")  # fmt: skip
    for target in (out, *([tarball_path(out)] if tarball else [])):
        if target.exists() or target.is_symlink():
            raise OutputError(f"bundle {target}: already exists; remove it or choose another {param('out')}")
    if sign_cert is not None and sign_key is None:
        raise UsageError(f"bundle: {param('sign_cert')} needs the private key that goes with it, {param('sign_key')}")
    if sign_key is not None:
        check_signing(Path(sign_key), Path(sign_cert) if sign_cert else None, [Path(c) for c in cert_chain])
    manifest = read_manifest(artifacts)
    manifest.check()
    if verified is not None:
        _check_verified(verified, manifest, golden)
    reports = {EVAL_REPORT: eval_report, BENCH_REPORT: bench_report}
    for where, path in reports.items():
        if path is not None:
            _check_report(Path(path), read_json_input(Path(path)), manifest, where)
    if golden is not None and verified is None:  # missing, foreign or damaged: one line, before anything is written
        load_golden(golden)
    emit.start(total=4, unit="step", item="verify")
    with atomic_folder(out, "bundle") as tmp:
        (tmp / GOLDEN).mkdir()
        golden_in = tmp / GOLDEN / (Path(golden).name if golden is not None else "golden.npz")
        if golden is not None:
            shutil.copyfile(golden, golden_in)
        if verified is not None:
            result = verified
        else:
            # A failure refuses the bundle whatever follows it: the first model that fails ends the verification.
            options = VerifyOptions(shapes=None if golden is not None else parse_shapes("sweep"), fail_fast=True)
            result = verify(spec, input_dir=input_dir, golden=golden_in if golden is not None else None, artifacts=artifacts,
                            options=options, save_golden_to=golden_in if golden is None else None, on_event=on_event)  # fmt: skip
        if not result.passed:
            failed = [c.label for c in result.checks + result.pairs if not c.passed]
            failed += [f.label for f in result.faces if not f.control and not f.passed]
            raise VerificationMismatch(f"bundle: refused, verification failed for {', '.join(failed) or 'a model'} "
                                       f"of {artifacts}; run `sshconv verify` on it to see why")  # fmt: skip
        emit.progress(1, 4, item="copy")
        shutil.copyfile(spec.path, tmp / MODEL_YML)
        _copy_conversion(manifest, tmp / ARTIFACTS)
        read_manifest(tmp / ARTIFACTS).check()  # the bytes copied are the bytes verified (a file changed meanwhile: exit 4)
        (tmp / "reports").mkdir()
        text = json.dumps(result.to_dict(), indent=2, default=jsonable) + "\n"
        text = text.replace(json.dumps(str(artifacts))[1:-1], ARTIFACTS)
        for where in {golden_in, *([Path(golden)] if golden is not None else [])}:
            text = text.replace(json.dumps(str(where))[1:-1], f"{GOLDEN}/{golden_in.name}")
        (tmp / VERIFY_REPORT).write_text(text, encoding="utf-8")
        for where, path in reports.items():
            if path is not None:
                shutil.copyfile(path, tmp / where)
        emit.progress(2, 4, item="model server repository")
        served = write_repository(tmp, read_manifest(tmp / ARTIFACTS))
        emit.progress(3, 4, item="model card")
        (tmp / CARD).write_text(render_card(card_facts(tmp)), encoding="utf-8")
        listing = write_listing(tmp, built_from(manifest, golden_in, reports))
        if sign_key is not None:
            sign_folder(tmp, Path(sign_key), Path(sign_cert) if sign_cert else None, [Path(c) for c in cert_chain])
    # The tarball only once the folder is in place, and never over one that appeared meanwhile: two runs writing the
    # same bundle at once leave one run's folder and tarball, or an error, never a folder and a tarball that disagree.
    packed = None
    if tarball:
        try:
            packed = _pack(out, out)
        except BaseException:
            shutil.rmtree(out, ignore_errors=True)  # this run's folder, placed a moment ago: not left without its tarball
            raise
    emit.progress(4, 4, item="done")
    emit("done", folder=str(out))
    size = sum(e["size"] for e in listing["files"].values())
    files = len(listing["files"]) + 1 + (sign_key is not None)  # the listed files, the listing, the signature
    return BundleResult(out, files, size, served, sign_key is not None, packed,
                        {"passed": True, "checks": [c.label for c in result.checks], "faces": [f.label for f in result.faces if not f.control]})  # fmt: skip


def _check_verified(verified, manifest, golden: str | Path | None) -> None:
    """``verified`` passed, checked the files of ``manifest`` as they are now, and wrote ``golden`` as it is now."""
    if golden is None or not getattr(verified, "passed", False):
        raise UsageError("bundle: a verification given in place of one of its own must have passed and written the golden file")
    golden = Path(golden)
    if verified.hashes.get(manifest.path.name) != sha256_file(manifest.path):
        raise UsageError(f"bundle: the verification given checked other files than {manifest.path}: verify them again")
    if verified.golden_written is None or Path(verified.golden_written).resolve() != golden.resolve() or \
            verified.hashes.get(golden.name) != sha256_file(golden):  # fmt: skip
        raise UsageError(f"bundle: the verification given did not write {golden} as it is now: verify again")


def built_from(manifest, golden: Path, reports: dict[str, str | Path | None]) -> dict[str, Any]:
    """What a bundle is made of, by sha256 (its listing records it): the same inputs, the same bundle."""
    return {"manifest_sha256": sha256_file(manifest.path), "golden": {"name": golden.name, "sha256": sha256_file(golden)},
            "reports": {where: sha256_file(path) for where, path in sorted(reports.items()) if path is not None}}  # fmt: skip


def made_alike(recorded: Any, now: dict[str, Any]) -> bool:
    """A bundle's recorded :func:`built_from` is ``now``: the same models and golden file, and reports of the same
    kinds (by kind, not by hash: an evaluation resumed from its ledger rewrites its report with the same numbers and
    this run's timings)."""
    if not isinstance(recorded, dict) or not isinstance(recorded.get("reports"), dict):
        return False
    rest = {k: v for k, v in recorded.items() if k != "reports"}
    return rest == {k: v for k, v in now.items() if k != "reports"} and sorted(recorded["reports"]) == sorted(now["reports"])


def report_fits(path: Path, manifest, where: str) -> bool:
    """The report at ``path`` (``EVAL_REPORT`` or ``BENCH_REPORT``) measured this conversion's files."""
    try:
        _check_report(path, read_json_input(path), manifest, where)
    except InputError:
        return False
    return True


def read_json_input(path: Path) -> dict[str, Any]:
    """A report given to the bundle: one of ours, as JSON (a missing or broken one is bad input, exit 2)."""
    if not path.is_file():
        raise InputError(f"{path}: no such report; give the JSON report that `sshconv eval` or `sshconv bench` wrote")
    return read_json(path, InputError, "give the JSON report that `sshconv eval` or `sshconv bench` wrote")


def _check_report(path: Path, doc: dict[str, Any], manifest, where: str) -> None:
    """A report is bundled only if every model it measured is one of the conversion's (by sha256), or the checkpoint,
    and every field the card shows from it is there and of its kind (one line naming the field, exit 2)."""
    known = {a.sha256.lower() for a in manifest.artifacts} | {s.lower() for s in manifest.source_hashes().values()}
    report = Field(doc, path, InputError, "give the report as sshconv wrote it, or leave it out")
    if where == EVAL_REPORT:
        if not isinstance(doc.get("results"), dict) or not isinstance(doc.get("engines"), dict):
            raise InputError(f"{path}: not an `sshconv eval` JSON report (no results and engines); write it again")
        files = {label: e.get("sha256").raw for label, e in report["engines"].items()}
    else:
        cases = doc.get("cases")
        if not isinstance(cases, list) or not all(isinstance(c, dict) for c in cases):
            raise InputError(f"{path}: not an `sshconv bench` JSON report (no cases); write it again")
        files = {c["name"].text(): c.get("files").raw for c in report["cases"].each()}
    for label, hashes in files.items():
        if not isinstance(hashes, dict) or not hashes:
            raise InputError(f"{path}: {label} does not record its files' sha256; measure again with this sshconv")
        stray = sorted(n for n, sha in hashes.items() if str(sha).lower() not in known)
        if stray:
            raise InputError(f"{path}: {label} measured {stray[0]}, which is not a file of {manifest.folder} "
                             "(another conversion); measure these files, or leave the report out")  # fmt: skip
    report_facts(report, where)


def _copy_conversion(manifest, target: Path) -> None:
    """The conversion folder as converted: its manifest and every file it lists (nothing else that lies there)."""
    target.mkdir()
    shutil.copyfile(manifest.path, target / manifest.path.name)
    for a in manifest.artifacts:
        dst = target / a.path
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(manifest.file(a), dst)


def tarball_path(out: Path) -> Path:
    return out.parent / f"{out.name}.tar.gz"


def _pack(folder: Path, out: Path) -> Path:
    """``out.tar.gz`` of ``folder`` (as ``out.name/``): sorted entries, owner 0, time 0, gzip without a date."""
    import gzip

    target = tarball_path(out)

    def fixed(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        info.mode = 0o755 if info.isdir() else 0o644
        return info

    with atomic_path(target, replace=False) as tmp, open(tmp, "wb") as raw:
        with (
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6) as gz,
            tarfile.open(fileobj=gz, mode="w") as tar,
        ):
            tar.add(folder, arcname=out.name, recursive=False, filter=fixed)
            for path in sorted(folder.rglob("*")):
                tar.add(path, arcname=f"{out.name}/{path.relative_to(folder).as_posix()}", recursive=False, filter=fixed)
    return target


__all__ = ["BundleResult", "build_bundle", "LISTING"]
