"""What weightsearch writes on a trial, and how it is read back.

Few user attrs, written in as few storage calls as possible (each is a database round trip):
when a trial is created, ``weights`` (what it trains with) and ``claim`` (its point, the
process running it and, under ``device``, the device it runs on as that machine names it);
when it ends, ``values`` (metric means over seeds) and ``run`` (per-seed metrics, time,
``steps``, ``reports``, learning curves, weight trajectories), or ``error`` and ``traceback``. A
trial lost to a crash or Ctrl-C also has ``lost``; a running trial has ``heartbeat``.

``run["steps"]`` is the training the trial cost: its ``run.report`` calls summed over its seeds
(a seed that finished without reporting counts 1); ``run["reports"]`` is the first seed's count.
A sampler's proposal of a point the study has already trained is not trained again: its trial is
answered from the record and has ``repeat_of`` (the number of the trial that trained the point)
instead of ``run``. A trial of a ``--pruner halving`` study has ``rung`` (the index of the rung it
trains to; written when it is claimed); one stopped at a rung below the top is PRUNED and has
``values`` too (its metrics at that rung), which a pruner's kill never has.
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
# Key of the claim: the device the trial ran on (cpu, mps, cuda:N); absent in older studies.
DEVICE = "device"
REPEAT = "repeat_of"
RUNG = "rung"
# The study user attr of a --pruner halving study: factor, min_steps (as given, None: the
# default), full_steps and rungs; written once the task's full length is known.
HALVING = "halving"
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


def device(trial: FrozenTrial) -> str | None:
    claim = owner(trial)
    value = claim.get(DEVICE) if claim is not None else None
    return None if value is None else str(value)


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


def steps(trial: FrozenTrial) -> int:
    """The training steps the trial ran, summed over its seeds (0: none, or not known)."""
    return int(run_info(trial).get("steps", 0))


def repeat_of(trial: FrozenTrial) -> int | None:
    """The trial whose record answered this one, when it was a repeat of a trained point."""
    value = trial.user_attrs.get(REPEAT)
    return None if value is None else int(value)
