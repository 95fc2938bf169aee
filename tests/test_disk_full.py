"""A full disk while downloading, unpacking, converting and writing reports: one line naming the folder, exit 2,
nothing half-written. The disk is "full" by a file-size limit (RLIMIT_FSIZE) on the sshconv process."""

from __future__ import annotations

import io
import json
import os
import resource
import signal
import subprocess
import sys
import zipfile

import pytest

from sshconv.dataset.photos import make_photos

from .conftest import assert_one_line_error, needs_conversion_stack, run_cli, run_sshconv
from .download.test_download import MiB, blob, file_entry, leftovers, write_model

pytestmark = pytest.mark.timeout(300)


def _limited(max_bytes: int):
    """A preexec_fn: files larger than ``max_bytes`` cannot be written (EFBIG), as on a full disk."""

    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write() instead of killing the process
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))

    return apply


def _finals(folder):
    return sorted(p.name for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".") and ".part" not in p.name)


@pytest.mark.quick
def test_download_onto_a_full_disk(tmp_path):
    data = blob(3 * MiB, 41)
    copy = tmp_path / "copy.bin"
    copy.write_bytes(data)
    model = write_model(tmp_path, [file_entry("a.bin", data)])
    out = tmp_path / "out"
    proc = run_sshconv(
        "download", "--model", model, "--output-dir", out, "--cache-dir", tmp_path / "cache", "--from-file", copy,
        preexec_fn=_limited(MiB),
    )  # fmt: skip
    assert_one_line_error(proc, 2, f"output folder {out}: no space left to write", "free some space")
    assert not (out / "a.bin").exists() and _finals(tmp_path / "cache") == []


@pytest.mark.quick
def test_unpacking_onto_a_full_disk(tmp_path):
    member = blob(MiB + MiB // 2, 42) + b"\0" * MiB  # the archive fits under the limit, what it unpacks to does not
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.bin", member)
    archive = tmp_path / "a.zip"
    archive.write_bytes(buf.getvalue())
    model = write_model(
        tmp_path, [file_entry("a.zip", archive.read_bytes())], [{"$type": "unpack_archive", "file": "a.zip", "format": "zip"}]
    )
    out = tmp_path / "out"
    proc = run_sshconv(
        "download", "--model", model, "--output-dir", out, "--cache-dir", tmp_path / "cache", "--from-file", archive,
        preexec_fn=_limited(2 * MiB),
    )  # fmt: skip
    assert_one_line_error(proc, 2, f"{out}: no space left to write")
    assert not (out / "big.bin").exists() and leftovers(out) == []


@pytest.mark.quick
@pytest.mark.slow
@pytest.mark.parametrize("limit", [64 * 1024, 8 * MiB], ids=["xml-cut-short", "bin-cut-short"])
def test_convert_onto_a_full_disk(converted_dir, tmp_path, limit):
    out = tmp_path / "out"
    proc = run_sshconv(
        "convert", "--from-onnx", converted_dir / "onnx" / "ssh-mxnet.onnx", "--output-dir", out, "--precision", "FP16",
        preexec_fn=_limited(limit),
    )  # fmt: skip
    assert_one_line_error(proc, 2, f"folder {out / 'ir' / 'onnx' / 'FP16'}", "is the disk full?")
    assert _finals(out) == [], "no IR file and no manifest: the folder reads as an unfinished conversion"
    assert not [p for p in out.rglob("*") if p.is_file()], "no temporary file left behind either"


@pytest.mark.neutral
@pytest.mark.slow
def test_verify_reports_onto_a_full_disk(converted_dir, golden_few_file, tmp_path):
    ir = converted_dir / "ir" / "mo" / "FP32" / "ssh-mxnet.xml"
    reports = tmp_path / "reports"
    # matplotlib builds its font cache on first use: built here beforehand, or its own warning about the full disk
    # would stand beside sshconv's line (a fresh environment has none yet).
    env = {"MPLCONFIGDIR": str(tmp_path / "mpl")}
    subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env={**os.environ, **env}, check=True)
    for flag, name in (("--json-file", "r.json"), ("--html", "r.html")):
        proc = run_sshconv(
            "verify", "--golden", golden_few_file, "--ir", ir, flag, reports / name, preexec_fn=_limited(4 * 1024), env=env
        )
        assert_one_line_error(proc, 2, f"folder {reports}: no space left to write")
        assert [p.name for p in reports.iterdir()] == [], "no report, no temporary file"


@pytest.mark.slow
def test_golden_file_onto_a_full_disk(synth_dir, converted_dir, tmp_path):
    ir = converted_dir / "ir" / "mo" / "FP32" / "ssh-mxnet.xml"
    golden = tmp_path / "golden" / "g.npz"
    golden.parent.mkdir()
    proc = run_sshconv("verify", "--input-dir", synth_dir, "--ir", ir, "--samples", "0", "--photos", "1", "--save-golden", golden,
                       preexec_fn=_limited(256 * 1024))  # fmt: skip
    assert_one_line_error(proc, 2, f"folder {golden.parent}: no space left to write")
    assert list(golden.parent.iterdir()) == []


@pytest.mark.slow
@needs_conversion_stack
def test_model_optimizer_onto_a_full_disk_blames_the_disk_not_model_yml(synth_dir, tmp_path):
    out = tmp_path / "out"
    proc = run_sshconv(
        "convert", "--input-dir", synth_dir, "--model", synth_dir / "model.yml", "--output-dir", out, "--via", "mo",
        "--precision", "FP32", preexec_fn=_limited(8 * MiB),
    )  # fmt: skip
    assert_one_line_error(proc, 2, "is the disk full?")
    assert "model_optimizer_args" not in proc.stderr
    assert _finals(out) == []


@pytest.mark.neutral
@pytest.mark.slow
def test_eval_onto_a_full_disk_loses_nothing(converted_dir, tmp_path):
    """SQLite reports a full disk with errors of its own (not OSError): still one line naming the folder, and the photos
    written before it stay in the ledger for the same command run again with room to write."""
    photos = tmp_path / "photos"
    make_photos(photos, count=4, seed=9)
    work = tmp_path / "w"
    args = ["eval", "--dataset", photos, "--ir", converted_dir / "ir/mo/FP32/ssh-mxnet.xml", "--work-dir", work]
    proc = run_sshconv(*args, preexec_fn=_limited(64 * 1024))
    assert_one_line_error(proc, 2, f"work folder {work}", "no space left to write", "free some space")
    res = run_cli(*args, "--json")
    assert res.code == 0, res.err
    assert json.loads(res.out)["timing"]["photos"] == 4
