"""Tolerances per output: model.yml's tolerance set, then overrides per family, then per output."""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import UsageError
from ..model.spec import OUTPUT_FAMILIES, ModelSpec, Tolerance, output_family


def resolve_tolerances(
    spec: ModelSpec, tolerance_set: str, overrides: Mapping[str, Mapping[str, float]] | None = None
) -> dict[str, Tolerance]:
    """Tolerance per output: model.yml (or defaults), then family overrides, then per-output overrides.

    ``overrides`` is ``{family or output name: {"atol": v, "rtol": v}}``.
    """
    overrides = overrides or {}
    names = spec.output_names
    for key in overrides:
        if key not in names and key not in OUTPUT_FAMILIES:
            raise UsageError(
                f"tolerance override {key!r}: not an output or family; use one of {', '.join(OUTPUT_FAMILIES)} "
                f"or an output name ({names[0]}, ...)"
            )
    result = {}
    for name in names:
        tol = spec.tolerance(tolerance_set, name)
        for key in (output_family(name), name):
            o = overrides.get(key, {})
            tol = Tolerance(o.get("atol", tol.atol), o.get("rtol", tol.rtol))
        result[name] = tol
    return result
