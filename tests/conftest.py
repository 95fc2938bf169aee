"""Shared fixtures. Full-size artifacts are made once per test session and shared.

Tests that need a checkpoint use ``synth_dir``: the synthetic ``sshb`` checkpoint at
full size (made once: its training takes ~3 min, then is cached, see ``_test_cache``). Fixtures that need more (converted IR, golden files)
build on it here so that each expensive step runs once per session.

Two stacks. On the conversion stack (MXNet and Model Optimizer importable) everything is
made here; with ``SSHCONV_TEST_ARTIFACTS=DIR`` the converted folder and the golden file are
also copied to ``DIR``. On the runtime stack (no MXNet: today's OpenVINO, NumPy 2) tests
that need the checkpoint are skipped, and ``converted_dir`` / ``golden_file`` come from
``DIR``: a runtime-stack run with the variable set but nothing there fails, it does not skip.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import functools
import importlib.util
import io
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from sshconv.cli import main

ROOT = Path(__file__).resolve().parents[1]
#: Where the conversion stack leaves its artifacts for the runtime stack's run.
ARTIFACTS_ENV = "SSHCONV_TEST_ARTIFACTS"
NEEDS_CONVERSION_STACK = "needs the conversion stack (pip install 'sshconv[convert]' on Python 3.11)"


def _test_cache() -> Path:
    """The cache every test (and every sshconv it starts) uses: never the user's own.

    With ``SSHCONV_TEST_ARTIFACTS`` it lives there, so that the synthetic checkpoint's
    training (minutes) is done once and reused by later runs and by ``sshconv`` subprocesses.
    """
    if os.environ.get(ARTIFACTS_ENV):
        return Path(os.environ[ARTIFACTS_ENV]) / "cache"
    folder = Path(tempfile.mkdtemp(prefix="sshconv-test-cache-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


os.environ["SSHCONV_CACHE_DIR"] = str(_test_cache())

#: Where the suite keeps the synthetic checkpoint's training between runs and clones (default
#: ``~/.cache/sshconv-tests``; ``none``: nowhere). Each file is named by the hash of the code that
#: produces it (``sshconv.synthetic.synth.training_key``), so an edit of the training trains again.
TRAINING_STORE_ENV = "SSHCONV_TEST_TRAINING_CACHE"
TRAINED = "synthetic/heads-*.npz"
#: The training of the current code, committed (5 MB): a fresh clone on a fresh machine (CI) does not train for 4 to
#: 13 minutes. After an edit of the training, the suite trains once and keeps the result in the store above; copy it
#: here (tests/synthetic/test_synth.py fails until the file of the current key is here, and only it).
COMMITTED_TRAINING = ROOT / "tests" / "data"


def _training_store() -> Path | None:
    value = os.environ.get(TRAINING_STORE_ENV, "")
    if value == "none":
        return None
    return Path(value) if value else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sshconv-tests"


def _copy_trainings(src: Path | None, dst: Path | None) -> None:
    """Copy the kept trainings that ``dst`` lacks or holds otherwise (whole files: temporary name, then rename)."""
    if src is None or dst is None:
        return
    for path in src.glob(TRAINED):
        target = dst / path.relative_to(src)
        if target.is_file() and target.stat().st_size == path.stat().st_size and target.read_bytes() == path.read_bytes():
            continue
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            shutil.copyfile(path, tmp)
            os.replace(tmp, target)
        except OSError:  # a store that cannot be written costs a training next time, not this run
            pass


_copy_trainings(COMMITTED_TRAINING, Path(os.environ["SSHCONV_CACHE_DIR"]))
_copy_trainings(_training_store(), Path(os.environ["SSHCONV_CACHE_DIR"]))


#: The files that take longest (scripts/test_times.py on CI's logs), longest first. With ``-n 2 --dist loadfile`` (the
#: runtime stack's suite in CI) a worker runs a whole file at a time, taking the next when it is done: starting with
#: these, the two workers end close together instead of one waiting at the end for a long file started last. The other
#: files follow in order.
COSTLIEST_FIRST = (
    "tests/test_demo.py",
    "tests/release/test_bundle.py",
    "tests/evaluation/test_eval.py",
    "tests/conversion/test_quantize.py",
    "tests/verification/test_verify.py",
    "tests/evaluation/test_cluster.py",
    "tests/deploy/test_faces.py",
    "tests/test_hostile.py",
    "tests/verification/test_shapes.py",
    "tests/test_readme.py",
    "tests/conversion/test_convert.py",
)


def pytest_configure(config):
    if hasattr(config.option, "loadscopereorder"):  # pytest-xdist: hand files out in the order below, not by test count
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config, items):
    """A test the conversion stack leaves to the runtime stack (``neutral``) must be able to run there. In a worker of
    ``-n 2``, the costliest files first (:data:`COSTLIEST_FIRST`)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        rank = {name: i for i, name in enumerate(COSTLIEST_FIRST)}
        items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))  # stable: in-file order kept
    for item in items:
        if item.get_closest_marker("neutral") and any(
            m.kwargs.get("reason") == NEEDS_CONVERSION_STACK for m in item.iter_markers("skipif")
        ):
            raise pytest.UsageError(f"{item.nodeid} is marked neutral but needs the conversion stack: it would run nowhere")


def pytest_sessionfinish(session, exitstatus):
    """Keep what this run trained for the next run (sshconv validates a kept file before using it)."""
    _copy_trainings(Path(os.environ["SSHCONV_CACHE_DIR"]), _training_store())


@functools.cache
def conversion_stack() -> bool:
    """MXNet and Model Optimizer can be imported here."""
    try:
        return importlib.util.find_spec("mxnet") is not None and importlib.util.find_spec("openvino.tools.mo") is not None
    except ModuleNotFoundError:
        return False


needs_conversion_stack = pytest.mark.skipif(not conversion_stack(), reason=NEEDS_CONVERSION_STACK)


def _shared_dir() -> Path | None:
    return Path(os.environ[ARTIFACTS_ENV]) if os.environ.get(ARTIFACTS_ENV) else None


def _share(path: Path, name: str) -> None:
    """Copy an artifact the conversion stack made to where the runtime stack's run will find it."""
    shared = _shared_dir()
    if shared is None:
        return
    (shared / name).parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir():
        shutil.copytree(path, shared / name, dirs_exist_ok=True)
    else:
        shutil.copyfile(path, shared / name)


def _from_shared(name: str) -> Path:
    """An artifact the conversion stack made, on the runtime stack; skip if none was promised, fail if it is missing."""
    shared = _shared_dir()
    if shared is None:
        pytest.skip(f"{NEEDS_CONVERSION_STACK}, or {ARTIFACTS_ENV}=DIR from a run on it")
    if not (shared / name).exists():
        pytest.fail(f"{ARTIFACTS_ENV}={shared} holds no {name}: run the suite on the conversion stack first")
    return shared / name


def built_once(tmp_path_factory, name: str, build):
    """``build()``, once for the whole run: the first worker of ``pytest -n 2`` to ask builds under a lock, the others wait
    and take its result (paths to read, never to change). Without workers, simply ``build()``. A build that fails is
    tried again by the next worker that asks, which fails the same way with its own message."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return build()
    root = tmp_path_factory.getbasetemp().parent  # this run's folder, shared by its workers
    done = root / f"{name}.pickle"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if done.exists():
            return pickle.loads(done.read_bytes())
        value = build()
        tmp = done.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps(value))
        os.replace(tmp, done)
        return value


@dataclass
class CliResult:
    code: int
    out: str
    err: str


def run_cli(*argv: str) -> CliResult:
    """Run the CLI in-process; return exit code, stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return CliResult(code, out.getvalue(), err.getvalue())


def spawn_sshconv(*argv: str) -> subprocess.Popen:
    """Start ``python -m sshconv`` to be interrupted: SIGINT restored to its default first, as a shell that starts
    commands in the background (``cmd &`` without job control, as some CI runners do) leaves it ignored, and Python
    then never raises KeyboardInterrupt."""
    import signal

    return subprocess.Popen([sys.executable, "-m", "sshconv", *map(str, argv)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip


def run_sshconv(*argv: str, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    """Run ``python -m sshconv`` as a subprocess (what a user's shell does)."""
    env = {**os.environ, **kw.pop("env", {})}
    return subprocess.run(
        [sys.executable, "-m", "sshconv", *map(str, argv)],
        capture_output=True, text=True, timeout=timeout, env=env, **kw,
    )  # fmt: skip


def without_modules(tmp_path, *modules: str) -> dict[str, str]:
    """An environment for :func:`run_sshconv` in which importing any of ``modules`` fails, as where they are not
    installed (the rest of ``PYTHONPATH`` kept)."""
    root = tmp_path / "blocked"
    for module in modules:
        (root / module).mkdir(parents=True, exist_ok=True)
        (root / module / "__init__.py").write_text(f"raise ImportError('{module} is not installed here')\n")
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}


def assert_one_line_error(result, code: int, *fragments: str) -> None:
    """The run failed with ``code`` and said why in one line, without a traceback."""
    err = result.err if isinstance(result, CliResult) else result.stderr
    got = result.code if isinstance(result, CliResult) else result.returncode
    assert got == code, f"exit {got}, expected {code}; stderr: {err}"
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected a one-line error, got: {err}"
    assert "Traceback" not in err
    for frag in fragments:
        assert frag in lines[0], f"{frag!r} not in {lines[0]!r}"


@pytest.fixture(scope="session")
def synth_dir(tmp_path_factory) -> Path:
    """The full-size synthetic checkpoint with the default seed (read-only: copy before changing)."""
    if not conversion_stack():
        pytest.skip(NEEDS_CONVERSION_STACK)
    if _SYNTH_FAILED:  # pytest sets a failed session fixture up again for every test that asks: once is enough
        pytest.fail(f"the synthetic checkpoint could not be made earlier in this session: {_SYNTH_FAILED[0]}")
    from sshconv.synthetic.synth import synthesize

    def build() -> Path:
        folder = tmp_path_factory.mktemp("synth")
        synthesize(folder)  # its training takes minutes, far more on a loaded machine: fixtures have no time limit
        from sshconv.model.checkpoint import PARAMS_FILE, SYMBOL_FILE

        for name in (SYMBOL_FILE, PARAMS_FILE, "model.yml"):  # not the archive: for the runtime stack's NumPy reference
            _share(folder / name, f"checkpoint/{name}")
        return folder

    try:
        return built_once(tmp_path_factory, "synth", build)
    except BaseException as exc:
        _SYNTH_FAILED.append(f"{exc.__class__.__name__}: {exc}")
        raise


_SYNTH_FAILED: list[str] = []


@pytest.fixture(scope="session")
def checkpoint_dir(request) -> Path:
    """The synthetic checkpoint on either stack (read-only): ``synth_dir`` where MXNet is, else the conversion stack's
    copy of it (``checkpoint`` in the shared folder), which the golden files were made from."""
    return request.getfixturevalue("synth_dir") if conversion_stack() else _from_shared("checkpoint")


@pytest.fixture(scope="session")
def converted_dir(request, tmp_path_factory) -> Path:
    """``sshconv convert`` of the synthetic checkpoint, both routes, FP32 and FP16 (read-only).

    Layout: ``ir/{mo,onnx}/{FP32,FP16}/ssh-mxnet.{xml,bin}``, ``onnx/ssh-mxnet.onnx``, ``manifest.json``.
    On the runtime stack: the conversion stack's, from ``SSHCONV_TEST_ARTIFACTS``.
    """
    if not conversion_stack():
        return _from_shared("converted")
    synth_dir = request.getfixturevalue("synth_dir")
    from sshconv import convert
    from sshconv.model import load_model_spec

    def build() -> Path:
        out = tmp_path_factory.mktemp("converted")
        convert(load_model_spec(synth_dir / "model.yml"), synth_dir, out, via=("mo", "onnx"), precisions=("FP32", "FP16"))
        _share(out, "converted")
        return out

    return built_once(tmp_path_factory, "converted", build)


#: Calibration photos of the faces fixture's INT8 IR (as test_quantize's).
FACES_CALIBRATION = 8


@pytest.fixture(scope="session")
def faces_dir(request, tmp_path_factory) -> Path:
    """A copy of ``converted_dir`` with faces artifacts (fit none, floor 0.05) beside its FP32 models, and
    ``ir/mo/INT8`` with its faces twin by ``sshconv quantize --faces`` (read-only; shared as ``faces``)."""
    if not conversion_stack():
        return _from_shared("faces")
    from sshconv.conversion.faces import add_faces
    from sshconv.conversion.faces_graph import FacesOptions
    from sshconv.detection.decode import DecodeConfig
    from sshconv.model import load_model_spec

    synth_dir, converted_dir = request.getfixturevalue("synth_dir"), request.getfixturevalue("converted_dir")

    def build() -> Path:
        out = tmp_path_factory.mktemp("faces") / "converted"
        shutil.copytree(converted_dir, out)
        spec = load_model_spec(synth_dir / "model.yml")
        add_faces(spec, out, FacesOptions(config=DecodeConfig.for_spec(spec)), weights=("FP32",))
        res = run_cli("quantize", "--artifacts", out, "--via", "mo", "--calibration-count", FACES_CALIBRATION, "--faces")
        assert res.code == 0, res.err
        _share(out, "faces")
        return out

    return built_once(tmp_path_factory, "faces", build)


@dataclass
class VerifyRun:
    result: CliResult
    golden: Path
    report: Path


@pytest.fixture(scope="session")
def verify_artifacts(synth_dir, converted_dir, tmp_path_factory) -> VerifyRun:
    """``sshconv verify --artifacts`` of ``converted_dir`` against MXNet, run once per session.

    Also writes a golden file (inputs + MXNet outputs) so that later checks need no MXNet,
    and the JSON report. Read-only.
    """

    def build() -> VerifyRun:
        out = tmp_path_factory.mktemp("verify")
        golden, report = out / "golden.npz", out / "report.json"
        res = run_cli(
            "verify", "--model", synth_dir / "model.yml", "--input-dir", synth_dir, "--artifacts", converted_dir,
            "--save-golden", golden, "--json-file", report,
        )  # fmt: skip
        _share(golden, "golden.npz")
        return VerifyRun(res, golden, report)

    return built_once(tmp_path_factory, "verify-artifacts", build)


#: The shapes the sweep fixture verifies at: a size no multiple of 8, and a batch (the card's shape is everywhere else).
SWEEP_TEST_SHAPES = "1x481x777,2x640x640"


@pytest.fixture(scope="session")
def verify_shapes(synth_dir, converted_dir, tmp_path_factory) -> VerifyRun:
    """``sshconv verify --shapes`` of the ONNX file against MXNet at :data:`SWEEP_TEST_SHAPES`, on one generated photo
    and the patterns; writes a golden file of those shapes (shared). The negative controls at those shapes run from
    the golden file, on the runtime stack (tests/verification/test_shapes.py)."""

    def build() -> VerifyRun:
        out = tmp_path_factory.mktemp("verify-shapes")
        golden, report = out / "golden-shapes.npz", out / "report.json"
        res = run_cli(
            "verify", "--model", synth_dir / "model.yml", "--input-dir", synth_dir, "--onnx", converted_dir / "onnx" / "ssh-mxnet.onnx",
            "--shapes", SWEEP_TEST_SHAPES, "--samples", "0", "--photos", "1", "--save-golden", golden, "--json-file", report,
        )  # fmt: skip
        _share(golden, "golden-shapes.npz")
        return VerifyRun(res, golden, report)

    return built_once(tmp_path_factory, "verify-shapes", build)


@pytest.fixture(scope="session")
def golden_shapes_file(request) -> Path:
    """MXNet's outputs at :data:`SWEEP_TEST_SHAPES`; on the runtime stack, the conversion stack's."""
    if not conversion_stack():
        return _from_shared("golden-shapes.npz")
    return request.getfixturevalue("verify_shapes").golden


@pytest.fixture(scope="session")
def golden_file(request) -> Path:
    """MXNet's outputs on the default inputs (``verify --save-golden``); on the runtime stack, the conversion stack's."""
    if not conversion_stack():
        return _from_shared("golden.npz")
    return request.getfixturevalue("verify_artifacts").golden


def golden_subset(src: Path, dst: Path, kinds=None, first: int | None = None, bbox_scale: float = 1.0) -> Path:
    """A golden file of some of ``src``'s samples (those of ``kinds``, then the ``first`` of them), renumbered, with
    ``bbox_scale`` x their bbox outputs (other than 1: a wrong reference). Its hashes are those of what it holds."""
    from dataclasses import replace

    from sshconv.verification.golden import load_golden, save_golden

    samples, refs, meta = load_golden(src)
    kept = [(s, r) for s, r in zip(samples, refs) if kinds is None or s.kind in kinds][:first]
    samples = [replace(s, index=i) for i, (s, _) in enumerate(kept)]
    refs = [{k: (v * bbox_scale if "bbox" in k else v) for k, v in r.items()} for _, r in kept]
    extra = {k: v for k, v in meta.items() if k not in ("format", "samples", "outputs", "array_sha256")}
    return save_golden(dst, samples, refs, extra)


@pytest.fixture(scope="session")
def golden_few_file(golden_file, tmp_path_factory) -> Path:
    """The session's golden file cut to its extremes pattern and its first photo: for the tests whose proof is a
    verdict or a margin (controls, bf16, another model as reference), not the six inputs every artifact is judged on
    (``verify_artifacts``, and ``test_golden_round_trip_needs_no_mxnet_and_detects_tampering``)."""

    def build() -> Path:
        out = tmp_path_factory.mktemp("golden-few") / "golden-few.npz"
        return golden_subset(golden_file, out, kinds=("extremes", "photo"), first=2)

    return built_once(tmp_path_factory, "golden-few", build)


@pytest.fixture(scope="session")
def golden_shapes_photo_file(golden_shapes_file, tmp_path_factory) -> Path:
    """The golden file of the sweep's shapes cut to its photo at each shape (the patterns at every shape are judged once,
    on the ONNX file with the controls: ``verify_shapes``). For the tests that run many models at those shapes."""

    def build() -> Path:
        out = tmp_path_factory.mktemp("golden-shapes-photo") / "golden-shapes.npz"
        return golden_subset(golden_shapes_file, out, kinds=("photo",))

    return built_once(tmp_path_factory, "golden-shapes-photo", build)


def tiny_ir(folder: Path, shape=(1, 3, 640, 640), names=None, card_shapes: bool = True) -> Path:
    """A small real IR with one input ``data`` of ``shape``, cheap to compile.

    With the card's output names and ``card_shapes``, output ``i`` has the card's shape for
    this input size and every element equal to ``i`` (so name and order mapping can be
    checked); otherwise each output is a ReLU of the input (the wrong shape for the card).
    Outputs are named ``NAME:0`` as Model Optimizer names them.
    """
    import numpy as np
    import openvino as ov

    from sshconv.runtimes.openvino import opset

    ops = opset()

    from sshconv.model.spec import default_outputs

    param = ops.parameter(list(shape), np.float32, name="data")
    card = {o.name: o.shape for o in default_outputs(shape[2], shape[3])}
    results = []
    for i, name in enumerate(names or ["something_else"]):
        if card_shapes and name in card:
            stride = shape[2] // card[name][2]
            pooled = ops.avg_pool(param, [stride, stride], [0, 0], [0, 0], [stride, stride], exclude_pad=True)
            zero = ops.multiply(ops.reduce_mean(pooled, np.array([1]), keep_dims=True), np.float32(0))
            node = ops.add(zero, np.full(card[name], i, np.float32))
        else:
            node = ops.relu(param)
        node.output(0).get_tensor().set_names({f"{name}:0"})
        results.append(ops.result(node.output(0)))
    folder.mkdir(parents=True, exist_ok=True)
    xml = folder / "tiny.xml"
    ov.save_model(ov.Model(results, [param], "tiny"), str(xml), compress_to_fp16=False)
    return xml


def break_ir_weights(src_xml: Path, dst_dir: Path, const_name: str, factor: float) -> Path:
    """A copy of an IR with the weight constant ``const_name`` multiplied by ``factor`` in its .bin."""
    dst_dir.mkdir(parents=True, exist_ok=True)
    dst = dst_dir / src_xml.name
    shutil.copy(src_xml, dst)
    data = bytearray(src_xml.with_suffix(".bin").read_bytes())
    for layer in ET.parse(src_xml).getroot().iter("layer"):
        if layer.get("type") == "Const" and layer.get("name") == const_name:
            d = layer.find("data")
            off, size = int(d.get("offset")), int(d.get("size"))
            dtype = {"f32": np.float32, "f16": np.float16}[d.get("element_type")]
            w = np.frombuffer(bytes(data[off : off + size]), dtype=dtype).astype(np.float32) * factor
            data[off : off + size] = w.astype(dtype).tobytes()
            break
    else:
        raise AssertionError(f"no constant {const_name} in {src_xml}")
    dst.with_suffix(".bin").write_bytes(bytes(data))
    return dst
