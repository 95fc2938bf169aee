"""What eval reads of a dataset, before any model runs: only regular files, never waited on."""

from __future__ import annotations

import os
import threading

import pytest

from sshconv.dataset.photos import make_photos
from sshconv.errors import InputError
from sshconv.evaluation.core import _tasks, find_dataset

pytestmark = pytest.mark.quick


def test_a_photo_that_is_a_named_pipe_is_refused_not_waited_on(tmp_path):
    make_photos(tmp_path, count=2, seed=3)
    ds = find_dataset(tmp_path)
    first = next(iter(ds.photos()))
    photo = ds.images / first.path
    photo.unlink()
    os.mkfifo(photo)
    timer = threading.Timer(30, lambda: open(photo, "wb").close())  # unblocks a reader that waits, so the test ends
    timer.start()
    try:
        with pytest.raises(InputError, match="named pipe .* not a regular file"):
            next(_tasks(ds, {}, {}))
    finally:
        timer.cancel()


def test_a_photo_that_is_a_folder_is_refused(tmp_path):
    make_photos(tmp_path, count=1, seed=3)
    ds = find_dataset(tmp_path)
    photo = ds.images / next(iter(ds.photos())).path
    photo.unlink()
    photo.mkdir()
    with pytest.raises(InputError, match="is a folder, not a regular file"):
        next(_tasks(ds, {}, {}))
