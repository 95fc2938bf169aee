"""`sshconv bundle` and `sshconv verify --bundle`: a release its receiver can check.

The conversion stack builds the signed bundle (faces artifacts, INT8, golden outputs at two shapes)
and shares it with its public key; the runtime stack checks it as a receiving team would, and
tampers with copies of it: a flipped byte, an added file, a removed file, a changed card figure, a
signature of another key, a link out of the bundle. Each is exit 4 naming what changed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tarfile
from pathlib import Path

import pytest

from sshconv.errors import IntegrityError
from sshconv.release.card import check_card
from sshconv.release.layout import CARD, LISTING, check_listing, write_listing
from sshconv.release.ovms import CONFIG, FACES, MAPPING, RAW
from sshconv.release.signing import SIGNATURE

from ..conftest import _from_shared, _share, built_once, conversion_stack, golden_subset, run_cli

pytest.importorskip("model_signing", reason="the sign extra (pip install 'sshconv[sign]')")
pytestmark = pytest.mark.slow


def _keys(folder: Path) -> tuple[Path, Path]:
    from sshconv.release.signing import make_key_pair

    return make_key_pair(folder)


def _model_yml(request) -> Path:
    """The model.yml the shared artifacts were converted with (the synthetic checkpoint's, on the conversion stack)."""
    if conversion_stack():
        return request.getfixturevalue("synth_dir") / "model.yml"
    return Path(__file__).resolve().parents[2] / "model.yml"


@pytest.fixture(scope="session")
def signed_bundle(request, tmp_path_factory) -> tuple[Path, Path]:
    """``(bundle folder, public key)``: built from a conversion with faces artifacts and a golden file of a photo at two shapes
    (one of them a batch), signed;
    on the runtime stack, the conversion stack's (shared as ``bundle`` and ``bundle-key.pub``)."""
    if not conversion_stack():
        return _from_shared("bundle"), _from_shared("bundle-key.pub")
    from sshconv.conversion.faces import add_faces
    from sshconv.conversion.faces_graph import FacesOptions
    from sshconv.detection.decode import DecodeConfig
    from sshconv.model import load_model_spec

    yml, converted_dir = _model_yml(request), request.getfixturevalue("converted_dir")
    golden = request.getfixturevalue("golden_shapes_photo_file")

    def build() -> tuple[Path, Path]:
        work = tmp_path_factory.mktemp("bundle")
        key, public = _keys(work / "keys")
        # The conversion (both routes, FP32 and FP16) with faces artifacts beside its FP32 models. Not the INT8 IRs'
        # faces twins: judged by recall on this golden file's one photo, a fresh quantization of the synthetic detector
        # passes or fails by a face (README: the faces check's limits).
        spec = load_model_spec(yml)
        folder = work / "converted"
        shutil.copytree(converted_dir, folder)
        add_faces(spec, folder, FacesOptions(config=DecodeConfig.for_spec(spec)), weights=("FP32",))
        res = run_cli("bundle", "--model", yml, "--artifacts", folder, "--golden", golden, "--out", work / "release",
                      "--sign-key", key, "--progress", "none")  # fmt: skip
        assert res.code == 0, res.err
        assert "signed: yes" in res.out and "models/ssh-mxnet-faces" in res.out, res.out
        _share(work / "release", "bundle")
        _share(public, "bundle-key.pub")
        return work / "release", public

    return built_once(tmp_path_factory, "signed-bundle", build)


def _copy(bundle: Path, to: Path) -> Path:
    """A copy to tamper with: hard links (cheap), so a test replaces a file instead of writing into it."""
    shutil.copytree(bundle, to, copy_function=os.link)
    return to


def _replace(path: Path, data: bytes) -> None:
    path.unlink()
    path.write_bytes(data)


def test_the_bundle_holds_what_its_receiver_needs_in_the_documented_layout(signed_bundle):
    bundle, _ = signed_bundle
    listing = json.loads((bundle / LISTING).read_text())["files"]
    for rel in ("MODEL_CARD.md", "model.yml", "artifacts/manifest.json", "reports/verify.json",
                "artifacts/ir/mo/FP32/ssh-mxnet-faces.xml", "artifacts/ir/mo/FP16/ssh-mxnet.xml", "artifacts/onnx/ssh-mxnet-faces.onnx"):  # fmt: skip
        assert rel in listing, rel
    assert (bundle / SIGNATURE).is_file() and SIGNATURE not in listing and LISTING not in listing
    assert [p for p in listing if p.startswith("golden/")] == ["golden/golden-shapes.npz"]
    # The Model Server's documented repository: <name>/<positive integer version>/<model>.xml + .bin, and a config
    # file whose model_config_list names each model and its base path.
    repo = bundle / "models"
    config = json.loads((repo / CONFIG).read_text())
    assert [c["config"]["name"] for c in config["model_config_list"]] == [RAW, FACES]
    for entry in config["model_config_list"]:
        name = entry["config"]["name"]
        assert entry["config"]["base_path"] == f"/models/{name}"
        versions = [p.name for p in (repo / name).iterdir()]
        assert versions == ["1"] and all(v.isdigit() and int(v) > 0 for v in versions)
        files = sorted(p.name for p in (repo / name / "1").iterdir())
        assert files == sorted(["model.xml", "model.bin", MAPPING])
        mapping = json.loads((repo / name / "1" / MAPPING).read_text())
        assert set(mapping) == {"inputs", "outputs"} and not any(v.endswith(":0") for v in mapping["outputs"].values())
    raw = json.loads((repo / RAW / "1" / MAPPING).read_text())
    assert sorted(raw["outputs"].values()) == sorted(
        f"rpn_{k}_stride{s}" for k in ("cls_prob_reshape", "bbox_pred") for s in (32, 16, 8)
    )
    assert config["model_config_list"][0]["config"]["shape"] == {"data": "(-1,3,-1,-1)"}
    served = (repo / RAW / "1" / "model.bin").read_bytes()
    assert served == (bundle / "artifacts/ir/mo/FP32/ssh-mxnet.bin").read_bytes()


def test_the_model_card_gives_every_figure_with_where_it_comes_from(signed_bundle):
    bundle, _ = signed_bundle
    card = (bundle / CARD).read_text()
    for section in ("## Use Case and High-Level Description", "## Specification", "## Accuracy", "## Input", "## Output",
                    "## Verification", "## Performance", "## Provenance", "## Legal Information"):  # fmt: skip
        assert section in card, section
    assert "| MParams | 19.7684 | counted on `artifacts/ir/mo/FP32/ssh-mxnet.xml` |" in card
    assert "GFLOPs per image at 481x777" in card and "GFLOPs per image at 640x640" in card
    verify = json.loads((bundle / "reports/verify.json").read_text())
    assert verify["passed"] and verify["reference"] == "golden:golden/golden-shapes.npz"
    assert "worst margin" in card and "| faces/ir/mo/FP32 | faces |" in card and "| ir/mo/FP16 | FP16 |" in card
    manifest = json.loads((bundle / "artifacts/manifest.json").read_text())
    for sha in (f["sha256"] for f in manifest["source"]["files"].values()):
        assert f"sha256 `{sha}`" in card
    check_card(bundle)  # the card is what the files give


@pytest.mark.neutral  # its receivers run today's OpenVINO: the runtime stack's check; the conversion stack built it verified
def test_a_signed_bundle_verifies_on_arrival(signed_bundle):
    bundle, public = signed_bundle
    res = run_cli("verify", "--bundle", bundle, "--public-key", public, "--progress", "none")
    assert res.code == 0, res.out + res.err
    assert "none changed, added or removed; signature by the key" in res.out
    assert "faces/ir/mo/FP32" in res.out and "at 1x3x481x777" in res.out
    assert "model card: every figure matches" in res.out and "verdict: PASS" in res.out


@pytest.mark.neutral
def test_fail_fast_means_in_a_bundle_check_what_it_means_in_verify(signed_bundle, tmp_path):
    """Zero tolerances on the class scores: the first model fails and the others are not run (exit 1)."""
    bundle, public = signed_bundle
    res = run_cli("verify", "--bundle", bundle, "--public-key", public, "--fail-fast", "--atol", "cls_prob=0",
                  "--rtol", "cls_prob=0", "--progress", "none", "--json-file", tmp_path / "r.json")  # fmt: skip
    assert res.code == 1, res.out + res.err
    report = json.loads((tmp_path / "r.json").read_text())
    assert [c["label"] for c in report["checks"]] == [report["stopped_after"]] and "fail fast: stopped after" in res.out


@pytest.mark.parametrize("tamper", ["flipped byte", "added", "removed", "card figure", "other key", "link", "unlisted path"])
def test_every_change_to_a_signed_bundle_is_exit_4_naming_it(signed_bundle, tmp_path, tamper):
    bundle, public = signed_bundle
    copy = _copy(bundle, tmp_path / "arrived")
    named = {"flipped byte": "artifacts/ir/mo/FP16/ssh-mxnet.bin", "added": "models/ssh-mxnet/1/extra.txt",
             "removed": "golden/golden-shapes.npz", "card figure": CARD, "other key": "another key",
             "link": "reports/eval.json", "unlisted path": "../outside"}[tamper]  # fmt: skip
    if tamper == "flipped byte":
        data = bytearray((copy / named).read_bytes())
        data[len(data) // 2] ^= 0x01
        _replace(copy / named, bytes(data))
    elif tamper == "added":
        (copy / named).write_text("hello\n")
    elif tamper == "removed":
        (copy / named).unlink()
    elif tamper == "card figure":
        _replace(copy / CARD, (copy / CARD).read_bytes().replace(b"| MParams | 19.7684", b"| MParams | 9.7684"))
    elif tamper == "other key":
        _, public = _keys(tmp_path / "other")
    elif tamper == "link":
        (copy / named).symlink_to("/etc/hostname")
    else:
        doc = json.loads((copy / LISTING).read_text())
        doc["files"][named] = {"size": 1, "sha256": "0" * 64}
        _replace(copy / LISTING, json.dumps(doc).encode())
    res = run_cli("verify", "--bundle", copy, "--public-key", public, "--progress", "none")
    lines = res.err.strip().splitlines()
    assert res.code == 4 and len(lines) == 1, res.err
    assert named in lines[0] or (tamper == "other key" and "not made by the key" in lines[0]), lines[0]


def test_the_signature_alone_catches_a_file_changed_with_its_listing(signed_bundle, tmp_path):
    """Whoever rewrites a file and the listing to match still has to sign: the signature names the file."""
    bundle, public = signed_bundle
    copy = _copy(bundle, tmp_path / "arrived")
    _replace(copy / "model.yml", (copy / "model.yml").read_bytes() + b"\n# changed\n")
    doc = json.loads((copy / LISTING).read_text())
    write_listing_keep = doc["built_from"]
    (copy / LISTING).unlink()
    write_listing(copy, write_listing_keep)
    check_listing(copy)  # consistent again
    res = run_cli("verify", "--bundle", copy, "--public-key", public, "--progress", "none")
    assert res.code == 4 and "model.yml" in res.err and "does not cover" in res.err, res.err


def test_a_card_that_claims_what_the_files_do_not_show_is_named_by_its_line(signed_bundle, tmp_path):
    bundle, _ = signed_bundle
    copy = _copy(bundle, tmp_path / "arrived")
    card = (copy / CARD).read_text().replace("| MParams | 19.7684", "| MParams | 9.7684")
    _replace(copy / CARD, card.encode())
    with pytest.raises(IntegrityError, match=r"line \d+ says '\| MParams \| 9\.7684.*files show '\| MParams \| 19\.7684"):
        check_card(copy)


def test_a_signed_bundle_needs_the_key_and_an_unsigned_one_says_so(signed_bundle, tmp_path):
    bundle, _ = signed_bundle
    res = run_cli("verify", "--bundle", bundle, "--progress", "none")
    assert res.code == 2 and "--public-key" in res.err and "is signed" in res.err, res.err
    res = run_cli("verify", "--bundle", bundle, "--ir", "x.xml")
    assert res.code == 2 and "leave out --ir" in res.err, res.err
    res = run_cli("verify", "--public-key", tmp_path / "key.pub", "--golden", "g.npz", "--ir", "x.xml")
    assert res.code == 2 and "give --bundle" in res.err, res.err
    res = run_cli("verify", "--bundle", tmp_path / "nowhere")
    assert res.code == 2 and "no such folder" in res.err, res.err
    res = run_cli("bundle", "--artifacts", bundle / "artifacts", "--out", tmp_path / "b")
    assert res.code == 2 and "--golden" in res.err and "--input-dir" in res.err, res.err


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.skipif(not conversion_stack(), reason="bundles are built on the conversion stack")
def test_bundles_are_reproducible_and_refused_when_verification_fails(request, converted_dir, golden_file, tmp_path):
    yml = _model_yml(request)
    golden = golden_subset(golden_file, tmp_path / "small.npz", first=1)
    for run in ("first", "second"):  # the same inputs, the same bundle name: the same bytes, tarball included
        res = run_cli("bundle", "--model", yml, "--artifacts", converted_dir, "--golden", golden, "--out",
                      tmp_path / "x" / "release", "--tar", "--progress", "none")  # fmt: skip
        assert res.code == 0, res.err
        (tmp_path / "x").rename(tmp_path / run)
    assert _tree(tmp_path / "first") == _tree(tmp_path / "second")
    assert not (tmp_path / "first" / "release" / SIGNATURE).exists() and "signed: no" in res.out
    # The tarball beside each holds the same files under the bundle's name, with fixed owners and times.
    with tarfile.open(tmp_path / "first" / "release.tar.gz") as tar:
        members = tar.getmembers()
    listed = json.loads((tmp_path / "first" / "release" / LISTING).read_text())["files"]
    assert {m.name for m in members if m.isfile()} == {f"release/{p}" for p in [*listed, LISTING]}
    assert {(m.uid, m.mtime) for m in members} == {(0, 0)}
    config = json.loads((tmp_path / "first/release/models/config.json").read_text())
    assert [c["config"]["name"] for c in config["model_config_list"]] == [RAW]  # no faces artifacts in this folder
    # An unsigned bundle verifies on its files alone, and says it is unsigned.
    res = run_cli("verify", "--bundle", tmp_path / "first" / "release", "--progress", "none")
    assert res.code == 0 and "unsigned" in res.out, res.out + res.err
    # A reference the models do not match: refused, and nothing is left (no folder, no temporary one).
    wrong = golden_subset(golden_file, tmp_path / "wrong.npz", first=1, bbox_scale=1.5)
    res = run_cli("bundle", "--model", yml, "--artifacts", converted_dir, "--golden", wrong, "--out", tmp_path / "c",
                  "--progress", "none")  # fmt: skip
    assert res.code == 1 and "refused, verification failed for" in res.err, res.err
    # The first model that fails ends the verification: one model named, not every one.
    assert re.search(r"failed for [^ ,]+ of ", res.err), res.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first", "second", "small.npz", "wrong.npz"]
    # An existing target, a report about other files: refused before anything runs.
    res = run_cli("bundle", "--model", yml, "--artifacts", converted_dir, "--golden", golden, "--out", tmp_path / "first")
    assert res.code == 2 and "already exists" in res.err
    bench = {"cases": [{"name": "ir/mo/FP32", "files": {"ssh-mxnet.xml": "f" * 64}}]}
    (tmp_path / "bench.json").write_text(json.dumps(bench))
    res = run_cli("bundle", "--model", yml, "--artifacts", converted_dir, "--golden", golden, "--out", tmp_path / "d",
                  "--bench", tmp_path / "bench.json")  # fmt: skip
    assert res.code == 2 and "not a file of" in res.err and not (tmp_path / "d").exists(), res.err


@pytest.mark.skipif(not conversion_stack(), reason="bundles are built on the conversion stack")
def test_a_bundle_another_run_writes_meanwhile_is_left_whole(request, converted_dir, golden_file, tmp_path):
    """Two runs of the same ``bundle --out B --tar`` at once: the one that finishes second changes nothing of the
    first one's folder and tarball (they would disagree) and says so in one line."""
    from sshconv.errors import OutputError
    from sshconv.model import load_model_spec
    from sshconv.release.bundle import build_bundle

    golden = golden_subset(golden_file, tmp_path / "one.npz", first=1)
    out = tmp_path / "x" / "release"

    def first_run_finishes(event):  # while this run verifies, the other one puts its folder and tarball in place
        if not out.exists():
            out.mkdir(parents=True)
            (out / LISTING).write_text("the first run's")
            (tmp_path / "x" / "release.tar.gz").write_bytes(b"the first run's")

    with pytest.raises(OutputError, match="appeared while the bundle was being written"):
        build_bundle(load_model_spec(_model_yml(request)), converted_dir, out, golden=golden, tarball=True,
                     on_event=first_run_finishes)  # fmt: skip
    assert _tree(tmp_path / "x") == {"release/BUNDLE.json": b"the first run's", "release.tar.gz": b"the first run's"}


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    """``(CA certificate, signing certificate, its key)``: a CA and a code-signing certificate it issued, made here."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    folder.mkdir(parents=True)
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())

    def cert(subject: str, public, issuer, serial: int, ca: bool):
        b = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
             .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)])).public_key(public)
             .serial_number(serial).not_valid_before(now - datetime.timedelta(days=1))
             .not_valid_after(now + datetime.timedelta(days=30))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))  # fmt: skip
        if ca:
            b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        else:
            b = b.add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
            b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        return b.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)

    (folder / "ca.pem").write_bytes(cert("sshconv test CA", ca_key.public_key(), "sshconv test CA", 1, True))
    (folder / "cert.pem").write_bytes(cert("release signer", key.public_key(), "sshconv test CA", 2, False))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    (folder / "key.pem").write_bytes(pem)
    return folder / "ca.pem", folder / "cert.pem", folder / "key.pem"


def test_certificate_signing_verifies_against_its_chain_and_no_other(tmp_path):
    """Certificate-based signing (a key and the certificate a CA issued for it), on a small folder: the chain that
    issued it verifies; another CA's does not; a changed file is named."""
    from sshconv.release.signing import check_signature, sign_folder

    ca, cert, key = _certificates(tmp_path / "pki")
    other_ca, _, _ = _certificates(tmp_path / "other")
    folder = tmp_path / "release"
    folder.mkdir()
    (folder / "model.xml").write_text("<net/>\n")
    sign_folder(folder, key, cert, [ca])
    assert check_signature(folder, None, [ca]) == "a certificate chaining to ca.pem"
    with pytest.raises(IntegrityError, match="not made by"):
        check_signature(folder, None, [other_ca])
    (folder / "model.xml").write_text("<net changed/>\n")
    with pytest.raises(IntegrityError, match=r"model\.xml: changed since it was signed"):
        check_signature(folder, None, [ca])


def test_a_verification_handed_to_bundle_must_be_of_these_files_and_have_written_this_golden_file(
    request, converted_dir, golden_file, tmp_path
):
    """``build_bundle(verified=...)`` (what the demo hands over) is refused, before anything is written, for a
    verification of other files, one that wrote another golden file or none."""
    from sshconv.errors import UsageError
    from sshconv.fsutil import sha256_file
    from sshconv.model import load_model_spec
    from sshconv.release import build_bundle
    from sshconv.verification.results import VerifyResult

    spec = load_model_spec(_model_yml(request))
    golden = tmp_path / "golden.npz"
    shutil.copyfile(golden_file, golden)
    good = {"manifest.json": sha256_file(converted_dir / "manifest.json"), golden.name: sha256_file(golden)}
    cases = {
        "other files": ({**good, "manifest.json": "0" * 64}, str(golden)),
        "other golden": ({**good, golden.name: "0" * 64}, str(golden)),
        "no golden written": (good, None),
    }
    for name, (hashes, written) in cases.items():
        verified = VerifyResult([], [], 0, "mxnet", hashes=hashes, golden_written=written)
        with pytest.raises(UsageError, match="verif"):
            build_bundle(spec, converted_dir, tmp_path / name, golden=golden, verified=verified)
        assert not (tmp_path / name).exists(), name
