"""Stage 1, download: the files of model.yml, by checksum, from sources, mirrors, a cache or a local copy.

:func:`download_model` is the entry point (:mod:`.core`); :mod:`.transfer` makes one
resumable attempt, :mod:`.sources` retries and orders the sources, :mod:`.cache` and
the ground floor's :mod:`sshconv.locking` keep verified files and keep processes apart, :mod:`.postprocess` and
:mod:`.archive` unpack and edit what arrived. Numbers a user sees are in :mod:`.settings`.
"""

from ..places import default_cache_dir, default_output_dir
from .core import DownloadResult, FileResult, download_model

__all__ = ["DownloadResult", "FileResult", "default_cache_dir", "default_output_dir", "download_model"]
