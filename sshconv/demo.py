"""The whole toolkit, offline, in one call: what ``sshconv demo`` runs.

Steps, all inside one work folder ``W`` (elsewhere, only the synthetic checkpoint's training
is kept, in the user cache, so that it is done once per machine):

1. ``synth``: a synthetic checkpoint of the exact SSH architecture that finds drawn faces,
   its upstream-layout archive, and a model.yml that names the archive's size and sha256
   (``W/synthetic``); its training takes a few minutes the first time;
2. ``download``: that archive imported with ``--from-file`` (size and sha256 checked)
   into the content-addressed cache ``W/cache`` and unpacked into ``W/checkpoint``, offline;
3. ``convert``: both routes (Model Optimizer and MXNet -> ONNX), FP32 and FP16 (``W/converted``);
4. ``quantize``: the Model Optimizer FP32 IR to INT8 with NNCF, on generated photos
   (``W/converted/ir/mo/INT8``; skipped, saying so, where the ``int8`` extra is not installed);
5. ``faces``: a faces artifact (frame in, faces out) beside every FP32 model;
6. ``verify``: every artifact against MXNet (the INT8 IR by its faces), with ``W/verify.json``,
   the HTML report ``W/report.html`` and the golden file ``W/golden.npz``;
7. ``bench``: a short benchmark of MXNet and the Model Optimizer IRs, INT8 among them (``W/bench.json``);
8. ``eval``: the card's mAP for MXNet and every artifact side by side on a few generated photos
   (``W/eval-photos``), with face parity against MXNet (``W/eval.json``, ``W/eval.html``; the
   ledger in ``W/eval-work``);
9. ``bundle``: the release ``W/bundle`` (:mod:`sshconv.release`) of the models step 6 has just
   verified, with its report and golden file (they are not run a second and third time on the same
   inputs), signed with a key pair made in ``W/signing`` (where the ``sign`` extra is installed;
   unsigned, saying so, elsewhere); then its files, signature and card checked as its receiver
   checks them first. The receiver's whole check, which also runs every model against the bundle's
   golden file, is the command the demo prints (``verify --bundle``).

Re-running reuses what is already there and still valid: the synthetic files if the
archive matches its model.yml, the download (verified by sha256), the conversion if its
manifest names the current checkpoint and every artifact still has its recorded hash,
the INT8 IR if the manifest records it from the current FP32 IR with the demo's settings,
the verification if a stamp records a pass for exactly these artifacts, the evaluation's
ledger if it holds exactly these models and photos. The benchmark always runs (it is a
measurement of now); the bundle is kept while it holds exactly these models and golden file.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .conversion.options import MXNET_ROUTES, WEIGHTS
from .errors import MissingExtraError, SourceUnreachableError, UsageError, param
from .events import Emitter, EventHandler
from .fsutil import atomic_write_text, ensure_dir, read_json_file, sha256_file

log = logging.getLogger(__name__)

DEFAULT_WORKDIR = Path("sshconv-demo")
#: Seeded random images verified (the three structured patterns always come on top).
DEMO_SAMPLES = 1
#: Timed seconds per engine in the demo's benchmark (0 skips the benchmark).
DEMO_BENCH_SECONDS = 2.0
#: The routes the demo benchmarks (both are verified; their speed is the same graph).
DEMO_BENCH_ROUTES = ("mo",)
#: The route the demo quantizes, and on how many generated photos (as good as 64 or 300 here: scripts/measure_int8.py).
DEMO_QUANTIZE_ROUTE = "mo"
DEMO_CALIBRATION_COUNT = 16
#: Generated photos the demo's evaluation runs on (0 skips it), and their seed: 24 give 20 faces the metric counts
#: (it ignores faces under 64 px), enough for an mAP that means something; 4 gave 3.
DEMO_EVAL_PHOTOS = 24
DEMO_EVAL_SEED = 2024
#: The raw models the demo wraps in faces artifacts. Not FP16: where the synthetic detector's scores saturate at 1.0,
#: FP16's drift reorders NMS among tied boxes, and the faces check's tie rule does not yet follow such a chain. Not
#: INT8: judged by recall on the demo's 8 photos, a fresh quantization of the synthetic detector passes or fails by a face.
DEMO_FACES_WEIGHTS = ("FP32",)
STAMP = "verified.json"
STEPS = ("synth", "download", "convert", "quantize", "faces", "verify", "bench", "eval", "bundle")


@dataclass
class StepResult:
    name: str
    status: str  # "done", "reused" or "skipped"
    seconds: float
    detail: str = ""


@dataclass
class DemoResult:
    workdir: Path
    steps: list[StepResult] = field(default_factory=list)
    checkpoint_dir: Path | None = None
    artifacts_dir: Path | None = None
    artifacts: list[Path] = field(default_factory=list)
    report: Path | None = None
    verify_json: Path | None = None
    bench_json: Path | None = None
    passed: bool = False
    verdict: str = ""
    #: Per quantized IR, its detection parity against MXNet in one line.
    quantized: list[str] = field(default_factory=list)
    bench: Any = None  # sshconv.bench.BenchResult, or None when skipped
    evaluation: Any = None  # sshconv.evaluation.EvalResult, or None when skipped
    eval_json: Path | None = None
    eval_html: Path | None = None
    golden: Path | None = None
    bundle: Any = None  # sshconv.release.BundleResult
    public_key: Path | None = None  # what the bundle's receiver checks its signature with

    def to_dict(self) -> dict[str, Any]:
        return {
            "workdir": str(self.workdir), "passed": self.passed, "verdict": self.verdict,
            "steps": [s.__dict__ for s in self.steps], "checkpoint_dir": str(self.checkpoint_dir),
            "artifacts_dir": str(self.artifacts_dir), "artifacts": [str(p) for p in self.artifacts],
            "report": str(self.report), "verify_json": str(self.verify_json), "quantized": self.quantized,
            "bench_json": str(self.bench_json) if self.bench_json else None,
            "bench": self.bench.to_dict() if self.bench is not None else None,
            "eval_json": str(self.eval_json) if self.eval_json else None,
            "eval": {k: r.to_dict() for k, r in self.evaluation.results.items()} if self.evaluation is not None else None,
            "golden": str(self.golden) if self.golden else None,
            "bundle": self.bundle.to_dict() if self.bundle is not None else None,
            "public_key": str(self.public_key) if self.public_key else None,
        }  # fmt: skip


def _synthetic_is_valid(folder: Path) -> bool:
    """The synthetic folder is complete and its archive matches its model.yml."""
    from .model.parse import load_model_spec
    from .synthetic.synth import ARCHIVE_NAME, MODEL_YML

    archive, yml = folder / ARCHIVE_NAME, folder / MODEL_YML
    if not (archive.is_file() and yml.is_file()):
        return False
    try:
        f = load_model_spec(yml).file(ARCHIVE_NAME)
    except Exception:  # noqa: BLE001 - any problem means "make it again"
        return False
    return archive.stat().st_size == f.size and sha256_file(archive) == f.sha256


def _conversion_is_valid(out: Path, checkpoint: Path) -> bool:
    """``out`` holds a conversion of exactly this checkpoint, both routes and precisions, unchanged."""
    from .conversion.manifest import read_manifest
    from .errors import SshconvError
    from .model.checkpoint import PARAMS_FILE, SYMBOL_FILE

    try:
        manifest = read_manifest(out)
        if set(manifest.routes) != set(MXNET_ROUTES) or set(manifest.weights) - {"INT8"} != set(WEIGHTS):
            return False
        hashes = manifest.source_hashes()
        if any(hashes.get(name) != sha256_file(checkpoint / name) for name in (SYMBOL_FILE, PARAMS_FILE)):
            return False
        manifest.check()
    except (SshconvError, OSError):
        return False
    return True


def _quantized_is_valid(manifest, count: int) -> bool:
    """The manifest lists the demo route's INT8 IR, made from its current FP32 IR on ``count`` of the demo's photos."""
    from .conversion.quantize import DEFAULT_CALIBRATION_SEED

    record = manifest.quantization.get(f"ir/{DEMO_QUANTIZE_ROUTE}/INT8") or {}
    fp32 = [a for a in manifest.irs((DEMO_QUANTIZE_ROUTE,)) if a.weights == "FP32"]
    calib = record.get("calibration") or {}
    return (
        bool(fp32)
        and (record.get("from") or {}).get("sha256") == fp32[0].sha256
        and calib.get("count") == count
        and calib.get("seed") == DEFAULT_CALIBRATION_SEED
    )


def _verification_key(artifacts_dir: Path, samples: int, self_test: bool, photos: int | None) -> dict[str, Any]:
    from .conversion.manifest import MANIFEST_NAME

    key = {"manifest_sha256": sha256_file(artifacts_dir / MANIFEST_NAME), "samples": samples, "self_test": self_test}
    return key if photos is None else {**key, "photos": photos}  # the default's stamps stay valid


def _verified_stamp(workdir: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    try:
        stamp = read_json_file(workdir / STAMP)
    except (OSError, ValueError):
        return None
    if stamp.get("key") != key or not stamp.get("passed"):
        return None
    if not all(Path(stamp.get(k, "")).is_file() for k in ("report", "verify_json", "golden")):
        return None
    return stamp


def run_demo(
    workdir: str | Path = DEFAULT_WORKDIR,
    *,
    samples: int = DEMO_SAMPLES,
    bench_seconds: float = DEMO_BENCH_SECONDS,
    self_test: bool = False,
    eval_photos: int = DEMO_EVAL_PHOTOS,
    fail_fast: bool = False,
    photos: int | None = None,
    calibration_count: int = DEMO_CALIBRATION_COUNT,
    on_event: EventHandler | None = None,
) -> DemoResult:
    """Run synth -> download -> convert -> quantize -> verify (+ HTML report) -> bench in ``workdir``, offline.

    ``samples`` random images are verified besides the three patterns; ``bench_seconds``
    is the timed budget per engine (``0`` skips the benchmark); ``self_test`` adds the
    verifier's negative controls; ``fail_fast`` stops the verification at the first model that
    fails; ``photos`` generated photos with faces are verified on (``None``: verify's default, 8 with an INT8 IR);
    ``calibration_count`` generated photos calibrate the INT8 IR;
    ``eval_photos`` generated photos are evaluated (``0`` skips it). ``on_event``
    receives the demo's own events (stage ``demo``, one ``progress`` per step) and every
    step's events, unchanged.
    A verification mismatch is not an exception: ``result.passed`` is False.
    """
    from .conversion.core import convert
    from .conversion.manifest import read_manifest
    from .deploy.bench import run_bench
    from .download.core import download_model
    from .model.parse import load_model_spec
    from .synthetic.synth import ARCHIVE_NAME, MODEL_YML, synthesize
    from .verification.core import VerifyOptions, verify
    from .verification.report import verdict_text, write_report

    numbers = {"samples": samples, "eval_photos": eval_photos, "bench_seconds": bench_seconds, "photos": photos}
    for name, value, least in [*((k, v, 0) for k, v in numbers.items()), ("calibration_count", calibration_count, 1)]:
        if value is not None and value < least:
            raise UsageError(f"demo: {param(name)} must be >= {least}, got {value}")
    work = ensure_dir(Path(workdir), "demo work folder")
    res = DemoResult(work)
    emit = Emitter("demo", on_event)
    total = len(STEPS)

    def step(i: int, name: str, status: str, t0: float, detail: str) -> None:
        res.steps.append(StepResult(name, status, round(time.perf_counter() - t0, 2), detail))
        log.info("demo %s: %s (%s)", name, status, detail)
        emit.progress(i, total, item=name, status=status, force=True)

    # 1. synthetic checkpoint and archive
    emit.start(total, item=str(work))
    t0 = time.perf_counter()
    synthetic = work / "synthetic"
    if _synthetic_is_valid(synthetic):
        step(1, "synth", "reused", t0, str(synthetic))
    else:
        synthesize(synthetic, on_event=on_event)
        step(1, "synth", "done", t0, str(synthetic))
    spec = load_model_spec(synthetic / MODEL_YML)

    # 2. offline import into the cache, unpacked into the checkpoint folder
    t0 = time.perf_counter()
    checkpoint = work / "checkpoint"
    try:  # already unpacked and verified, or in the cache: no need to import the archive again
        dl = download_model(spec, checkpoint, cache_dir=work / "cache", offline=True, on_event=on_event)
    except SourceUnreachableError:
        dl = download_model(
            spec, checkpoint, cache_dir=work / "cache", from_file=[synthetic / ARCHIVE_NAME], offline=True, on_event=on_event
        )
    f = dl.files[0]
    reused = dl.up_to_date or f.source in ("existing", "cache")
    step(2, "download", "reused" if reused else "done", t0, f"{f.name} sha256 {f.sha256[:12]}… via {f.source}")
    res.checkpoint_dir = checkpoint

    # 3. both routes, both precisions
    t0 = time.perf_counter()
    converted = work / "converted"
    if _conversion_is_valid(converted, checkpoint):
        step(3, "convert", "reused", t0, str(converted))
    else:
        convert(spec, checkpoint, converted, via=MXNET_ROUTES, precisions=WEIGHTS, on_event=on_event)
        step(3, "convert", "done", t0, str(converted))
    res.artifacts_dir = converted
    manifest = read_manifest(converted)

    # 4. the Model Optimizer FP32 IR to INT8
    t0 = time.perf_counter()
    if _quantized_is_valid(manifest, calibration_count):
        step(4, "quantize", "reused", t0, f"ir/{DEMO_QUANTIZE_ROUTE}/INT8")
    else:
        from .conversion.quantize import QuantizeOptions, quantize_artifacts

        try:
            options = QuantizeOptions(count=calibration_count)
            manifest = quantize_artifacts(spec, converted, options, via=DEMO_QUANTIZE_ROUTE, on_event=on_event)
            step(4, "quantize", "done", t0, f"ir/{DEMO_QUANTIZE_ROUTE}/INT8, {calibration_count} calibration photos")
        except MissingExtraError as exc:
            step(4, "quantize", "skipped", t0, str(exc).split("; ")[-1])

    # 5. a faces artifact beside every model
    t0 = time.perf_counter()
    if manifest.faces_models() and _faces_cover(manifest):
        step(5, "faces", "reused", t0, f"{len(manifest.faces_models())} faces artifacts")
    else:
        from .conversion.faces import add_faces
        from .conversion.faces_graph import FacesOptions
        from .detection.decode import DecodeConfig

        manifest = add_faces(spec, converted, FacesOptions(config=DecodeConfig.for_spec(spec)), weights=DEMO_FACES_WEIGHTS)
        step(5, "faces", "done", t0, ", ".join(a.label for a in manifest.faces_models()))
    res.artifacts = [manifest.file(a) for a in manifest.artifacts]

    # 6. verify every artifact, with the HTML report and the golden file
    t0 = time.perf_counter()
    res.report, res.verify_json, res.golden = work / "report.html", work / "verify.json", work / "golden.npz"
    key = _verification_key(converted, samples, self_test, photos)
    stamp = _verified_stamp(work, key)
    verified = None  # this run's verification, when it made one
    if stamp is not None:
        res.passed, res.verdict, res.quantized = True, stamp["verdict"], list(stamp.get("quantized", []))
        step(6, "verify", "reused", t0, res.verdict)
    else:
        (work / STAMP).unlink(missing_ok=True)
        options = VerifyOptions(samples=samples, self_test=self_test, fail_fast=fail_fast, photos=photos)
        result = verify(
            spec, input_dir=checkpoint, artifacts=converted, options=options, json_report=res.verify_json,
            save_golden_to=res.golden, on_event=on_event,
        )  # fmt: skip
        write_report(result, res.report)
        verified = result
        res.passed, res.verdict = bool(result.passed), verdict_text(result)
        res.quantized = [_parity_line(c) for c in result.checks if c.detection_thresholds is not None]
        if res.passed:
            stamp = {
                "key": key,
                "passed": True,
                "verdict": res.verdict,
                "report": str(res.report),
                "verify_json": str(res.verify_json),
                "golden": str(res.golden),
                "quantized": res.quantized,
            }
            atomic_write_text(work / STAMP, json.dumps(stamp, indent=2) + "\n")
        step(6, "verify", "done", t0, ("PASS: " if res.passed else "FAIL: ") + res.verdict)

    # 7. a short benchmark
    t0 = time.perf_counter()
    if bench_seconds == 0:
        step(7, "bench", "skipped", t0, "bench seconds = 0")
    else:
        res.bench = run_bench(
            input_dir=checkpoint,
            artifacts=converted,
            seconds=bench_seconds,
            spec=spec,
            routes=DEMO_BENCH_ROUTES,
            on_event=on_event,
        )
        res.bench_json = atomic_write_text(work / "bench.json", json.dumps(res.bench.to_dict(), indent=2) + "\n")
        fastest = min(res.bench.cases, key=lambda c: c.median_s)
        step(7, "bench", "done", t0, f"fastest {fastest.name}: {fastest.median_s:.2f} s/frame")

    # 8. the card's metric, every engine side by side, on a few generated photos
    t0 = time.perf_counter()
    if eval_photos == 0:
        step(8, "eval", "skipped", t0, "eval photos = 0")
    else:
        res.evaluation, status = _demo_eval(spec, work, checkpoint, converted, eval_photos, on_event)
        res.eval_json, res.eval_html = work / "eval.json", work / "eval.html"
        maps = ", ".join(f"{label} {r.ap.map_percent:.1f}" for label, r in res.evaluation.results.items())
        counted = next(iter(res.evaluation.results.values())).ap.faces
        hard = ", ".join(f"{label} {r.wider['hard'].ap:.3f}" for label, r in res.evaluation.results.items()
                         if r.wider and r.wider["hard"].ap is not None)  # fmt: skip
        step(8, "eval", status, t0, f"mAP % on {eval_photos} photos ({counted} faces counted): {maps}; WIDER Hard AP: {hard}")

    # 9. the release, signed, and checked as its receiver would
    t0 = time.perf_counter()
    if not res.passed:
        step(9, "bundle", "skipped", t0, "verification failed: nothing is bundled")
    else:
        res.bundle, res.public_key, status, detail = _demo_bundle(spec, work, converted, res, verified, on_event)
        step(9, "bundle", status, t0, detail)
    return res


def _faces_cover(manifest) -> bool:
    """Every raw model of the demo's weights has its faces artifact (a new INT8 IR has none yet)."""
    wrapped = set((manifest.faces.get("from") or {}).values())
    return all(a.label in wrapped for a in manifest.models() if a.weights in DEMO_FACES_WEIGHTS)


def _demo_bundle(spec, work: Path, converted: Path, res: DemoResult, verified, on_event):
    """The bundle step: a key pair in ``W/signing`` (once); the bundle made again unless the one there is made alike
    (:func:`~sshconv.release.bundle.made_alike`) and intact, from this run's verification ``verified`` when it made
    one; then its files, signature and card checked as its receiver checks them first. Returns ``(bundle, public key,
    status, detail)``."""
    import shutil

    from .conversion.manifest import read_manifest
    from .errors import SshconvError
    from .release import build_bundle, check_bundle_files
    from .release.bundle import built_from, made_alike, report_fits
    from .release.card import check_card
    from .release.layout import BENCH_REPORT, EVAL_REPORT, LISTING, MODELS
    from .release.signing import make_key_pair

    unsigned = ""
    try:
        key, public = make_key_pair(work / "signing")
    except MissingExtraError as exc:
        key = public = None
        unsigned = str(exc).split("; ")[-1]
    manifest = read_manifest(converted)
    # The latest reports in the work folder, if they measured these files (a skipped benchmark keeps its last one).
    reports = {where: path for where, path in ((EVAL_REPORT, work / "eval.json"), (BENCH_REPORT, work / "bench.json"))
               if path.is_file() and report_fits(path, manifest, where)}  # fmt: skip
    out = work / "bundle"
    try:
        listing = read_json_file(out / LISTING)
        same = made_alike(listing.get("built_from"), built_from(manifest, res.golden, reports))
        checked = check_bundle_files(out, public) if same else None
    except (OSError, ValueError, SshconvError):
        checked = None
    if checked is not None:
        from .release.bundle import BundleResult

        served = {d.name: "" for d in sorted((out / MODELS).iterdir()) if d.is_dir()}
        made = BundleResult(out, checked.files + 1 + (checked.signed_by is not None), 0, served, checked.signed_by is not None)
        who = f"signed ({checked.signed_by}: good)" if checked.signed_by else f"unsigned ({unsigned})"
        return made, public, "reused", f"{out}: {made.files} files, {who}, intact"
    if out.exists():
        shutil.rmtree(out)
    made = build_bundle(spec, converted, out, golden=res.golden, eval_report=reports.get(EVAL_REPORT),
                        bench_report=reports.get(BENCH_REPORT), sign_key=key, verified=verified, on_event=on_event)  # fmt: skip
    checked = check_bundle_files(out, public)
    check_card(out)
    who = f"signed ({checked.signed_by}: good)" if checked.signed_by else f"unsigned ({unsigned})"
    return made, public, "done", f"{out}: {made.files} files, {who}, files and card checked on arrival"


def _demo_eval(spec, work: Path, checkpoint: Path, converted: Path, photos: int, on_event):
    """The evaluation step: the same models and photos continue their run's ledger; others get a run of their own."""
    from .dataset.photos import make_photos
    from .evaluation import evaluate
    from .evaluation.report import write_report

    data, ledger = work / "eval-photos", work / "eval-work"
    make_photos(data, count=photos, seed=DEMO_EVAL_SEED)
    # both numbers from the card's protocol (640x640): upstream's own scale would cost ~5 times as long a photo
    result = evaluate(spec, data, input_dir=checkpoint, artifacts=converted, work_dir=ledger, json_report=work / "eval.json",
                      on_event=on_event, metric="both")  # fmt: skip
    write_report(result, work / "eval.html")
    return result, "reused" if result.resumed == result.timing["photos"] else "done"


def _parity_line(check) -> str:
    t = check.detection_thresholds
    faces = sum(d.parity.reference_clear for d in check.detections)
    return (f"{check.label}: {'PASS' if check.passed else 'FAIL'}, recall {check.recall:.2f} (>= {t.recall:g}), "
            f"precision {check.precision:.2f} (>= {t.precision:g}) on {faces} MXNet faces, "
            f"largest score drift {check.max_score_drift:.3f}")  # fmt: skip
