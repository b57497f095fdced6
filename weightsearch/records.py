"""What weightsearch writes on a trial, and how it is read back.

Few user attrs, written in as few storage calls as possible (each is a database round trip):
when a trial is created, ``weights`` (what it trains with) and ``claim`` (its point and the
process running it); when it ends, ``values`` (metric means over seeds) and ``run`` (per-seed
metrics, time, learning curves, weight trajectories), or ``error`` and ``traceback``. A trial
lost to a crash or Ctrl-C also has ``lost``; a running trial has ``heartbeat``.
"""

from __future__ import annotations

from typing import Any

from optuna.trial import FrozenTrial

WEIGHTS = "weights"
CLAIM = "claim"
VALUES = "values"
RUN = "run"
ERROR = "error"
TRACEBACK = "traceback"
LOST = "lost"
HEARTBEAT = "heartbeat"
# The method of a compare trial is one of its parameters; weight searches train "static". A
# contender added to an existing comparison can't be a new choice of that parameter (Optuna fixes
# a categorical's choices per study): its trials hold the method in a user attr of the same name.
METHOD_PARAM = "method"
METHOD_ATTR = "method"
SEED_PARAM = "seed"


def point_key(trial: FrozenTrial) -> str | None:
    claim = trial.user_attrs.get(CLAIM)
    return claim.get("point") if isinstance(claim, dict) else None


def owner(trial: FrozenTrial) -> dict[str, Any] | None:
    claim = trial.user_attrs.get(CLAIM)
    return claim if isinstance(claim, dict) else None


def weights(trial: FrozenTrial) -> dict[str, float]:
    return dict(trial.user_attrs.get(WEIGHTS, {}))


def method(trial: FrozenTrial) -> str:
    return str(trial.params.get(METHOD_PARAM, trial.user_attrs.get(METHOD_ATTR, "static")))


def values(trial: FrozenTrial) -> dict[str, float]:
    return dict(trial.user_attrs.get(VALUES, {}))


def run_info(trial: FrozenTrial) -> dict[str, Any]:
    info = trial.user_attrs.get(RUN)
    return info if isinstance(info, dict) else {}


def seed_values(trial: FrozenTrial) -> dict[int, dict[str, float]]:
    """Metrics per seed (stored with string keys, as JSON has them)."""
    return {int(seed): v for seed, v in run_info(trial).get("seeds", {}).items()}


def error(trial: FrozenTrial) -> str | None:
    value = trial.user_attrs.get(ERROR)
    return None if value is None else str(value)
