"""Dataset-scale evaluation: the card's WIDER FACE mAP (the Open Model Zoo's accuracy checker) and the official
WIDER FACE Easy/Medium/Hard.

* :mod:`.omz`: the checker's ``retinaface`` adapter for this model, and its configuration;
* :mod:`.omz_map`: the checker's mAP (annotation filtering, matching, VOC AP), streamed;
* :mod:`.upstream`: mxnet-SSH's test protocol (one scale, or the pyramid);
* :mod:`.wider_ap`: WIDER FACE's official Easy/Medium/Hard evaluation; :mod:`.submission`: its files;
* :mod:`.engines`: what is evaluated (MXNet, IRs, ONNX), with the hashes of their files;
* :mod:`.worker`: one worker, every engine loaded once, one photo at a time;
* :mod:`.pool`: workers in this process, in processes, or on a Ray cluster (:mod:`.cluster`);
* :mod:`.ledger`: every photo's results on disk as they come (resumable);
* :mod:`.core`: :func:`evaluate`; :mod:`.report`: the HTML page.

Importing this package imports nothing heavy (``sshconv --help`` stays fast); the names
below load :mod:`.core` when first used.
"""

#: Where the ledger goes when no work folder is given (relative to the current folder).
DEFAULT_WORK_DIR = "sshconv-eval"
#: How photos become detections (:mod:`.upstream` has upstream's two) and what is computed from them.
PROTOCOLS = ("omz", "upstream", "upstream-pyramid")
DEFAULT_PROTOCOL = "omz"
METRICS = ("omz-map", "wider", "both")
DEFAULT_METRIC = "omz-map"
#: On a Ray cluster, seconds a run may have no worker able to run photos before it ends (exit 5; :mod:`.cluster`).
WORKER_WAIT = 120.0

__all__ = ["DEFAULT_METRIC", "DEFAULT_PROTOCOL", "DEFAULT_WORK_DIR", "METRICS", "PROTOCOLS", "WORKER_WAIT", "EvalResult",
           "evaluate", "find_dataset"]


def __getattr__(name: str):
    if name in ("EvalResult", "evaluate", "find_dataset"):
        from . import core

        return getattr(core, name)
    raise AttributeError(name)
