"""A valid two-loss task whose metrics are a known function of the method, the seed and the weights.

Written from the task contract only (DESIGN section 2). It trains one shared scalar for a few
steps through ``run.balancer(...)`` and ``backward`` (so every method really runs and its weights
move), reports each step, then returns metrics looked up in a table instead of measured, so the
statistics of a compare are known in advance:

- adaptive methods and ``equal`` return ``score`` (maximize) and ``cost`` (minimize) from
  ``TABLES[--param scenario]`` by method and seed;
- static weights (a grid or a ``static:`` contender) return ``score = cost = 10 * share of a``
  (a trade-off: every sum-to-one vector is Pareto-optimal), the same on every seed;
- ``--param fail=METHOD:SEED;...`` (or ``METHOD``, or ``all``) makes those runs raise.
"""

from __future__ import annotations

import torch

import weightsearch as ws

STEPS = 5
LEARNING_RATE = 0.1

# scenario -> method -> [(score, cost) for seeds 0, 1, 2]
TABLES: dict[str, dict[str, list[tuple[float, float]]]] = {
    # uncertainty is better than equal by about 1 on every seed: a clear, significant effect.
    "clear": {
        "equal": [(1.0, 5.0), (2.0, 5.0), (3.0, 5.0)],
        "uncertainty": [(2.0, 4.0), (3.1, 4.5), (3.9, 4.2)],
        "gradnorm": [(1.1, 5.2), (1.9, 5.1), (3.3, 5.3)],
        "mgda": [(0.5, 6.0), (1.7, 6.1), (2.6, 6.3)],
    },
    # uncertainty has the best mean, but its differences to equal swing in sign: noise.
    "noisy": {
        "equal": [(1.0, 5.0), (2.0, 5.0), (3.0, 5.0)],
        "uncertainty": [(2.5, 5.5), (1.6, 4.0), (3.2, 5.2)],
        "gradnorm": [(1.2, 5.1), (1.9, 4.9), (3.1, 5.2)],
        "mgda": [(0.4, 4.8), (2.2, 5.3), (2.9, 5.1)],
    },
    # Mean points against the static front {(2, 2), (5, 5), (8, 8)} of a 1,4 grid on a, b:
    # equal (4, 6) and mgda (1.5, 2.5) are dominated, uncertainty (9, 8.5) and
    # gradnorm (6, 5.5) are not.
    "pareto": {
        "equal": [(4.1, 6.0), (4.0, 6.1), (3.9, 5.9)],
        "uncertainty": [(9.0, 8.4), (9.1, 8.5), (8.9, 8.6)],
        "gradnorm": [(6.0, 5.6), (6.1, 5.4), (5.9, 5.5)],
        "mgda": [(1.4, 2.5), (1.5, 2.6), (1.6, 2.4)],
    },
}


def _failing(spec: str, method: str, seed: int) -> bool:
    parts = {part.strip() for part in str(spec).split(";") if part.strip()}
    return bool(parts & {"all", method, f"{method}:{seed}"})


def metrics(run: ws.Run) -> dict[str, float]:
    """What this run returns: the table's numbers, or the static trade-off."""
    if run.method == "static":
        share = run.weights["a"] / (run.weights["a"] + run.weights["b"])
        return {"score": 10.0 * share, "cost": 10.0 * share}
    score, cost = TABLES[str(run.params.get("scenario", "clear"))][run.method][run.seed]
    return {"score": score, "cost": cost}


@ws.task(losses=["a", "b"], metrics={"score": "maximize", "cost": "minimize"})
def train(run: ws.Run) -> dict[str, float]:
    if _failing(run.params.get("fail", ""), run.method, run.seed):
        raise RuntimeError(f"scripted failure of {run.method} on seed {run.seed}")
    torch.manual_seed(run.seed)
    shared = torch.zeros(1, requires_grad=True)
    balancer = run.balancer(shared=[shared])
    for step in range(STEPS):
        losses = {"a": ((shared - 1.0) ** 2).sum(), "b": (4.0 * (shared + 1.0) ** 2).sum()}
        balancer.backward(losses)
        with torch.no_grad():
            shared -= LEARNING_RATE * shared.grad
        shared.grad = None
        run.report(step, {name: float(loss.detach()) for name, loss in losses.items()})
    return metrics(run)
