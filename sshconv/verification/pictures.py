"""Verify's pictures: histograms of each artifact's errors in tolerance units (matplotlib, Agg)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

#: Histogram bins, log-spaced over this range of tolerance units.
HIST_RANGE = (1e-6, 1e2)
HIST_BINS = 64


def tolerance_units(reference: np.ndarray, candidate: np.ndarray, atol: float, rtol: float) -> np.ndarray:
    """Element-wise ``|candidate - reference| / (atol + rtol * |reference|)``, flattened (``<= 1`` passes)."""
    ref = np.asarray(reference, dtype=np.float64).ravel()
    cand = np.asarray(candidate, dtype=np.float64).ravel()
    limit = atol + rtol * np.abs(ref)
    with np.errstate(divide="ignore", invalid="ignore"):
        units = np.abs(cand - ref) / limit
    return np.where(limit > 0, units, np.where(cand == ref, 0.0, np.inf))


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def histogram_png(output: str, series: Sequence[tuple[str, np.ndarray]]) -> bytes:
    """A PNG histogram of each artifact's errors (tolerance units, log axis) for one output."""
    plt = _pyplot()
    lo, hi = HIST_RANGE
    bins = np.logspace(np.log10(lo), np.log10(hi), HIST_BINS + 1)
    fig, ax = plt.subplots(figsize=(5.6, 2.6 + 0.16 * len(series)), dpi=100)
    try:
        for label, units in series:
            finite = np.asarray(units, dtype=np.float64)
            exact = int(np.count_nonzero(finite == 0))
            shown = np.clip(finite[finite > 0], lo, hi)  # out-of-range errors pile into the end bins
            worst = float(np.max(finite)) if finite.size else 0.0
            ax.hist(shown, bins=bins, histtype="step", linewidth=1.6, label=f"{label} (max {worst:.3g}, {exact} exact)")
        ax.axvline(1.0, color="#c00", linestyle="--", linewidth=1.2)
        ax.text(1.0, 0.97, " tolerance", color="#c00", transform=ax.get_xaxis_transform(), va="top", fontsize=8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        ax.set_xlabel("|IR - MXNet| / (atol + rtol·|MXNet|)", fontsize=8)
        ax.set_ylabel("elements", fontsize=8)
        ax.set_title(output, fontsize=9, family="monospace")
        ax.tick_params(labelsize=7)
        ax.grid(True, which="major", alpha=0.25)
        fig.tight_layout()
        # The legend goes under the axes, where it cannot hide a curve.
        height = fig.get_figheight()
        legend_in = 0.16 * len(series) + 0.15
        fig.subplots_adjust(bottom=(legend_in + 0.45) / height)
        fig.legend(fontsize=7, loc="lower left", bbox_to_anchor=(0.08, 0.0), frameon=False, ncol=1)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)
