"""Does the converted model compute what the MXNet checkpoint computes? ``sshconv verify``.

The reference is MXNet running the checkpoint on what the original code feeds it (RGB
minus the mean, done in NumPy by :class:`~sshconv.runtimes.MXNetRunner`), or a golden file
of its outputs (:mod:`.golden`); the converted model gets the **raw BGR** pixels of the same
image, so its baked-in preprocessing is part of what is checked.

The Polygraphy way: every model is *run* once on every sample (:class:`_Run`: a target, a
tolerance set and an execution precision, or a negative control built from a target by
:mod:`.controls`), its outputs kept per label; then one loop *compares* pairs with one
function (:func:`~.compare.compare_run`): each run against the reference, and same-weights
IRs of the two routes against each other. A failing check gets its first diverging tensor
(:mod:`.divergence`) when the checkpoint is at hand. Results are data (:mod:`.results`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..detection.decode import DecodeConfig
from ..engines import REFERENCE, Engine, Plan, open_runner, plan_engines
from ..engines.plan import EXECUTION as F32
from ..engines.plan import checkpoint_engine, model_engine, reference_runtime, with_execution
from ..errors import InputError, UsageError, param
from ..events import Emitter, EventHandler
from ..extras import RUNTIMES
from ..fsutil import atomic_write_text, ensure_dir, sha256_file
from ..model.spec import MIN_QUANTIZED_FACES, PRECISIONS, QUANTIZED, ModelSpec
from ..synthetic.synth import is_synthetic
from ..versions import environment
from .compare import compare_run, faces_of, parity_slack
from .controls import control_models
from .divergence import first_divergence
from .faces import check_faces
from .golden import load_golden, save_golden
from .results import CheckResult, ControlResult, Sample, VerifyResult, jsonable
from .samples import DEFAULT_PHOTOS, DEFAULT_SAMPLES, DEFAULT_SEED, QUANTIZED_PHOTOS, make_shape_samples
from .tolerances import resolve_tolerances

log = logging.getLogger(__name__)

#: The execution precision each tolerance set is measured with (INT8: the quantized layers run in INT8, the rest f32).
EXECUTION = {"FP32": F32, "FP16": F32, "BF16": "bf16", "INT8": F32}
#: The tolerances a quantized model's element-wise statistics are shown against (informational: its faces decide).
INFORMATIONAL_TOLERANCES = "BF16"


@dataclass(frozen=True)
class VerifyOptions:
    """How to verify: inputs (``samples`` seeded random images, patterns, ``photos`` generated photos, ``images``),
    tolerances, extras.

    ``photos`` ``None`` means the default: 2, or 8 when a quantized IR is among the models checked.
    ``overrides`` is ``{family or output name: {"atol": v, "rtol": v}}`` on top of model.yml;
    ``bf16`` also runs each FP32 model with bf16 execution and the BF16 tolerance set;
    ``self_test`` runs the negative controls, each of which must fail; ``fail_fast`` stops after the first model
    that fails (the models after it are not run; the result names it in ``stopped_after``).
    """

    samples: int = DEFAULT_SAMPLES
    photos: int | None = None
    seed: int = DEFAULT_SEED
    images: str | Path | None = None
    overrides: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    self_test: bool = False
    fail_fast: bool = False
    bf16: bool = False
    runtime: str = "openvino"  # what runs ONNX files: openvino or onnxruntime (IRs always run on OpenVINO)
    reference: str = "auto"  # what runs the checkpoint: mxnet, numpy (float64, no MXNet) or auto (MXNet where it imports)
    decode_config: DecodeConfig | None = None  # default: DecodeConfig.for_spec(spec)
    #: Input shapes (N, 3, H, W) every model is run and compared at; ``None``: model.yml's. A golden file holds its own.
    shapes: Sequence[Sequence[int]] | None = None


@dataclass
class _Run:
    """One model run on every sample: a target's model at one tolerance set and execution, or a control."""

    label: str
    engine: Engine
    model: Any  # ov.Model (None: the engine's own file)
    description: str
    tolerance_set: str
    execution: str
    runtime: str = "openvino"
    control: tuple[str, str] | None = None  # (name, description) of a negative control
    outputs: list[dict[str, np.ndarray]] = field(default_factory=list)
    execution_used: str | None = None


def verify(
    spec: ModelSpec,
    *,
    input_dir: str | Path | None = None,
    golden: str | Path | None = None,
    against: str | Path | None = None,
    ir: str | Path | None = None,
    onnx: str | Path | None = None,
    artifacts: str | Path | None = None,
    options: VerifyOptions = VerifyOptions(),
    save_golden_to: str | Path | None = None,
    json_report: str | Path | None = None,
    on_event: EventHandler | None = None,
) -> VerifyResult:
    """Check converted model(s) against MXNet (``input_dir``, the checkpoint), a ``golden`` file, or another model.

    ``against`` is an IR or ONNX file taken as the reference (run like the others), for
    checking one artifact against another where MXNet is not installed.

    What to check is one of ``ir``, ``onnx`` or ``artifacts`` (a conversion folder: every
    model in it, after its hashes; none with only ``save_golden_to``). Returns a
    :class:`VerifyResult`; a mismatch is a result with ``passed == False``, not an exception.
    Bad inputs raise :class:`~sshconv.errors.SshconvError` subclasses before anything runs.
    Progress goes to ``on_event`` (stage ``verify``; one ``progress`` per model × sample).
    """
    _check_arguments(input_dir, golden, against, ir, onnx, artifacts, options, save_golden_to, json_report)
    ref_runtime, ref_note = reference_runtime(options.reference) if input_dir is not None else (None, "")
    config = options.decode_config or DecodeConfig.for_spec(spec)
    tolerances = {p: resolve_tolerances(spec, p, options.overrides) for p in PRECISIONS}
    tolerances.update({q: tolerances[INFORMATIONAL_TOLERANCES] for q in QUANTIZED})
    plan = plan_engines(artifacts=artifacts, irs=[ir] if ir is not None else [], onnx=[onnx] if onnx is not None else [],
                        runtime=options.runtime, faces=True)  # fmt: skip
    fit = str(plan.faces_options.get("fit", "none"))
    if plan.faces and fit != "none" and input_dir is None:
        raise UsageError(
            f"verify: the faces artifacts of {artifacts} fit frames ({fit}) before the network; checking them needs the "
            f"checkpoint as {param('input_dir')} (a golden file or another model holds outputs of unfitted frames only)"
        )
    # Read every model first: a broken file is a usage error before minutes of MXNet.
    models = {e.label: read_model(e.path, spec) for e in plan.models}
    runs = _plan_runs(plan.models, models, spec, options)
    quantized = any(e.weights in QUANTIZED for e in plan.models)
    photos = options.photos if options.photos is not None else QUANTIZED_PHOTOS if quantized else DEFAULT_PHOTOS

    # The reference: recorded outputs (a golden file), or an engine run like the others (MXNet, or a model).
    if golden is not None:
        samples, refs, meta = load_golden(golden)
        seed, reference_run = int(meta.get("seed", options.seed)), None
        reference = f"golden:{golden}"
        ref_hashes = {Path(golden).name: sha256_file(golden)}
        ref_hashes.update({f"checkpoint:{k}": v for k, v in meta.get("checkpoint_sha256", {}).items()})
    else:
        shapes = options.shapes if options.shapes is not None else (spec.input.shape,)
        samples = make_shape_samples(shapes, options.samples, options.seed, options.images, photos=photos)
        seed = options.seed
        if input_dir is not None:
            engine = checkpoint_engine(input_dir, ref_runtime)
        else:
            engine = model_engine(against, "reference", options.runtime)
        _check_same_checkpoint(engine, plan, artifacts, input_dir)
        reference = engine.label if engine.is_reference else f"model:{against}"
        prefix = "checkpoint" if engine.is_reference else "reference"
        ref_hashes = {f"{prefix}:{k}": v for k, v in engine.files.items()}
        reference_run = _Run(reference, engine, None, str(engine.path), "FP32", engine.execution, engine.runtime)
    total = (len(runs) + (reference_run is not None)) * len(samples)
    emit = Emitter("verify", on_event)
    emit.start(total, "run")
    done = 0
    if reference_run is not None:
        done = _execute(reference_run, samples, spec, emit, done, total)
        refs = reference_run.outputs
    hashes = {**plan.hashes, **ref_hashes}

    result = VerifyResult([], samples, seed, reference, hashes=hashes, self_test=options.self_test)
    result.reference_note = ref_note if reference_run is not None and reference_run.engine.is_reference else ""
    result.checkpoint = {"synthetic": is_synthetic(spec), "model_yml": str(spec.path)}
    result.raw_outputs["reference"] = list(refs)
    if save_golden_to is not None:
        meta = {"seed": seed, "reference": reference, "checkpoint_sha256": {k.split(":", 1)[1]: v for k, v in hashes.items() if k.startswith("checkpoint:")},
                "environment": environment(), "input": spec.input.__dict__}  # fmt: skip
        result.golden_written = str(save_golden(save_golden_to, samples, refs, meta))
        result.hashes[Path(save_golden_to).name] = sha256_file(save_golden_to)

    made = []
    for run in runs:
        done = _execute(run, samples, spec, emit, done, total)
        made.append(run)
        if options.fail_fast and run.control is None and not _passes(run, result, refs, tolerances, config, spec):
            result.stopped_after = run.label
            break
    _compare_all(result, made, refs, tolerances, config, spec)
    if plan.faces and result.stopped_after is None:
        checkpoint = reference_run.engine if reference_run is not None and reference_run.engine.is_reference else None
        if checkpoint is None and input_dir is not None:  # a golden file's outputs, the checkpoint for fitted frames
            checkpoint = checkpoint_engine(input_dir, ref_runtime)
        result.faces = check_faces(plan, samples, refs, spec, tolerances, config, checkpoint, options.self_test)
        result.hashes.update({f"{e.label}:{name}": digest for e in plan.faces for name, digest in e.files.items()})
    for check in result.checks:
        # where the first layer parts from MXNet's, where MXNet runs the checkpoint (the NumPy reference does not
        # compare layers), also when the outputs came from a golden file
        if not check.passed and ref_runtime == REFERENCE and check.tolerance_set not in ("BF16", *QUANTIZED):
            run = next(r for r in runs if r.label == check.label)
            worst = max(check.outputs, key=lambda o: (not o.passed, o.margin if np.isfinite(o.margin) else 1e300))
            sample = samples[worst.argmax_margin[0]] if worst.argmax_margin else samples[0]
            fresh = read_model(run.engine.path, spec)  # a copy of its own: the checked graph is not touched
            check.divergence = first_divergence(input_dir, fresh, sample, spec, run.tolerance_set, run.execution)

    result.environment = environment()
    if json_report is not None:
        atomic_write_text(json_report, json.dumps(result.to_dict(boxes=True), indent=2, default=jsonable) + "\n")
    emit("done", passed=result.passed)
    return result


def _check_arguments(
    input_dir, golden, against, ir, onnx, artifacts, options: VerifyOptions, save_golden_to, json_report
) -> None:
    targets = [t for t in (ir, onnx, artifacts) if t is not None]
    if len(targets) > 1:
        raise UsageError(f"verify: pass only one of {param('ir')}, {param('onnx')}, {param('artifacts')}")
    if not targets and save_golden_to is None:
        raise UsageError(
            f"verify: pass one of {param('ir')}, {param('onnx')} or {param('artifacts')} (or {param('save_golden_to')})"
        )
    if golden is not None and save_golden_to is not None:
        raise UsageError(
            f"verify: {param('golden')} and {param('save_golden_to')} do not go together; save first, then verify against it"
        )
    if golden is not None and options.shapes is not None:
        raise UsageError(f"verify: {param('shapes')} does not go with {param('golden')}; the golden file holds its own shapes")
    if golden is not None and options.images is not None:
        raise UsageError(f"verify: {param('images')} does not go with {param('golden')}; the golden file holds its own inputs")
    if golden is not None and against is not None:
        raise UsageError(f"verify: {param('golden')} and {param('against')} are two references; pass one")
    if against is not None and save_golden_to is not None:
        raise UsageError(f"verify: {param('save_golden_to')} records MXNet's outputs; it does not go with {param('against')}")
    if golden is None and against is None and input_dir is None:
        raise UsageError(
            f"verify: pass the MXNet checkpoint as {param('input_dir')}, or a golden file as {param('golden')} "
            f"(or a reference model as {param('against')}) to verify without MXNet"
        )
    if options.reference != "auto" and (input_dir is None or golden is not None):
        raise UsageError(f"verify: {param('reference')} picks what runs the checkpoint; pass the checkpoint as "
                         f"{param('input_dir')} (a golden file holds outputs already made)")  # fmt: skip
    if options.runtime not in RUNTIMES:
        raise UsageError(f"{param('runtime')} {options.runtime!r}: expected one of {', '.join(RUNTIMES)}")
    if options.runtime == "onnxruntime" and ir is not None:
        raise UsageError(f"verify: ONNX Runtime runs ONNX files; pass {param('onnx')}, or run the IR with openvino")
    if json_report is not None:  # every folder written to is checked before anything runs
        ensure_dir(Path(json_report).parent, "JSON report folder")
    if save_golden_to is not None:
        ensure_dir(Path(save_golden_to).parent, "golden file folder")


def _plan_runs(engines: Sequence[Engine], models: Mapping[str, Any], spec: ModelSpec, options: VerifyOptions) -> list[_Run]:
    """Every run, in report order: per model its own, its bf16 run, then its negative controls."""
    runs = []
    for e in engines:
        model = models[e.label]
        runs.append(_Run(e.label, e, model, str(e.path), e.weights, EXECUTION[e.weights], e.runtime))
        if options.bf16 and e.weights == "FP32" and e.runtime == "openvino":
            twin = with_execution(e, EXECUTION["BF16"])
            runs.append(_Run(twin.label, twin, model, str(e.path), "BF16", twin.execution))
        if options.self_test:
            for name, desc, control in control_models(model, spec.input, weights=e.weights not in QUANTIZED):
                run = _Run(f"{e.label} control {name}", e, control, f"{e.path} ({desc})", e.weights, EXECUTION[e.weights])
                run.control = (name, desc)
                runs.append(run)
    return runs


def _execute(run: _Run, samples: Sequence[Sample], spec: ModelSpec, emit: Emitter, done: int, total: int) -> int:
    """Run one model on every sample, keeping the outputs; return the progress count."""
    log.info("running %s (%s, %s execution)", run.label, run.runtime, run.execution)
    engine = replace(run.engine, execution=run.execution)
    with open_runner(engine, spec, model=run.model if run.runtime == "openvino" else None) as runner:
        run.execution_used = getattr(runner, "execution_used", None) or run.execution
        for s in samples:
            run.outputs.append(runner.infer(s.tensor))
            done += 1
            emit.progress(done, total, "run", item=f"{run.label} × {s.label}")
    return done


def _compare_all(result: VerifyResult, runs: Sequence[_Run], refs, tolerances, config: DecodeConfig, spec: ModelSpec) -> None:
    """The one loop of comparisons: each run against the reference, then route against route."""
    samples = result.samples

    def faces(outputs, tolerance_set: str) -> list[tuple[np.ndarray, np.ndarray]]:  # as detection parity compares them
        slack = parity_slack(tolerances[tolerance_set], thresholds.get(tolerance_set))
        return [faces_of(o, s, config, slack) for s, o in zip(samples, outputs)]

    thresholds = {q: spec.detection[q] for q in QUANTIZED}
    ref_boxes = {t: faces(refs, t) for t in {r.tolerance_set for r in runs if not r.control or r.tolerance_set in QUANTIZED}}
    for run in runs:
        check = CheckResult(run.label, run.description, result.reference, run.tolerance_set, run.execution,
                            run.execution_used, run.engine.weights, run.runtime)  # fmt: skip
        if run.execution_used and run.execution_used != run.execution:
            check.note = f"asked for {run.execution} execution, this CPU ran {run.execution_used}"
        # Controls are judged on tensors alone (decoding their boxes would only cost time), a quantized model's on faces.
        by_faces = thresholds.get(run.tolerance_set)
        compare_run(check, refs, run.outputs, tolerances[run.tolerance_set], samples, ref_boxes.get(run.tolerance_set),
                    None if run.control and by_faces is None else config, by_faces)  # fmt: skip
        if by_faces is not None and sum(d.parity.reference_clear for d in check.detections) < MIN_QUANTIZED_FACES:
            check.note = (f"only {sum(d.parity.reference_clear for d in check.detections)} reference faces on these inputs: "
                          f"recall and precision say little; check on more photos with faces (without a golden file, "
                          f"{QUANTIZED_PHOTOS} generated ones are the default; or save the golden file with them)")  # fmt: skip
        if run.control:
            name, desc = run.control
            result.controls.append(ControlResult(name, desc, run.engine.label, check))
        else:
            check.model_sha256 = dict(run.engine.files)
            result.checks.append(check)
            result.raw_outputs[run.label] = run.outputs
    own = {r.label: r for r in runs if r.control is None and r.label == r.engine.label}
    for a, b in route_pairs([r.engine for r in own.values()]):
        ref_run, cand_run = own[a.label], own[b.label]
        boxes = faces(ref_run.outputs, a.weights)
        pair = CheckResult(f"{b.label} vs {a.label}", str(b.path), a.label, a.weights, "f32", "f32", b.weights)
        result.pairs.append(compare_run(pair, ref_run.outputs, cand_run.outputs, tolerances[a.weights], samples, boxes, config))


def _passes(run: _Run, result: VerifyResult, refs, tolerances, config: DecodeConfig, spec: ModelSpec) -> bool:
    """``run`` alone, compared as the one loop compares it, passes (what ``fail_fast`` asks after each model)."""
    probe = VerifyResult([], result.samples, result.seed, result.reference)
    _compare_all(probe, [run], refs, tolerances, config, spec)
    return probe.passed


def _check_same_checkpoint(reference: Engine, plan: Plan, artifacts, input_dir) -> None:
    """A conversion folder is verified against the checkpoint it was converted from, not another."""
    if not reference.is_reference:
        return
    differ = [n for n, h in plan.converted_from.items() if n in reference.files and reference.files[n] != h]
    if differ:
        raise InputError(
            f"{artifacts}: was converted from a different checkpoint than {input_dir} ({', '.join(differ)} differ); "
            f"pass the checkpoint the artifacts were converted from as {param('input_dir')}"
        )


def route_pairs(engines: Sequence[Engine]) -> list[tuple[Engine, Engine]]:
    """Same-weights IRs of different routes, as ``(reference, candidate)`` pairs, in a fixed order."""
    by_weights: dict[str, list[Engine]] = {}
    for e in engines:
        if e.route is not None and e.weights not in QUANTIZED:  # two quantizations are each judged against the reference
            by_weights.setdefault(e.weights, []).append(e)
    return [(a, b) for _, group in sorted(by_weights.items()) for a, b in zip(group, group[1:])]


def read_model(path: Path, spec: ModelSpec):
    """The model at ``path`` as an ``ov.Model``, checked against model.yml's contract."""
    import openvino as ov

    from ..runtimes.openvino import check_model_contract, read_openvino_model

    return check_model_contract(read_openvino_model(ov.Core(), path), str(path), spec, spec.input.shape)
