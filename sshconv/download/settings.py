"""The download stage's settings: every number a user sees, and the default folders."""

from __future__ import annotations

#: Extra attempts per source after a transient failure (5xx, 429, timeout, broken connection).
DEFAULT_RETRIES = 3


#: Connect timeout and read timeout (seconds without a byte), each.
DEFAULT_TIMEOUT = 30.0


#: Backoff before retry k (1-based): min(BACKOFF_MAX, BACKOFF_BASE * 2**(k-1)), times a jitter in [0.5, 1].
BACKOFF_BASE = 0.5


BACKOFF_MAX = 30.0


#: A server's Retry-After is honoured up to this many seconds.
RETRY_AFTER_MAX = 120.0


#: How long to wait for another sshconv process holding the output folder's or the cache's lock.
LOCK_TIMEOUT = 900.0


#: An attempt that advanced the download does not use up a retry (unless retries is 0, which never
#: retries); this caps the attempts per source anyway.
MAX_ATTEMPTS_PER_SOURCE = 50


#: HTTP statuses worth retrying; every other 4xx (403, 404, 410, ...) is final for that source.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


USER_AGENT = "sshconv (+https://github.com/deepinsight/mxnet-SSH model downloader)"


MANIFEST = ".sshconv-download.json"


LOCK_NAME = ".sshconv-download.lock"
