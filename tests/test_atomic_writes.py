"""Nothing half-written, even when a signal lands between creating a temporary file and knowing its name, and no
temporary file of a writer killed with SIGKILL outlives the next successful write."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sshconv import fsutil

pytestmark = pytest.mark.quick

#: Run in a fresh interpreter: a real SIGTERM sent inside the test process would meet whatever native libraries
#: earlier tests loaded there (Ray's core worker crashes on it), which is not what is tested.
SIGTERM_AT_CREATION = """
import os, signal, sys, tempfile
from pathlib import Path
from sshconv import fsutil

class Term(KeyboardInterrupt):
    pass

def on_term(signum, frame):  # as the CLI turns SIGTERM into an exception, so that every cleanup runs
    raise Term()

signal.signal(signal.SIGTERM, on_term)
real = tempfile.mkstemp

def mkstemp_then_term(*a, **kw):
    made = real(*a, **kw)
    os.kill(os.getpid(), signal.SIGTERM)  # lands here, before mkstemp even returns the name
    return made

tempfile.mkstemp = mkstemp_then_term
try:
    fsutil.atomic_write_text(Path(sys.argv[1]) / "report.json", "{}")
except Term:
    print("terminated")
"""


def test_sigterm_just_as_the_temporary_file_is_created_leaves_nothing(tmp_path):
    """The signal arrives right after mkstemp made the file, before its name is known: it is held until the cleanup
    can see the file, then raised as the CLI raises it, and the file is gone."""
    res = subprocess.run([sys.executable, "-c", SIGTERM_AT_CREATION, str(tmp_path)], capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout.strip() == "terminated", res.stderr
    assert list(tmp_path.iterdir()) == [], "no temporary file, no report"


def test_a_killed_writers_temporary_files_go_with_the_next_successful_write(tmp_path):
    target = tmp_path / "manifest.json"
    code = (
        "import os, sys\n"
        "from sshconv.fsutil import atomic_path\n"
        f"with atomic_path({str(target)!r}) as tmp:\n"
        "    tmp.write_text('half')\n"
        "    os.kill(os.getpid(), 9)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True)
    assert proc.returncode == -9
    left = [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(left) == 1 and not target.exists(), "kill -9 leaves its temporary file (nothing can run on SIGKILL)"
    mine = fsutil.temp_path_for(target)  # a writer still running: its file is not touched
    fsutil.atomic_write_text(target, "whole")
    assert target.read_text() == "whole"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, mine.name])
    mine.unlink()


def test_a_killed_writers_files_go_whatever_suffix_its_library_added(tmp_path):
    """An IR is saved under the temporary name plus ``.xml``, and its weights plus ``.bin`` (OpenVINO's writer names
    the .bin after the .xml): killed there, both are a dead writer's leftovers, cleaned by the next write."""
    target = tmp_path / "ssh-mxnet.xml"
    code = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from sshconv.fsutil import atomic_path\n"
        f"with atomic_path({str(target)!r}) as tmp:\n"
        "    Path(str(tmp) + '.xml').write_text('<net/>')\n"
        "    Path(str(tmp) + '.bin').write_bytes(b'weights')\n"
        "    os.kill(os.getpid(), 9)\n"
    )
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == -9
    assert len(list(tmp_path.iterdir())) == 3, "the temporary name and the two the library added"
    fsutil.atomic_write_text(target, "<net/>")
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_a_folder_is_written_whole_or_not_at_all(tmp_path):
    """``atomic_folder`` (bundles): a failure halfway leaves nothing; a killed writer's temporary folder is removed by
    the next writer of the same folder; an existing target is refused."""
    import pytest

    from sshconv.errors import OutputError

    target = tmp_path / "release"
    with pytest.raises(RuntimeError), fsutil.atomic_folder(target) as tmp:
        (tmp / "half.bin").write_bytes(b"x" * 10)
        raise RuntimeError("the disk went away")
    assert list(tmp_path.iterdir()) == []
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".release.{dead.stdout.strip()}-abc{fsutil.TEMP_SUFFIX}"
    (stale / "sub").mkdir(parents=True)
    with fsutil.atomic_folder(target) as tmp:
        (tmp / "whole.bin").write_bytes(b"y")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["release"] and (target / "whole.bin").read_bytes() == b"y"
    with pytest.raises(OutputError, match="appeared while"), fsutil.atomic_folder(target) as tmp:
        pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["release"]


def test_what_appears_while_a_file_or_folder_is_written_is_left_as_it_is(tmp_path):
    """Another writer's file or folder, placed while ours was being written: kept, ours dropped, one clear error."""
    from sshconv.errors import OutputError

    target = tmp_path / "out.tar.gz"
    with pytest.raises(OutputError, match="appeared while it was being written"):
        with fsutil.atomic_path(target, replace=False) as tmp:
            tmp.write_bytes(b"ours")
            target.write_bytes(b"theirs")
    folder = tmp_path / "out"
    with pytest.raises(OutputError, match="appeared while the bundle was being written"):
        with fsutil.atomic_folder(folder, "bundle") as tmp:
            (tmp / "a").write_text("ours")
            folder.mkdir()
            (folder / "a").write_text("theirs")
    assert target.read_bytes() == b"theirs" and (folder / "a").read_text() == "theirs"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "out.tar.gz"]
    with fsutil.atomic_path(tmp_path / "new", replace=False) as tmp:  # nothing there: written as usual
        tmp.write_bytes(b"ours")
    assert (tmp_path / "new").read_bytes() == b"ours" and len(list(tmp_path.iterdir())) == 3
