"""Hostile input: whatever a user points sshconv at ends in one line, a documented exit
code and nothing half-written."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sshconv.errors import SpecError
from sshconv.model import load_model_spec, parse_model_spec

from .conftest import assert_one_line_error, conversion_stack, run_cli, spawn_sshconv

# ----------------------------------------------------------------------------- model.yml fuzz

KEYS = [
    "files", "name", "size", "sha256", "source", "sources", "postprocessing", "$type", "format", "file",
    "pattern", "replacement", "count", "model_optimizer_args", "framework", "quantizable", "outputs", "shape",
    "verification", "tolerances", "FP32", "fp16", "cls_prob", "bbox_pred", "atol", "rtol", "description",
]  # fmt: skip
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(
        ["a" * 64, "../x", "/abs", "ftp://h/x", "https://h/x", "unpack_archive", "regex_replace", "zip", "(", "x.zip"]
    ),
    st.sampled_from(["--input_shape=[1,3,640,640]", "--mean_values=data[1,2,3]", "--mean_values=data[a]", "--input_shape=[x]"]),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6), st.integers()), children, max_size=6),
    ),
    max_leaves=30,
)


def _near_valid():
    """Documents shaped like a model.yml with one or more random values."""
    file_entry = st.fixed_dictionaries(
        {"name": scalars, "size": scalars, "sha256": scalars},
        optional={"source": scalars, "sources": st.lists(scalars, max_size=3)},
    )
    post = st.fixed_dictionaries(
        {"$type": scalars},
        optional={"file": scalars, "format": scalars, "pattern": scalars, "replacement": scalars, "count": scalars},
    )
    return st.fixed_dictionaries(
        {"files": st.one_of(st.lists(file_entry, max_size=3), scalars), "framework": scalars},
        optional={
            "postprocessing": st.one_of(st.lists(post, max_size=3), scalars),
            "model_optimizer_args": st.one_of(st.lists(scalars, max_size=5), scalars),
            "outputs": st.one_of(st.lists(st.fixed_dictionaries({"name": scalars, "shape": documents}), max_size=3), scalars),
            "verification": documents,
            "quantizable": scalars,
        },
    )


@pytest.mark.quick
@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(documents, _near_valid()))
def test_fuzz_model_spec_raises_only_spec_error(tmp_path_factory, document):
    try:
        parse_model_spec(document, tmp_path_factory.getbasetemp() / "fuzz.yml")
    except SpecError as exc:
        assert "\n" not in str(exc)


@pytest.mark.quick
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(st.text(max_size=200), st.binary(max_size=200), documents.map(lambda d: yaml.safe_dump(d))))
def test_fuzz_model_yml_text_raises_only_spec_error(tmp_path_factory, content):
    path = tmp_path_factory.getbasetemp() / "fuzz-text.yml"
    path.write_bytes(content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content)
    try:
        load_model_spec(path)
    except SpecError as exc:
        assert "\n" not in str(exc)


# ----------------------------------------------------------------------------- checkpoints
# Broken checkpoint folders (missing, empty, truncated, not JSON, another network, params
# that do not fit) are driven through the real CLI in tests/conversion/test_convert.py.


# ----------------------------------------------------------------------------- archive fuzz


def _tree(root):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _member_names(outside_abs: str):
    benign = st.sampled_from(["a", "b", "dir", "x.params", "ü", "...", " "])
    dangerous = st.sampled_from(["..", ".", "", "a\\b", "C:", "\x00", "outside"])
    relative = st.lists(benign, min_size=1, max_size=3).map("/".join)
    hostile = st.lists(st.one_of(benign, dangerous), min_size=1, max_size=4).map("/".join)
    absolute = st.sampled_from([outside_abs + "/owned", "../outside/owned", "/etc/owned", "/a"])
    return st.one_of(relative, relative, relative, relative, hostile, absolute)


@st.composite
def _archives(draw, outside_abs: str):
    kinds = st.sampled_from(["file"] * 8 + ["dir", "symlink", "hardlink"])
    members = draw(
        st.lists(
            st.tuples(
                _member_names(outside_abs),
                kinds,
                st.integers(0, 3000),
                st.sampled_from(["x", outside_abs, "../outside", "a", "/etc/passwd"]),
            ),
            min_size=1,
            max_size=6,
        )
    )
    fmt = draw(st.sampled_from(["zip", "tar", "gztar"]))
    return fmt, members


def _write_archive(path, fmt, members):
    import io
    import tarfile
    import zipfile

    if fmt == "zip":
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for name, kind, size, target in members:
                info = zipfile.ZipInfo(name or "empty")
                if kind == "symlink":
                    info.external_attr = (0o120777) << 16
                    zf.writestr(info, target)
                elif kind == "dir":
                    zf.writestr(zipfile.ZipInfo((name or "d").rstrip("/") + "/"), b"")
                else:
                    zf.writestr(info, b"z" * size)
        return
    mode = {"tar": "w", "gztar": "w:gz"}[fmt]
    with tarfile.open(path, mode) as tf:
        for name, kind, size, target in members:
            info = tarfile.TarInfo(name or "empty")
            if kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, target
                tf.addfile(info)
            elif kind == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, target
                tf.addfile(info)
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
            else:
                info.size = size
                tf.addfile(info, io.BytesIO(b"t" * size))


@pytest.mark.quick
@pytest.mark.filterwarnings("ignore:Duplicate name")
@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fuzz_extractor_never_writes_outside_staging(tmp_path_factory, data):
    from sshconv.download.archive import ExtractLimits, safe_extract, unpack_archive
    from sshconv.errors import SshconvError

    root = tmp_path_factory.mktemp("fuzz")
    outside = root / "outside"
    outside.mkdir()
    (root / "archive").mkdir()
    dest = root / "dest"
    dest.mkdir()
    fmt, members = data.draw(_archives(str(outside)))
    archive = root / "archive" / f"a.{fmt}"
    try:
        _write_archive(archive, fmt, members)
    except (ValueError, OSError, UnicodeEncodeError):
        return  # the format cannot even hold these names
    limits = ExtractLimits(max_total_bytes=64 << 10, max_members=50, max_ratio=1000, ratio_free_bytes=16 << 10)
    extract = data.draw(st.sampled_from([safe_extract, unpack_archive]))
    ok = True
    try:
        extract(archive, fmt, dest, limits)
    except SshconvError as exc:
        ok = False
        assert "\n" not in str(exc)
    assert _tree(outside) == []
    assert sorted(p.name for p in root.iterdir()) == ["archive", "dest", "outside"]
    assert _tree(root / "archive") == [f"a.{fmt}"]
    for p in dest.rglob("*"):
        assert not p.is_symlink(), p
        assert p.resolve().is_relative_to(dest.resolve())
    event("extracted" if ok else "rejected")
    if extract is unpack_archive and not ok:
        assert _tree(dest) == [], "a rejected archive left files behind"


# ----------------------------------------------------------------------------- interruption


def _wait_for(predicate, proc, seconds=60):
    import time

    deadline = time.monotonic() + seconds
    while not predicate():
        if proc.poll() is not None:
            raise AssertionError(f"process ended early ({proc.returncode}): {proc.stderr.read()}")
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def _assert_interrupted(proc, sig):
    import signal

    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, (proc.returncode, err)
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert ("terminated" if sig == signal.SIGTERM else "interrupted") in lines[0]


@pytest.mark.quick
@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_interrupted_download_leaves_no_final_file_and_next_run_finishes(tmp_path, signame):
    import signal

    from .download.test_download import MiB, _spawn_download, blob, download, file_entry, leftovers, write_model
    from .httpserver import MisbehavingServer

    sig = getattr(signal, signame)
    srv = MisbehavingServer().start()
    try:
        data = blob(3 * MiB, 5)
        url = srv.put("/a.bin", data)
        srv.rate = MiB // 2  # six seconds for the whole file: the signal lands mid-way even on a loaded machine
        model = write_model(tmp_path, [file_entry("a.bin", data, url)])
        out, cache = tmp_path / "out", tmp_path / "cache"
        proc = _spawn_download(model, out, cache)
        part = out / "a.bin.part"
        _wait_for(lambda: part.exists() and part.stat().st_size >= MiB // 2, proc)
        _assert_interrupted(proc, sig)
        assert not (out / "a.bin").exists()
        from sshconv.download.cache import Cache

        assert not Cache(cache).entry(file_entry("a.bin", data)["sha256"]).exists()
        srv.rate = 0
        res, _ = download(model, out, cache)
        assert (out / "a.bin").read_bytes() == data
        assert res.files[0].bytes_transferred < len(data)  # resumed, not restarted
        assert leftovers(out) == []
    finally:
        srv.stop()


# ----------------------------------------------------------------------------- model files, images, outputs


def _bad_models(folder):
    """Model files that must be refused by every command that runs one, with the fragment each error names."""
    from sshconv.model.network import output_names

    from .conftest import tiny_ir

    folder.mkdir(parents=True, exist_ok=True)
    not_xml = folder / "garbage.xml"
    not_xml.write_bytes(b"\x00\x01\x02 binary, not XML")
    no_bin = folder / "nobin.xml"
    no_bin.write_text("<net name='x'></net>")
    text = folder / "model.txt"
    text.write_text("hello")
    return {
        "missing": (folder / "none.xml", "no such file"),
        "folder": (folder, "is a folder"),
        "not xml": (not_xml, "not an XML file"),
        "xml without bin": (no_bin, "weights nobin.bin are missing"),
        "wrong suffix": (text, "expected an IR .xml or an .onnx file"),
        # Any input size is reshaped to; this one's outputs are the picture itself, not the card's maps, at any size.
        "outputs of the wrong shape": (tiny_ir(folder / "small", (1, 3, 320, 320), output_names(), card_shapes=False),
                                       "this is not the SSH model"),  # fmt: skip
        "missing outputs": (tiny_ir(folder / "other", (1, 3, 640, 640)), "missing output"),
    }


@pytest.mark.neutral
def test_bad_model_files_are_refused_by_verify_detect_and_bench(tmp_path):
    photo = tmp_path / "p.png"
    from PIL import Image

    Image.new("RGB", (64, 48), (120, 90, 60)).save(photo)
    golden = tmp_path / "golden.npz"
    for case, (model, fragment) in _bad_models(tmp_path / "models").items():
        for argv in (
            ["verify", "--ir", model, "--golden", golden],
            ["detect", photo, "--ir", model, "--out-dir", tmp_path / "out"],
            ["bench", "--ir", model, "--no-mxnet", "--seconds", "0.1"],
        ):
            res = run_cli(*argv)
            assert_one_line_error(res, 2, fragment)
        assert not (tmp_path / "out").exists(), case


@pytest.mark.quick
def test_bad_model_file_as_a_subprocess(tmp_path):
    from PIL import Image

    from .conftest import run_sshconv

    photo = tmp_path / "p.png"
    Image.new("RGB", (64, 48), (120, 90, 60)).save(photo)
    model, fragment = _bad_models(tmp_path / "models")["xml without bin"]
    proc = run_sshconv("detect", photo, "--ir", model)
    assert_one_line_error(proc, 2, fragment)


def _image_cases(folder):
    import numpy as np
    from PIL import Image

    folder.mkdir()
    cases = {}
    (folder / "text.png").write_text("not an image at all")
    cases["not an image"] = (folder / "text.png", "not a readable image")
    (folder / "empty.jpg").write_bytes(b"")
    cases["empty"] = (folder / "empty.jpg", "is empty")
    truncated = folder / "truncated.png"
    Image.new("RGB", (200, 200), (10, 200, 30)).save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:100])
    cases["truncated"] = (truncated, "not a readable image")
    huge = folder / "huge.png"  # 12000 x 12000 pixels declared, tiny on disk
    Image.new("1", (12000, 12000)).save(huge)
    cases["huge"] = (huge, "larger than")
    gray = folder / "gray.png"
    Image.fromarray(np.tile(np.arange(256, dtype=np.uint8), (100, 1))).save(gray)
    alpha = folder / "alpha.png"
    Image.new("RGBA", (120, 90), (200, 150, 100, 128)).save(alpha)
    return cases, [gray, alpha]


@pytest.mark.quick
@pytest.mark.slow
def test_images_bad_ones_named_odd_ones_work(converted_dir, tmp_path):
    import json

    ir = converted_dir / "ir" / "mo" / "FP32" / "ssh-mxnet.xml"
    cases, good = _image_cases(tmp_path / "img")
    for case, (image, fragment) in cases.items():
        res = run_cli("detect", image, "--ir", ir, "--out-dir", tmp_path / "out", "--json")
        assert_one_line_error(res, 2, str(image), fragment)
        assert not (tmp_path / "out").exists(), case
    res = run_cli("detect", *good, "--ir", ir, "--out-dir", tmp_path / "out", "--json")
    assert res.code == 0, res.err
    found = json.loads(res.out)
    assert [f["width"] for f in found] == [256, 120]
    for f in found:
        assert (tmp_path / "out" / (f["drawn"].split("/")[-1])).is_file()


@pytest.mark.quick
def test_unwritable_output_locations_are_named_exit_2(tmp_path):
    import yaml

    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    where = blocker / "sub"
    archive = tmp_path / "x.bin"
    archive.write_bytes(b"payload")
    import hashlib

    model = tmp_path / "model.yml"
    model.write_text(
        yaml.safe_dump(
            {"files": [{"name": "x.bin", "size": 7, "sha256": hashlib.sha256(b"payload").hexdigest()}], "framework": "mxnet"}
        )
    )
    ckpt = tmp_path / "ckpt"  # need not be valid: output folders are checked first or the checkpoint error is named
    for argv in (
        ["download", "--model", model, "--from-file", archive, "--output-dir", where, "--cache-dir", tmp_path / "cache"],
        ["download", "--model", model, "--from-file", archive, "--output-dir", tmp_path / "out", "--cache-dir", where],
        ["synth", "--output-dir", where],
        ["demo", "--workdir", where],
    ):
        if argv[0] == "synth" and not conversion_stack():
            continue  # without MXNet synth stops earlier, naming the extra (tests/test_extras.py)
        res = run_cli(*argv)
        assert_one_line_error(res, 2, str(blocker))  # at once: nothing ran (a progress line would say it did)
    res = run_cli("convert", "--input-dir", ckpt, "--output-dir", where)
    assert res.code == 2 and "Traceback" not in res.err


@pytest.mark.slow
def test_unwritable_outputs_of_convert_verify_detect(synth_dir, converted_dir, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    where = blocker / "sub"
    ir = converted_dir / "ir" / "mo" / "FP32" / "ssh-mxnet.xml"
    photo = tmp_path / "p.png"
    from PIL import Image

    Image.new("RGB", (64, 48), (120, 90, 60)).save(photo)
    for argv in (
        ["convert", "--input-dir", synth_dir, "--output-dir", where, "--via", "mo", "--precision", "FP32"],
        ["verify", "--input-dir", synth_dir, "--ir", ir, "--json-file", where / "report.json"],
        ["verify", "--input-dir", synth_dir, "--ir", ir, "--save-golden", where / "g.npz"],
        ["verify", "--input-dir", synth_dir, "--ir", ir, "--html", where / "r.html"],
        ["detect", photo, "--ir", ir, "--out-dir", where],
        ["detect", photo, "--ir", ir, "--out", where / "x.png"],
    ):
        res = run_cli(*argv)
        assert_one_line_error(res, 2, str(blocker))  # at once: nothing ran (a progress line would say it did)


# ----------------------------------------------------------------------------- interruption of convert and verify


def _no_temporaries(folder):
    return [str(p) for p in folder.rglob("*") if p.name.endswith(".tmp") or ".tmp" in p.name or p.name.endswith(".part")]


@pytest.mark.slow
@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
def test_interrupted_verify_writes_no_report_and_next_run_passes(synth_dir, converted_dir, tmp_path, signame):
    import signal
    import time

    ir = converted_dir / "ir" / "mo" / "FP32" / "ssh-mxnet.xml"
    out = tmp_path / "out"
    out.mkdir()
    argv = [
        "verify",
        "--input-dir",
        str(synth_dir),
        "--ir",
        str(ir),
        "--samples",  # the patterns and one photo: a run long enough to interrupt, a next run soon done
        "0",
        "--photos",
        "1",
        "--json-file",
        str(out / "report.json"),
        "--html",
        str(out / "r.html"),
    ]
    proc = spawn_sshconv(*argv)
    time.sleep(6)  # inside the MXNet or OpenVINO runs
    assert proc.poll() is None, proc.stderr.read()
    _assert_interrupted(proc, getattr(signal, signame))
    assert list(out.iterdir()) == []
    if signame == "SIGTERM":
        res = run_cli(*argv)
        assert res.code == 0, res.err
        assert (out / "report.json").is_file() and (out / "r.html").is_file()
        assert _no_temporaries(out) == []


@pytest.mark.slow
def test_interrupted_convert_by_sigint_then_next_run_succeeds(synth_dir, tmp_path):
    import json
    import signal

    out = tmp_path / "converted"
    argv = ["convert", "--input-dir", str(synth_dir), "--output-dir", str(out), "--via", "mo", "--precision", "all"]
    proc = spawn_sshconv(*argv)
    _wait_for(lambda: (out / "ir").exists(), proc)
    _assert_interrupted(proc, signal.SIGINT)
    assert not (out / "manifest.json").exists()
    assert _no_temporaries(out) == []
    res = run_cli(*argv, "--json")
    assert res.code == 0, res.err
    manifest = json.loads((out / "manifest.json").read_text())
    from sshconv.fsutil import sha256_file

    for art in manifest["artifacts"]:
        assert sha256_file(out / art["path"]) == art["sha256"]
