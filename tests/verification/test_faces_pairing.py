"""How verify pairs a faces artifact's faces with the reference's (NumPy only: both stacks, the quick tier).

Greedy NMS over near-tied scores can go either way, and one tie decides a chain: A over B, B over C. The
artifact's faces are judged as one NMS outcome of the reference's own pool; a face that no NMS order could
keep, or lose, is still extra, or missed.
"""

from __future__ import annotations

import numpy as np
import pytest

from sshconv.verification.faces import FACE_IOU, pair_faces

pytestmark = pytest.mark.quick
NMS, SLACK, FLOOR = 0.3, 0.05, 0.05
# Three boxes in a row: A and B overlap past NMS's threshold (0.43), B and C too, A and C do not (0.12).
A, B, C = [0, 0, 100, 100], [40, 0, 140, 100], [80, 0, 180, 100]


def _faces(*rows):
    return np.array(rows, np.float32).reshape(-1, 5)


def _pair(ref, got, pool):
    return pair_faces(ref, pool, got, FACE_IOU, FLOOR, SLACK, NMS)


@pytest.mark.parametrize(
    "ref, got",
    [
        # The reference kept A (0.99) and so C; the artifact took B (0.98, a near tie) first, and B took C with it.
        (_faces(A + [0.99], C + [0.5]), _faces(B + [0.98])),
        # The other way round: the reference kept B; the artifact kept A, and C, which B no longer suppressed.
        (_faces(B + [0.99]), _faces(A + [0.98], C + [0.5])),
    ],
)
def test_a_chain_decided_by_one_near_tie_is_neither_missed_nor_extra(ref, got):
    pool = _faces(A + [0.99], B + [0.98], C + [0.5])
    frame = _pair(ref, got, pool)
    assert (frame["missed"], frame["extra"]) == (0, 0), frame


def test_what_no_nms_order_gives_is_still_missed_or_extra():
    pool = _faces(A + [0.99], B + [0.98], C + [0.5])
    ref = _faces(A + [0.99], C + [0.5])
    # NMS switched off: A and B kept side by side.
    assert _pair(ref, _faces(A + [0.99], B + [0.98], C + [0.5]), pool)["extra"] == 1
    # C dropped although nothing the artifact kept overlaps it.
    assert _pair(ref, _faces(A + [0.99]), pool)["missed"] == 1
    # B kept beside A, which the artifact kept too and which clearly outranks it.
    clear = _faces(A + [0.99], B + [0.6], C + [0.5])
    assert _pair(ref, _faces(A + [0.99], B + [0.6], C + [0.5]), clear)["extra"] == 1
    # A box that is no candidate of the reference at all.
    assert _pair(ref, _faces(A + [0.99], C + [0.5], [300, 300, 400, 400, 0.9]), pool)["extra"] == 1
