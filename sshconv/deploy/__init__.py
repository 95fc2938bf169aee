"""Stage 4, deploy: what deployment teams use the converted model for.

:mod:`.decode` turns outputs into face boxes (the SSH anchors, deltas and NMS),
:mod:`.images` reads and fits photos, :mod:`.detect` finds faces on photos with an IR,
:mod:`.bench` times every engine against the machine's ceiling, and :mod:`.report` draws
the verifier's result as one self-contained HTML page.
"""
