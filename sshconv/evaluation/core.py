"""``sshconv eval``: the card's WIDER FACE mAP and the official Easy/Medium/Hard, photo by photo into a ledger.

:func:`evaluate` finds the dataset and the engines, opens the ledger (or continues it),
streams the photos not yet in it to the workers (:mod:`.pool`), writes each result the
moment it arrives, and computes from the ledger per engine: the mAP as the accuracy
checker computes it (``omz-map``) and/or WIDER FACE's official Easy/Medium/Hard APs
(``wider``, :mod:`.wider_ap`), the precision-recall curves, and the photo-by-photo face
parity against MXNet (matched, missed, extra faces; the worst photos). The photos become
detections under a protocol: ``omz`` (640 x 640, the card's) or upstream's (:mod:`.upstream`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..dataset.wider import GT_NAME, IMAGES
from ..dataset.wider_mat import check_same_photos, find_mats
from ..engines import REFERENCE, Engine
from ..engines.plan import EXECUTION
from ..errors import InputError, IntegrityError, UsageError, param
from ..events import Emitter, EventHandler
from ..fsutil import file_kind
from ..synthetic.synth import is_synthetic
from . import DEFAULT_METRIC, DEFAULT_PROTOCOL, DEFAULT_WORK_DIR, METRICS, PROTOCOLS, omz
from .engines import find_engines
from .ledger import LEDGER_NAME, Ledger, run_folder
from .omz_map import APResult
from .wider_ap import WiderAP
from .worker import FACE_THRESHOLD, PARITY_SLACK, Method, PhotoTask

PROTOCOL_TEXT = {
    "omz": "OMZ accuracy checker, ssh-mxnet accuracy-check.yml (640x640)",
    "upstream": "mxnet-SSH test_ssh.py (shorter side 1200, longer at most 1600)",
    "upstream-pyramid": "mxnet-SSH test_ssh.py --pyramid (500/800/1200/1600 of 800, longer at most 1200)",
}

#: How many of the photos where an engine's faces differ most from MXNet's are listed.
WORST_PHOTOS = 8

GT_NAMES = (GT_NAME, f"wider_face_split/{GT_NAME}")
#: The end of every piece of advice about a photo: following it loses none of a long run's results. (Editing the
#: ground truth instead would start a run of its own: the ledger's identity holds the ground truth's sha256.)
GOES_ON = "then run the same command again: the photos done so far are kept"
#: A photo file larger than this is refused before it is read (WIDER's are well under 1 MB).
MAX_PHOTO_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class Dataset:
    folder: Path
    images: Path
    ground_truth: Path
    mats: Path | None = None  # the folder of the official evaluation's four .mat files, where there is one

    def photos(self):
        from ..dataset.wider import read_gt

        return read_gt(self.ground_truth)


def find_dataset(folder: str | Path) -> Dataset:
    """The WIDER FACE layout in ``folder``: ``images/`` (or ``WIDER_val/images/``), a ``*_bbx_gt.txt`` (there or in
    ``wider_face_split/``) and, for the official evaluation, ``eval_tools/ground_truth/*.mat`` (or ``ground_truth/``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(
            f"dataset {folder}: no such folder; pass a folder in the WIDER FACE layout (`sshconv photos` writes one)"
        )
    images = next((p for p in (folder / IMAGES, folder / "WIDER_val" / IMAGES) if p.is_dir()), None)
    gt = next((folder / n for n in GT_NAMES if (folder / n).is_file()), None) or next(
        iter(sorted(folder.glob("*_bbx_gt.txt"))), None
    )
    if images is None or gt is None:
        what = "images/" if images is None else "a wider_face_*_bbx_gt.txt"
        raise InputError(
            f"dataset {folder}: no {what} in it; pass a folder in the WIDER FACE layout (`sshconv photos` writes one)"
        )
    return Dataset(folder, images, gt, find_mats(folder))


@dataclass
class EngineResult:
    label: str
    ap: APResult
    photos: int
    seconds: float  # inference, summed over photos
    parity: dict[str, Any] | None  # against MXNet: matched, missed, extra, photos differing
    wider: dict[str, WiderAP] | None = None  # easy, medium, hard
    with_map: bool = True  # the OMZ mAP was asked for

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"photos": self.photos, "seconds_per_photo": round(self.seconds / max(self.photos, 1), 4)}
        if self.with_map:
            out.update(map=round(self.ap.map_percent, 4), faces=self.ap.faces, detections=self.ap.detections,
                       true_positives=self.ap.true_positives)  # fmt: skip
        if self.wider is not None:
            out["wider"] = {s: w.ap for s, w in self.wider.items()}
            out["wider_faces"] = {s: w.faces for s, w in self.wider.items()}
        if self.parity is not None:
            out["parity"] = self.parity
        return out


@dataclass
class EvalResult:
    dataset: Dataset
    engines: list[Engine]
    results: dict[str, EngineResult]
    worst: list[dict[str, Any]]
    timing: dict[str, Any]
    work_dir: Path
    workers: dict[str, Any]
    resumed: int = 0  # photos the ledger held before this run
    checkpoint: dict[str, Any] = field(default_factory=dict)  # {"synthetic": made by sshconv synth}
    curves: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    method: tuple[str, str] = (DEFAULT_PROTOCOL, DEFAULT_METRIC)  # protocol, metric
    submissions: dict[str, Path] = field(default_factory=dict)  # engine label -> its submission folder

    def to_dict(self) -> dict[str, Any]:
        extra = {"submissions": {k: str(v) for k, v in self.submissions.items()}} if self.submissions else {}
        return {
            "dataset": {"folder": str(self.dataset.folder), "ground_truth": str(self.dataset.ground_truth),
                        "photos": self.timing["photos"], **({"mats": str(self.dataset.mats)} if self.dataset.mats else {})},
            "metric": settings(*self.method),
            **extra,
            "results": {label: r.to_dict() for label, r in self.results.items()},
            "worst_photos": [{k: v for k, v in w.items() if k != "boxes"} for w in self.worst],
            "engines": {e.label: e.to_dict() for e in self.engines},
            "timing": self.timing,
            "workers": self.workers,
            "ledger": str(self.work_dir / LEDGER_NAME),
            "resumed_photos": self.resumed,
            "checkpoint": self.checkpoint,
        }  # fmt: skip


def settings(protocol: str = DEFAULT_PROTOCOL, metric: str = DEFAULT_METRIC) -> dict[str, Any]:
    """What the numbers depend on besides the models and the photos (part of the ledger's identity)."""
    from . import upstream, wider_ap

    out: dict[str, Any] = {"protocol": protocol, "description": PROTOCOL_TEXT[protocol], "metric": metric}
    if protocol == "omz":
        out.update(input_size=omz.INPUT_SIZE, keep_top_k=omz.KEEP_TOP_K, nms_threshold=omz.NMS_THRESHOLD)
    else:
        out.update(upstream.settings(protocol))
    if metric != "wider":  # the accuracy checker's map
        out.update(clip_boxes=omz.CLIP_SIZE, height_range=list(omz.HEIGHT_RANGE),
                   overlap_threshold=omz.OVERLAP_THRESHOLD, integral="voc max")  # fmt: skip
    if metric != "omz-map":
        out["wider"] = {"thresholds": wider_ap.THRESHOLDS, "overlap_threshold": wider_ap.IOU_THRESHOLD,
                        "scores": "normalised over the dataset", "settings": ["easy", "medium", "hard"]}  # fmt: skip
    out.update(execution=EXECUTION, face_threshold=FACE_THRESHOLD, parity_slack=PARITY_SLACK)
    return out


def evaluate(
    spec, dataset: str | Path, input_dir: str | Path | None = None, artifacts: str | Path | None = None,
    irs: Sequence[str | Path] = (), work_dir: str | Path | None = None, resume: bool = False, jobs: int | None = None,
    ray: str | None = None, json_report: str | Path | None = None, on_event: EventHandler | None = None,
    protocol: str = DEFAULT_PROTOCOL, metric: str = DEFAULT_METRIC, submission_dir: str | Path | None = None,
    worker_wait: float | None = None,
) -> EvalResult:  # fmt: skip
    """Evaluate every engine on ``dataset``; see the module's docstring. ``jobs``: worker processes (or Ray actors).

    ``protocol``: one of :data:`~sshconv.evaluation.PROTOCOLS` (:mod:`.upstream`); ``metric``: ``omz-map``, ``wider``
    or ``both``;
    ``submission_dir``: where each engine's WIDER submission files go (``<engine>/<event>/<photo>.txt``);
    ``worker_wait``: on a Ray cluster, the seconds a run may have no worker able to run photos (workers lost, none
    started again) before it ends with exit 5 (:data:`~sshconv.evaluation.WORKER_WAIT` by default).

    Progress events (stage ``eval``, unit ``image``) carry ``per_second`` (this run's photos a second) and
    ``seconds_left`` at that pace, from the second photo on; a worker lost or a node that joined is a ``retry`` event.

    ``work_dir`` holds one folder a run (:func:`~.ledger.run_folder`): the same run continues, another starts its own;
    ``resume`` asks for an earlier run, and a changed model or dataset is refused, naming what changed.
    """
    from ..fsutil import sha256_file

    if jobs is not None and jobs < 1:
        raise UsageError(f"eval: {param('jobs')} {jobs}: expected 1 or more workers")
    if worker_wait is not None and not worker_wait > 0:
        raise UsageError(f"eval: {param('worker_wait')} {worker_wait}: expected a number of seconds > 0")
    if protocol not in PROTOCOLS:
        raise UsageError(f"eval: {param('protocol')} {protocol!r}: expected one of {', '.join(PROTOCOLS)}")
    if metric not in METRICS:
        raise UsageError(f"eval: {param('metric')} {metric!r}: expected one of {', '.join(METRICS)}")
    ds = find_dataset(dataset)
    truth = _wider_truth(ds) if metric != "omz-map" else None  # a missing or damaged .mat stops here, before any photo
    method = Method(protocol, wider=metric != "omz-map" or submission_dir is not None)
    engines = find_engines(input_dir, artifacts, irs)
    if any(e.is_reference for e in engines):
        from ..extras import require

        require("mxnet", "eval of the MXNet checkpoint")  # here, not in a worker, so the advice is one line
    emit = Emitter("eval", on_event)
    identity = {
        "dataset": {"ground_truth": ds.ground_truth.name, "sha256": sha256_file(ds.ground_truth)},
        "engines": {e.label: e.files for e in engines},
        "settings": {**settings(protocol, metric), "submission_lines": method.wider},
    }
    total = _count_photos(ds)  # a ground truth that cannot be used stops here, before the ledger exists
    if truth is not None or submission_dir is not None:
        paths = [photo.path for photo in ds.photos()]
        if truth is not None:  # as do .mat files of other photos
            check_same_photos(truth, paths, ds.ground_truth.name)
        if submission_dir is not None:  # and a submission that would write where it should not
            from .submission import check_submissions

            check_submissions(submission_dir, [e.label for e in engines], paths)
    ledger = Ledger(run_folder(Path(work_dir) if work_dir is not None else Path(DEFAULT_WORK_DIR), identity, resume))
    try:
        held = ledger.open(identity)
        emit.start(total=total, done=held, unit="image", item=str(ds.folder))
        hashes: dict[int, str] = {}
        started, done = time.perf_counter(), held
        from .pool import run_photos

        workers: dict[str, Any] = {}  # filled by the pool: what ran the photos
        results = run_photos(_tasks(ds, ledger.done(), hashes), engines, spec, jobs, ray, workers=workers, method=method,
                             worker_wait=worker_wait, notify=lambda text: emit("retry", item=str(ds.folder), reason=text))  # fmt: skip
        for result in results:
            ledger.add(result, hashes.pop(result["index"]))
            done += 1
            emit.progress(done, total, unit="image", item=str(ds.folder), **_pace(done - held, total - done, started))
        wall = time.perf_counter() - started
        emit("done", item=str(ds.folder), done=done, total=total)
        result = _summarise(ledger, ds, engines, held, wall, workers, truth, metric != "wider")
        result.checkpoint = {"synthetic": is_synthetic(spec)}
        result.method = (protocol, metric)
        if submission_dir is not None:
            from .submission import write_submissions

            result.submissions = write_submissions(
                submission_dir, [e.label for e in engines], _submission_rows(ledger, [e.label for e in engines])
            )
    finally:
        ledger.close()
    if json_report is not None:
        from ..fsutil import atomic_write_text, no_space_left

        with no_space_left(Path(json_report).parent, "report folder"):
            import json

            atomic_write_text(Path(json_report), json.dumps(result.to_dict(), indent=2) + "\n")
    return result


def _pace(finished: int, left: int, started: float) -> dict[str, float]:
    """Photos a second in this run so far, and the seconds the photos left take at that pace (none before two)."""
    if finished < 2:
        return {}
    rate = finished / max(time.perf_counter() - started, 1e-9)
    return {"per_second": round(rate, 4), "seconds_left": round(left / rate, 1)}


def _wider_truth(ds: Dataset):
    """The official evaluation's ground truth of ``ds``; without its .mat files, one line saying where they go."""
    from ..dataset.wider_mat import read_truth

    if ds.mats is None:
        raise InputError(
            f"dataset {ds.folder}: no wider_face_val.mat and wider_{{easy,medium,hard}}_val.mat for the official "
            f"evaluation; put WIDER FACE's eval_tools/ground_truth/ in it (`sshconv photos` writes them), or pass "
            f"{param('metric')} omz-map"
        )
    return read_truth(ds.mats)


def _submission_rows(ledger: Ledger, labels: list[str]) -> Iterator[tuple[str, dict[str, str]]]:
    """``(photo path, {engine: lines})`` for every photo held, from the ledger."""
    readers = [ledger.wider_lines(label) for label in labels]
    for rows in zip(*readers):
        yield rows[0][0], {label: lines for label, (_, lines) in zip(labels, rows)}


def _count_photos(ds: Dataset) -> int:
    """How many photos the ground truth lists; each must name a path inside ``images/`` (the file is read later)."""
    from ..fsutil import resolve_inside

    total = 0
    for photo in ds.photos():
        path = resolve_inside(str(ds.images / photo.path), ds.images)
        if path is None or path == ds.images.resolve():
            raise InputError(f"dataset {ds.folder}: {photo.path!r}, listed in {ds.ground_truth.name}, is not a file inside "
                             f"{ds.images}; fix that line of the ground truth")  # fmt: skip
        total += 1
    return total


def _tasks(ds: Dataset, done: dict[int, str], hashes: dict[int, str]) -> Iterator[PhotoTask]:
    """The photos not in the ledger, read one at a time; a photo the ledger holds must not have changed."""
    import hashlib

    for idx, photo in enumerate(ds.photos()):
        path = ds.images / photo.path  # inside images/: checked by _count_photos
        kind = file_kind(path)
        if kind not in ("file", "missing"):  # a FIFO or a device would be waited on, or read forever
            raise InputError(f"dataset {ds.folder}: {photo.path}, listed in {ds.ground_truth.name}, is a {kind}, not a "
                             f"regular file; put the photo there, {GOES_ON}")  # fmt: skip
        try:
            if path.stat().st_size > MAX_PHOTO_BYTES:
                raise InputError(f"dataset {ds.folder}: {photo.path} is larger than {MAX_PHOTO_BYTES:,} bytes; "
                                 f"put the photo itself there, {GOES_ON}")  # fmt: skip
            data = path.read_bytes()
        except OSError as exc:
            raise InputError(f"dataset {ds.folder}: {photo.path}, listed in {ds.ground_truth.name}, cannot be read ({exc.__class__.__name__}); "
                             f"restore it, {GOES_ON}") from None  # fmt: skip
        digest = hashlib.sha256(data).hexdigest()
        if idx in done:
            if done[idx] != digest:
                raise IntegrityError(f"dataset {ds.folder}: {photo.path} changed since the ledger was started (sha256 {digest}); "
                                     f"results of different inputs are not mixed: restore it, {GOES_ON}; or evaluate "
                                     f"the new photos as a run of their own in a new {param('work_dir')}")  # fmt: skip
            continue
        hashes[idx] = digest
        yield PhotoTask(idx, photo.path, data, tuple((f.x, f.y, f.w, f.h) for f in photo.faces))


def _summarise(ledger: Ledger, ds: Dataset, engines: list[Engine], held: int, wall: float, workers: dict,
               truth=None, with_map: bool = True) -> EvalResult:  # fmt: skip
    results, curves = {}, {}
    for e in engines:
        ap = ledger.average_precision(e.label)
        totals = ledger.totals(e.label)
        parity = None
        if e.label != REFERENCE and any(x.label == REFERENCE for x in engines):
            parity = {"against": REFERENCE, **{k: totals[k] for k in ("matched", "missed", "extra", "differing")}}
        wider = None
        if truth is not None:
            from ..dataset.wider_mat import photo_key
            from .submission import parse_lines
            from .wider_ap import wider_aps

            def rows(label=e.label):  # read from the ledger twice, one photo at a time (never the whole dataset)
                return ((photo_key(path), parse_lines(lines)) for path, lines in ledger.wider_lines(label))

            wider = wider_aps(truth, rows)
        results[e.label] = EngineResult(e.label, ap, totals["photos"], totals["seconds"], parity, wider, with_map)
        curves[e.label] = ap.curve
    timing = ledger.timing()
    inference = timing["inference_seconds"]
    timing.update(
        wall_seconds_this_run=round(wall, 3),
        overhead_percent=round(100.0 * (timing["worker_seconds"] / inference - 1.0), 2) if inference else None,
    )
    workers = workers or {"kind": "none: every photo was in the ledger", "count": 0}
    worst = list(ledger.worst(WORST_PHOTOS))
    for w in worst:
        w["boxes"] = {REFERENCE: ledger.boxes(REFERENCE, w["index"]), w["engine"]: ledger.boxes(w["engine"], w["index"])}
    return EvalResult(ds, engines, results, worst, timing, ledger.folder, workers, held, curves=curves)
