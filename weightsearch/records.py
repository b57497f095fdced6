"""What weightsearch writes on a trial, and how it is read back.

Few user attrs, written in as few storage calls as possible (each is a database round trip):
when a trial is created, ``weights`` (what it trains with) and ``claim`` (its point and the
process running it); when it ends, ``values`` (metric means over seeds) and ``run`` (per-seed
metrics, time, learning curves, weight trajectories), or ``error`` and ``traceback``. A trial
lost to a crash or Ctrl-C also has ``lost``; a running trial has ``heartbeat``. A trial of a
``--pruner halving`` study has ``rung`` (the index of the rung it trains to; written when it is
claimed); one stopped at a rung below the top is PRUNED and has ``values`` too (its metrics at
that rung), which a pruner's kill never has. ``run`` holds ``reports``, the ``run.report`` count.
"""

from __future__ import annotations

from typing import Any

from optuna.trial import FrozenTrial, TrialState

WEIGHTS = "weights"
CLAIM = "claim"
VALUES = "values"
RUN = "run"
ERROR = "error"
TRACEBACK = "traceback"
LOST = "lost"
HEARTBEAT = "heartbeat"
RUNG = "rung"
# The study user attr of a --pruner halving study: factor, min_steps (as given, None: the
# default), full_steps and rungs; written once the task's full length is known.
HALVING = "halving"
# The method of a compare trial is one of its parameters; weight searches train "static".
METHOD_PARAM = "method"
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
    return str(trial.params.get(METHOD_PARAM, "static"))


def values(trial: FrozenTrial) -> dict[str, float]:
    return dict(trial.user_attrs.get(VALUES, {}))


def run_info(trial: FrozenTrial) -> dict[str, Any]:
    info = trial.user_attrs.get(RUN)
    return info if isinstance(info, dict) else {}


def seed_values(trial: FrozenTrial) -> dict[int, dict[str, float]]:
    """Metrics per seed (stored with string keys, as JSON has them)."""
    return {int(seed): v for seed, v in run_info(trial).get("seeds", {}).items()}


def rung(trial: FrozenTrial) -> int | None:
    """The halving rung a trial trained to (None: not a rung trial, or the full-length one)."""
    value = trial.user_attrs.get(RUNG)
    return value if isinstance(value, int) else None


def reached_rung(trial: FrozenTrial, halving: Any) -> int | None:
    """The rung a trial of a halving study (``halving``: its settings) reached.

    A full-length trial without a ``rung`` (the first, which learns the length) is at the top.
    """
    if not isinstance(halving, dict) or point_key(trial) is None:
        return None
    value = rung(trial)
    if value is not None:
        return value
    return len(halving.get("rungs", [])) - 1 if trial.state == TrialState.COMPLETE else None


def error(trial: FrozenTrial) -> str | None:
    value = trial.user_attrs.get(ERROR)
    return None if value is None else str(value)
