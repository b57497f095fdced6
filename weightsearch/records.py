"""What weightsearch writes on a trial, and how it is read back.

Few user attrs, written in as few storage calls as possible (each is a database round trip):
when a trial is created, ``weights`` (what it trains with) and ``claim`` (its point, the
process running it and, under ``device``, the device it runs on as that machine names it);
when it ends, ``values`` (metric means over seeds) and ``run`` (per-seed metrics, time,
learning curves, weight trajectories), or ``error`` and ``traceback``. A trial
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
# Key of the claim: the device the trial ran on (cpu, mps, cuda:N); absent in older studies.
DEVICE = "device"
# The method of a compare trial is one of its parameters; weight searches train "static".
METHOD_PARAM = "method"
SEED_PARAM = "seed"


def point_key(trial: FrozenTrial) -> str | None:
    claim = trial.user_attrs.get(CLAIM)
    return claim.get("point") if isinstance(claim, dict) else None


def owner(trial: FrozenTrial) -> dict[str, Any] | None:
    claim = trial.user_attrs.get(CLAIM)
    return claim if isinstance(claim, dict) else None


def device(trial: FrozenTrial) -> str | None:
    claim = owner(trial)
    value = claim.get(DEVICE) if claim is not None else None
    return None if value is None else str(value)


def weights(trial: FrozenTrial) -> dict[str, float]:
    return dict(trial.user_attrs.get(WEIGHTS, {}))


def method(trial: FrozenTrial) -> str:
    return str(trial.params.get(METHOD_PARAM, "static"))


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
