"""Which models a command runs, and how each is opened: one plan (:mod:`.plan`) and one runner factory (:mod:`.runners`).

Above conversion (it reads a conversion's manifest) and below every command that runs
models: verification, deploy, evaluation and the demo.
"""

from .plan import REFERENCE, Engine, Plan, checkpoint_of, engine_label, model_hashes, plan_engines
from .runners import open_runner

__all__ = ["REFERENCE", "Engine", "Plan", "checkpoint_of", "engine_label", "model_hashes", "open_runner", "plan_engines"]
