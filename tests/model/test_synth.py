"""The synthetic checkpoint: exact architecture, reproducible bytes, trained-looking outputs."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from sshconv.fsutil import sha256_file
from sshconv.model import load_model_spec
from sshconv.model.checkpoint import PARAMS_FILE, SYMBOL_FILE, load_checkpoint

from ..conftest import run_sshconv

MEAN = np.array([123.68, 116.779, 103.939], np.float32).reshape(1, 3, 1, 1)


def test_layout_and_model_yml(synth_dir):
    for name in (SYMBOL_FILE, PARAMS_FILE, "ssh-model-final.zip", "model.yml"):
        assert (synth_dir / name).is_file()
    spec = load_model_spec(synth_dir / "model.yml")
    (f,) = spec.files
    archive = synth_dir / f.name
    assert f.size == archive.stat().st_size
    assert f.sha256 == sha256_file(archive)
    with zipfile.ZipFile(archive) as zf:
        assert sorted(zf.namelist()) == sorted([SYMBOL_FILE, PARAMS_FILE])
        assert zf.read(PARAMS_FILE) == (synth_dir / PARAMS_FILE).read_bytes()
    assert spec.model_optimizer_args == load_model_spec().model_optimizer_args


@pytest.mark.slow
def test_same_seed_gives_identical_bytes_in_another_process(synth_dir, tmp_path):
    res = run_sshconv("synth", "--output-dir", tmp_path, "--json")
    assert res.returncode == 0, res.stderr
    for name in (PARAMS_FILE, SYMBOL_FILE, "ssh-model-final.zip", "model.yml"):
        assert (tmp_path / name).read_bytes() == (synth_dir / name).read_bytes(), name


@pytest.mark.slow
def test_outputs_look_like_a_trained_detector(synth_dir):
    import mxnet as mx

    ckpt = load_checkpoint(synth_dir)
    exe = ckpt.symbol.simple_bind(mx.cpu(), grad_req="null", data=(1, 3, 640, 640))
    exe.copy_params_from(ckpt.arg_params, ckpt.aux_params)
    raw = np.random.RandomState(3).randint(0, 256, (1, 3, 640, 640)).astype(np.float32)
    outs = exe.forward(is_train=False, data=mx.nd.array(raw[:, ::-1] - MEAN))
    faces = []
    for name, out in zip(ckpt.symbol.list_outputs(), outs):
        v = out.asnumpy()
        assert np.isfinite(v).all()
        if "cls_prob" in name:
            np.testing.assert_allclose(v[0, :2] + v[0, 2:], 1.0, atol=1e-5)
            face = v[0, 2:]
            assert 1e-4 < np.percentile(face, 1) and np.percentile(face, 99) < 0.9999, name  # not saturated
            assert face.std() > 0.02, name  # spread, not constant
            faces.append(face.ravel())
        else:
            assert np.mean(np.abs(v) < 3) > 0.95, name  # box deltas mostly within +-3
            assert v.std() > 0.2, name
    faces = np.concatenate(faces)
    assert np.median(faces) < 0.3, "most anchors should be background"
    assert 0.001 < np.mean(faces > 0.5) < 0.2, "a few anchors should score as faces"
