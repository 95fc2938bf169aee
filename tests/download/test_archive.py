"""Hardened extraction and regex_replace: hostile archives are refused on their own merits."""

from __future__ import annotations

import hashlib
import io
import json
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest
import yaml

from sshconv.download.archive import ExtractLimits, regex_replace, safe_extract, unpack_archive
from sshconv.errors import IntegrityError, SpecError

from ..conftest import assert_one_line_error, run_cli

pytestmark = pytest.mark.quick

TAR_MODES = {"tar": "w", "gztar": "w:gz", "bztar": "w:bz2", "xztar": "w:xz"}
EXT = {"zip": ".zip", "tar": ".tar", "gztar": ".tar.gz", "bztar": ".tar.bz2", "xztar": ".tar.xz"}


def make_zip(path: Path, members: list[tuple[str, bytes]], symlink: tuple[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink[0])
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, symlink[1])
    return path


def make_tar(path: Path, fmt: str, members: list[tarfile.TarInfo | tuple[str, bytes]]) -> Path:
    with tarfile.open(path, TAR_MODES[fmt]) as tf:
        for m in members:
            if isinstance(m, tarfile.TarInfo):
                tf.addfile(m)
            else:
                info = tarfile.TarInfo(m[0])
                info.size = len(m[1])
                tf.addfile(info, io.BytesIO(m[1]))
    return path


def special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


GOOD = [("sshb-symbol.json", b'{"nodes": []}'), ("sub/dir/sshb-0000.params", bytes(range(256)) * 40)]


@pytest.mark.parametrize("fmt", ["zip", "tar", "gztar", "bztar", "xztar"])
def test_every_format_unpacks_and_reruns_idempotently(tmp_path, fmt):
    archive = tmp_path / f"a{EXT[fmt]}"
    make_zip(archive, GOOD) if fmt == "zip" else make_tar(archive, fmt, GOOD)
    dest = tmp_path / "dest"
    dest.mkdir()
    for _ in range(2):
        placed = unpack_archive(archive, fmt, dest)
        assert sorted(p.relative_to(dest).as_posix() for p in placed) == sorted(n for n, _ in GOOD)
        for name, data in GOOD:
            assert (dest / name).read_bytes() == data
        assert not [p for p in dest.iterdir() if ".unpack-" in p.name]


HOSTILE_ZIPS = {
    "zip-slip": ([("../evil.txt", b"pwned")], None, "points outside the destination"),
    "deep zip-slip": ([("ok/../../evil.txt", b"pwned")], None, "points outside"),
    "absolute": ([("/tmp/evil.txt", b"pwned")], None, "absolute path"),
    "drive letter": ([("C:/evil.txt", b"pwned")], None, "absolute path"),
    "backslash": ([("..\\evil.txt", b"pwned")], None, "backslash"),
    "symlink": ([("fine.txt", b"ok")], ("link", "/etc/passwd"), "is a symlink"),
    "duplicate": ([("a.txt", b"1"), ("a.txt", b"2")], None, "appears twice"),
}


@pytest.mark.filterwarnings("ignore:Duplicate name")
@pytest.mark.parametrize("case", HOSTILE_ZIPS)
def test_hostile_zip_is_refused_and_leaves_nothing(tmp_path, case):
    members, link, message = HOSTILE_ZIPS[case]
    archive = make_zip(tmp_path / "evil.zip", members, link)
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(IntegrityError, match=message):
        unpack_archive(archive, "zip", dest)
    assert sorted(p.name for p in dest.iterdir()) == ["keep.txt"], "nothing extracted, no staging left"
    assert not (tmp_path / "evil.txt").exists()


HOSTILE_TARS = {
    "tar-slip": [("../evil.txt", b"pwned")],
    "symlink": [("fine.txt", b"ok"), special("link", tarfile.SYMTYPE, "/etc/passwd")],
    "hardlink": [("fine.txt", b"ok"), special("hl", tarfile.LNKTYPE, "fine.txt")],
    "device": [special("dev", tarfile.CHRTYPE)],
    "fifo": [special("fifo", tarfile.FIFOTYPE)],
}


@pytest.mark.parametrize("case", HOSTILE_TARS)
@pytest.mark.parametrize("fmt", ["tar", "gztar"])
def test_hostile_tar_is_refused(tmp_path, case, fmt):
    archive = make_tar(tmp_path / f"evil{EXT[fmt]}", fmt, HOSTILE_TARS[case])
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(IntegrityError, match="unsafe archive"):
        unpack_archive(archive, fmt, dest)
    assert list(dest.iterdir()) == []


def test_zip_bomb_stops_at_the_ratio_cap_quickly(tmp_path):
    archive = make_zip(tmp_path / "bomb.zip", [("zeros.bin", bytes(64 << 20))])
    assert archive.stat().st_size < 100_000
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(IntegrityError, match="zip bomb"):
        unpack_archive(archive, "zip", dest)
    assert list(dest.iterdir()) == []


def test_total_size_and_member_count_caps(tmp_path):
    archive = make_tar(tmp_path / "many.tar", "tar", [(f"f{i}", b"x" * 1000) for i in range(20)])
    dest = tmp_path / "d1"
    dest.mkdir()
    with pytest.raises(IntegrityError, match="more than 10 members"):
        safe_extract(archive, "tar", dest, ExtractLimits(max_members=10))
    dest = tmp_path / "d2"
    dest.mkdir()
    with pytest.raises(IntegrityError, match="more than 5,000 bytes"):
        safe_extract(archive, "tar", dest, ExtractLimits(max_total_bytes=5000))


def test_member_larger_than_its_header_is_caught(tmp_path):
    """A header that under-states a member's size is caught (zipfile's CRC check or our own count)."""
    archive = make_zip(tmp_path / "liar.zip", [("a.bin", b"A" * 5000)])
    raw = bytearray(archive.read_bytes())
    # Patch the uncompressed size (5000) to 100 in the central directory only: zipfile trusts it.
    cd = raw.rfind(b"PK\x01\x02")
    raw[cd + 24 : cd + 28] = (100).to_bytes(4, "little")
    archive.write_bytes(bytes(raw))
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(IntegrityError):
        safe_extract(archive, "zip", dest)


def test_garbage_and_wrong_format_are_integrity_errors(tmp_path):
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"this is not an archive" * 10)
    dest = tmp_path / "dest"
    dest.mkdir()
    for fmt in ("zip", "gztar", "xztar", "bztar"):
        with pytest.raises(IntegrityError, match=f"not a readable {fmt} archive"):
            unpack_archive(junk, fmt, dest)
    assert list(dest.iterdir()) == []


def test_regex_replace_counts(tmp_path):
    f = tmp_path / "s.json"
    f.write_text('{"op": "SoftmaxActivation", "x": "SoftmaxActivation"}')
    with pytest.raises(SpecError, match="matched 2 times in s.json, expected 1"):
        regex_replace(f, "SoftmaxActivation", "softmax", count=1)
    with pytest.raises(SpecError, match="matched nothing"):
        regex_replace(f, "Nope", "x")
    assert "SoftmaxActivation" in f.read_text(), "a failed replace leaves the file unchanged"
    assert regex_replace(f, "Softmax(Activation)", r"soft\1", count=2) == 2
    assert f.read_text() == '{"op": "softActivation", "x": "softActivation"}'


# --------------------------------------------------------------------------- through `sshconv download`


def _serve_model(tmp_path: Path, archive: Path, post: list[dict]) -> Path:
    """A model.yml whose only file is ``archive`` (correct size and sha256) reached through a file:// mirror."""
    data = archive.read_bytes()
    doc = {
        "files": [{"name": archive.name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}],
        "postprocessing": post,
        "framework": "mxnet",
    }
    model = tmp_path / "model.yml"
    model.write_text(yaml.safe_dump(doc))
    return model


def test_download_unpacks_and_replaces(tmp_path):
    src = tmp_path / "mirror"
    src.mkdir()
    archive = make_zip(src / "m.zip", GOOD)
    post = [
        {"$type": "unpack_archive", "file": "m.zip", "format": "zip"},
        {"$type": "regex_replace", "file": "sshb-symbol.json", "pattern": "nodes", "replacement": "NODES", "count": 1},
    ]
    model = _serve_model(tmp_path, archive, post)
    out = tmp_path / "out"
    args = ["download", "--model", model, "--output-dir", out, "--cache-dir", tmp_path / "c", "--mirror", src, "--json"]
    r = run_cli(*args)
    assert r.code == 0, r.err
    assert (out / "sshb-symbol.json").read_text() == '{"NODES": []}'
    assert (out / "sub/dir/sshb-0000.params").read_bytes() == GOOD[1][1]
    assert (out / "m.zip").exists()
    steps = json.loads(r.out)["postprocessing"]
    assert [s["kind"] for s in steps] == ["unpack_archive", "regex_replace"]
    again = run_cli(*args)
    assert again.code == 0 and json.loads(again.out)["up_to_date"] is True
    assert (out / "sshb-symbol.json").read_text() == '{"NODES": []}', "re-run did not replace twice"


@pytest.mark.parametrize("case", ["zip-slip", "symlink"])
def test_download_of_hostile_archive_with_correct_checksum_is_exit_4(tmp_path, case):
    members, link, message = HOSTILE_ZIPS[case]
    src = tmp_path / "mirror"
    src.mkdir()
    archive = make_zip(src / "m.zip", members, link)
    model = _serve_model(tmp_path, archive, [{"$type": "unpack_archive", "file": "m.zip", "format": "zip"}])
    out = tmp_path / "out"
    r = run_cli("download", "--model", model, "--output-dir", out, "--cache-dir", tmp_path / "c", "--mirror", src)
    assert_one_line_error(r, 4, "m.zip: unsafe archive", message)
    assert [p.name for p in out.iterdir() if not p.name.startswith(".sshconv-download.lock")] == []
    assert not (tmp_path / "evil.txt").exists()


def test_download_of_zip_bomb_is_exit_4(tmp_path):
    src = tmp_path / "mirror"
    src.mkdir()
    archive = make_zip(src / "m.zip", [("zeros.bin", bytes(32 << 20))])
    model = _serve_model(tmp_path, archive, [{"$type": "unpack_archive", "file": "m.zip", "format": "zip"}])
    out = tmp_path / "out"
    r = run_cli("download", "--model", model, "--output-dir", out, "--cache-dir", tmp_path / "c", "--mirror", src)
    assert_one_line_error(r, 4, "zip bomb")
    assert [p.name for p in out.iterdir() if p.name != ".sshconv-download.lock"] == []


def test_regex_replace_wrong_count_through_download_is_exit_2(tmp_path):
    src = tmp_path / "mirror"
    src.mkdir()
    archive = make_zip(src / "m.zip", GOOD)
    post = [
        {"$type": "unpack_archive", "file": "m.zip", "format": "zip"},
        {"$type": "regex_replace", "file": "sshb-symbol.json", "pattern": "nodes", "replacement": "x", "count": 3},
    ]
    model = _serve_model(tmp_path, archive, post)
    r = run_cli("download", "--model", model, "--output-dir", tmp_path / "o", "--cache-dir", tmp_path / "c", "--mirror", src)
    assert_one_line_error(r, 2, "postprocessing[1]", "matched 1 times in sshb-symbol.json, expected 3")


@pytest.mark.slow
def test_download_of_the_full_size_synthetic_archive(synth_dir, tmp_path):
    """The real layout: model.yml + the 73 MB archive from a mirror folder, unpacked to the checkpoint."""
    out = tmp_path / "out"
    args = [
        "download",
        "--model",
        synth_dir / "model.yml",
        "--output-dir",
        out,
        "--cache-dir",
        tmp_path / "c",
        "--mirror",
        synth_dir,
    ]
    r = run_cli(*args, "--json")
    assert r.code == 0, r.err
    for name in ("sshb-symbol.json", "sshb-0000.params"):
        assert (out / name).read_bytes() == (synth_dir / name).read_bytes()
    assert json.loads(r.out)["files"][0]["source"] == (synth_dir / "ssh-model-final.zip").resolve().as_uri()


def test_a_reader_that_yields_more_than_the_header_said_is_refused(tmp_path):
    """Our own count, not only zipfile's CRC: a member source that runs past its declared size is refused."""
    from pathlib import PurePosixPath

    from sshconv.download.archive import _Budget, _Member, _write_member

    archive = make_zip(tmp_path / "a.zip", [("a.bin", b"A")])
    dest = tmp_path / "dest"
    dest.mkdir()
    budget = _Budget(archive, ExtractLimits())
    with pytest.raises(IntegrityError, match=r"member 'a.bin' is larger than its header says \(100 bytes\)"):
        _write_member(io.BytesIO(b"A" * 5000), dest, _Member(PurePosixPath("a.bin"), False, 100), budget)


def test_documented_extraction_limits():
    """README: more than 10,000 members, more than 4 GiB in total, or more than 100x the archive's size are refused."""
    limits = ExtractLimits()
    assert (limits.max_members, limits.max_total_bytes, limits.max_ratio) == (10_000, 4 << 30, 100.0)
