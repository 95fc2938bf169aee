"""An unsigned bundle proves only that it is intact, but what it says about itself must agree (quick tier, both stacks).

The bundle here is small and made by hand in the documented layout (fake model bytes: nothing is run), listed with
sshconv's own listing writer. Each change is made as someone re-packing an unsigned bundle would make it: the file
changed *and* the listing written again, so that the listing alone passes and only the agreement can catch it.
"""

from __future__ import annotations

import json
import shutil

import pytest

from sshconv.errors import IntegrityError
from sshconv.release.check import check_bundle_files
from sshconv.release.layout import LISTING, check_listing, write_listing

from ..conftest import run_cli

pytestmark = pytest.mark.quick


def _relist(folder, change_built_from=None):
    doc = json.loads((folder / LISTING).read_text())
    if change_built_from:
        change_built_from(doc["built_from"])
    write_listing(folder, doc["built_from"])
    check_listing(folder)  # the listing alone is satisfied


def test_a_bundle_that_agrees_with_itself_passes(bundle):
    assert check_bundle_files(bundle).golden == "golden/g.npz"


def _config(folder, name="ssh-mxnet", base="/models/ssh-mxnet"):
    config = {"model_config_list": [{"config": {"name": name, "base_path": base}}]}
    (folder / "models" / "config.json").write_text(json.dumps(config))


CHANGES = {
    "built from another manifest": (lambda b: _relist(b, lambda m: m.update(manifest_sha256="0" * 64)), "another manifest"),
    "built from another golden file": (lambda b: _relist(b, lambda m: m["golden"].update(name="other.npz")), "another golden"),
    "report replaced": (lambda b: ((b / "reports" / "eval.json").write_text('{"results": {"x": {}}}'), _relist(b)), "reports/eval.json"),
    "report added": (lambda b: ((b / "reports" / "bench.json").write_text('{"cases": []}'), _relist(b)), "reports/bench.json"),
    "report dropped": (lambda b: ((b / "reports" / "eval.json").unlink(), _relist(b)), "reports/eval.json"),
    "served model other bytes": (
        lambda b: (shutil.copyfile(b / "artifacts/ir/onnx/FP32/ssh-mxnet.bin", b / "models/ssh-mxnet/1/model.bin"), _relist(b)),
        "models/ssh-mxnet/1/model.bin",
    ),
    "another model served": (
        lambda b: ((b / "models/evil/1").mkdir(parents=True), (b / "models/evil/1/model.xml").write_text("<net/>"), _relist(b)),
        "models/evil/1/model.xml",
    ),
    "served model missing": (lambda b: ((b / "models/ssh-mxnet/1/model.bin").unlink(), _relist(b)), "models/ssh-mxnet/1/model.bin"),
    "config serves another name": (lambda b: (_config(b, name="other"), _relist(b)), "models/config.json"),
    "config serves from elsewhere": (lambda b: (_config(b, base="/etc"), _relist(b)), "/etc"),
    "artifact not in the manifest": (lambda b: ((b / "artifacts/ir/extra.xml").write_text("x"), _relist(b)), "artifacts/ir/extra.xml"),
    "built_from not an object": (lambda b: _relist(b, lambda m: (m.clear(), m.update(manifest_sha256=["x"]))), "manifest_sha256"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_an_unsigned_bundle_that_contradicts_itself_is_exit_4_naming_what(bundle, change):
    apply, named = CHANGES[change]
    apply(bundle)
    with pytest.raises(IntegrityError) as err:
        check_bundle_files(bundle)
    assert named in str(err.value) and "\n" not in str(err.value), err.value


def test_the_receivers_command_says_so_in_one_line(bundle):
    _config(bundle, base="/etc")
    _relist(bundle)
    res = run_cli("verify", "--bundle", bundle)
    assert res.code == 4 and len(res.err.strip().splitlines()) == 1 and "contradicts itself" in res.err, res.err
