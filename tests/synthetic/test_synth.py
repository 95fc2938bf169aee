"""The synthetic checkpoint: exact architecture, reproducible bytes, designed channels closed, training cached."""

from __future__ import annotations

import subprocess
import sys
import zipfile

import numpy as np
import pytest

from sshconv.fsutil import sha256_file
from sshconv.model import load_model_spec
from sshconv.model.checkpoint import PARAMS_FILE, SYMBOL_FILE, load_checkpoint

from ..conftest import needs_conversion_stack, run_sshconv

MEAN = np.array([123.68, 116.779, 103.939], np.float32).reshape(1, 3, 1, 1)


@pytest.mark.quick
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
def test_a_second_synth_reuses_the_cached_training_and_writes_the_same_bytes(synth_dir, tmp_path):
    res = run_sshconv("synth", "--output-dir", tmp_path, "--json", "--progress", "json")
    assert res.returncode == 0, res.stderr
    assert '"event": "cached"' in res.stderr and '"item": "training"' not in res.stderr
    for name in (PARAMS_FILE, SYMBOL_FILE, "ssh-model-final.zip", "model.yml"):
        assert (tmp_path / name).read_bytes() == (synth_dir / name).read_bytes(), name


_TRAIN_A_LITTLE = """
import hashlib, sys
from sshconv.synthetic.synth import _bilinear_kernel
from sshconv.synthetic.training import TrainSettings, train_heads
heads = train_heads(int(sys.argv[1]), _bilinear_kernel(128, 4), TrainSettings(photos=3, steps=4))
h = hashlib.sha256()
for name in sorted(heads):
    h.update(name.encode()); h.update(heads[name].tobytes())
print(h.hexdigest())
"""


@needs_conversion_stack
def test_training_gives_the_same_bytes_in_another_process_and_other_bytes_for_another_seed():
    digests = [
        subprocess.run([sys.executable, "-c", _TRAIN_A_LITTLE, str(seed)], capture_output=True, text=True, check=True).stdout
        for seed in (5, 5, 6)
    ]
    assert digests[0] == digests[1] != digests[2]


@pytest.mark.quick
@needs_conversion_stack
def test_a_damaged_or_foreign_cache_file_is_not_used(tmp_path):
    from sshconv.synthetic.synth import _read_cached
    from sshconv.synthetic.training import head_symbol, initial_weights, input_shapes

    good = initial_weights(head_symbol(), input_shapes(1), 0, 4.0)
    path = tmp_path / "heads.npz"
    np.savez(path, **good)
    assert set(_read_cached(path)) == set(good)
    path.write_bytes(path.read_bytes()[:1000])  # cut short
    assert _read_cached(path) is None
    np.savez(path, **{**good, "rpn_cls_score_stride8_weight": np.zeros((4, 3), np.float32)})  # wrong shape
    assert _read_cached(path) is None
    np.savez(path, **{**good, "rpn_cls_score_stride8_bias": np.full(4, np.nan, np.float32)})  # not finite
    assert _read_cached(path) is None
    assert _read_cached(tmp_path / "missing.npz") is None


@pytest.mark.quick
@pytest.mark.slow
def test_the_designed_channels_are_closed_the_slim_network_gives_the_same_outputs(synth_dir):
    """Training sees only the designed channels: the full network must depend on nothing else."""
    import mxnet as mx

    from sshconv.synthetic.designed import FeatureExtractor
    from sshconv.synthetic.training import MODULES, head_symbol, input_shapes

    ckpt = load_checkpoint(synth_dir)
    rgb = np.random.RandomState(3).randint(0, 256, (1, 3, 640, 640)).astype(np.float32) - MEAN
    full = ckpt.symbol.simple_bind(mx.cpu(), grad_req="null", data=(1, 3, 640, 640))
    full.copy_params_from(ckpt.arg_params, ckpt.aux_params)
    expected = [o.asnumpy() for o in full.forward(is_train=False, data=mx.nd.array(rgb))]

    args = {k: v.asnumpy() for k, v in ckpt.arg_params.items()}
    x8, x16, x32 = FeatureExtractor(MEAN.ravel(), 1, 640, 640, args["ssh_m2_red_upsampling_weight"])(rgb)
    heads = head_symbol()
    slim = heads.simple_bind(mx.cpu(), grad_req="null", **input_shapes(1))
    for name, arr in slim.arg_dict.items():
        if name not in ("x8", "x16", "x32"):
            full = args[name]
            arr[:] = full[:, : arr.shape[1]] if full.ndim > 1 else full
    scores = [o.asnumpy() for o in slim.forward(is_train=False, x8=mx.nd.array(x8), x16=mx.nd.array(x16), x32=mx.nd.array(x32))]
    for k, (_, _, stride) in enumerate(MODULES):
        cls, bbox = expected[2 * k], expected[2 * k + 1]
        face = 1 / (1 + np.exp(scores[2 * k][:, :2] - scores[2 * k][:, 2:]))
        np.testing.assert_allclose(cls[:, 2:], face, atol=1e-5, err_msg=f"stride {stride}")
        np.testing.assert_allclose(bbox, scores[2 * k + 1], atol=1e-4, err_msg=f"stride {stride}")
    # and the random channels are really there: the trunk's other channels are not zero
    assert np.abs(args["conv3_1_weight"][30:]).mean() > 0.01


@pytest.mark.quick
@needs_conversion_stack
def test_the_committed_training_is_the_current_codes():
    """tests/data holds the training of exactly the current code (and no stale one): a fresh clone does not train."""
    from sshconv.synthetic.synth import DEFAULT_SEED, training_cache_path

    from ..conftest import COMMITTED_TRAINING, TRAINED

    current = training_cache_path(COMMITTED_TRAINING, DEFAULT_SEED)
    kept = sorted(COMMITTED_TRAINING.glob(TRAINED))
    assert kept == [current], (
        f"tests/data should hold {current.name} alone: after an edit of the training, copy it from the training store "
        f"(~/.cache/sshconv-tests/synthetic, where the suite keeps what it trained) and remove {[p.name for p in kept]}"
    )
