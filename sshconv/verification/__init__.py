"""Stage 3, verification: the converted models against MXNet (or a golden file), and proof that it can fail.

:func:`verify` (:mod:`.core`) plans one run per model (:mod:`.targets`, :mod:`.controls`),
on the same inputs (:mod:`.samples`), and compares each pair with one function
(:mod:`.compare`, :mod:`.tolerances`); results are data (:mod:`.results`), references can
be stored (:mod:`.golden`), and a failure is traced to its first diverging tensor
(:mod:`.divergence`). (The package is ``verification`` so that ``sshconv.verify`` stays the function.)
"""

from .core import EXECUTION, VerifyOptions, verify
from .results import CheckResult, ControlResult, Sample, VerifyResult
from .samples import DEFAULT_SAMPLES, DEFAULT_SEED, make_samples

__all__ = [
    "DEFAULT_SAMPLES",
    "DEFAULT_SEED",
    "EXECUTION",
    "CheckResult",
    "ControlResult",
    "Sample",
    "VerifyOptions",
    "VerifyResult",
    "make_samples",
    "verify",
]
