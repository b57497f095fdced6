"""A six-task recommender on generated click logs: six binary actions of very different rates.

Each impression pairs a user with a video; the user may read the comments, like, click the
author's avatar, forward, favourite or comment, as in short-video recommendation contests,
where the rarest action is two orders of magnitude rarer than the most frequent one. The logs
are generated: users and videos have latent tastes; every action's log-odds mix a taste match
shared by all actions with a match of the action's own, and rarer actions lean more on their
own. The model sees noisy user and video features, not the tastes.

The model is a shared bottom (an MLP over the user features, the video features and their
product) with one small tower per action, trained on the weighted sum of the six binary
cross-entropies. A rare action's loss and gradient are small, so with equal weights the common
actions own the shared bottom. The metric ``weighted_auc`` is the validation AUC of each
action, weighted 4:3:2:1:1:1 in the order above (the contest weighted its per-user AUCs so).

Six losses make the sum-to-one grid 4031 points with the default multipliers (see
BENCHMARKS.md): too many to train. Search the anchor-one space with TPE and the median pruner
instead (``run.report`` after every epoch lets it stop poor trials early):

    weightsearch power-scale examples/recommender.py --base 2 --exponents 0:5 \\
        --sampler tpe --n-trials 30 --sampler-seed 0 --study rec-tpe
    weightsearch compare examples/recommender.py --static rec-tpe \\
        --methods equal,uncertainty,gradnorm,mgda,famo --seeds 3 --study rec-compare

``--param epochs=N`` (default 6) sets the training length.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

import weightsearch as ws

# Action -> positive rate and weight in the metric.
ACTIONS = {
    "read_comment": (0.10, 4),
    "like": (0.06, 3),
    "click_avatar": (0.03, 2),
    "forward": (0.015, 1),
    "favorite": (0.007, 1),
    "comment": (0.003, 1),
}
TASTE, FEATURES, USERS, VIDEOS, BOTTOM = 8, 12, 4000, 1500, 8


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve: the chance that a positive outscores a negative (ties: half).

    Computed from the rank sum of the positives (Mann-Whitney U), ties given their mean rank.
    """
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    # Mean 1-based rank of each distinct score: ranks of a tied block are averaged.
    ends = np.cumsum(counts)
    mean_rank = ends - (counts - 1) / 2.0
    rank_sum = float(mean_rank[inverse][labels.astype(bool)].sum())
    return (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)


def make_logs(seed: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` impressions: model inputs and the six 0/1 actions (one column each)."""
    world = torch.Generator().manual_seed(2021)
    users = torch.randn(USERS, TASTE, generator=world)
    videos = torch.randn(VIDEOS, TASTE, generator=world)
    user_view = torch.randn(TASTE, FEATURES, generator=world) / TASTE**0.5
    video_view = torch.randn(TASTE, FEATURES, generator=world) / TASTE**0.5
    own = torch.randn(len(ACTIONS), TASTE, generator=world)
    draw = torch.Generator().manual_seed(seed)
    u = users[torch.randint(USERS, (n,), generator=draw)]
    v = videos[torch.randint(VIDEOS, (n,), generator=draw)]
    shared_match = (u * v).sum(-1) / TASTE**0.5
    own_match = (u * v) @ own.T / TASTE**0.5
    logits = []
    for k, (rate, _) in enumerate(ACTIONS.values()):
        share = 0.5 if rate >= 0.05 else 0.2  # rare actions follow their own taste more
        signal = 2.5 * (share * shared_match + (1 - share) ** 0.5 * own_match[:, k])
        # The bias that gives the action its positive rate, found by bisection.
        low, high = -20.0, 5.0
        for _ in range(40):
            middle = (low + high) / 2
            if torch.sigmoid(signal + middle).mean() < rate:
                low = middle
            else:
                high = middle
        logits.append(signal + low)
    actions = torch.bernoulli(torch.sigmoid(torch.stack(logits, 1)), generator=draw)
    xu = u @ user_view + 0.3 * torch.randn(n, FEATURES, generator=draw)
    xv = v @ video_view + 0.3 * torch.randn(n, FEATURES, generator=draw)
    return torch.cat([xu, xv, xu * xv], 1), actions


class SharedBottom(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.bottom = nn.Sequential(
            nn.Linear(3 * FEATURES, 64), nn.ReLU(), nn.Linear(64, BOTTOM), nn.ReLU()
        )
        self.towers = nn.ModuleList(
            nn.Sequential(nn.Linear(BOTTOM, 16), nn.ReLU(), nn.Linear(16, 1)) for _ in ACTIONS
        )
        # Start every tower at its action's log-odds: otherwise the first steps of a rare
        # action only push its logit down, through the shared bottom too.
        with torch.no_grad():
            for tower, (rate, _) in zip(self.towers, ACTIONS.values(), strict=True):
                tower[-1].bias.fill_(math.log(rate / (1 - rate)))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.bottom(x)
        return features, torch.cat([tower(features) for tower in self.towers], 1)


def evaluate(model: SharedBottom, x: torch.Tensor, actions: torch.Tensor) -> dict[str, float]:
    with torch.no_grad():
        _, logits = model(x)
    scores, labels = logits.numpy(), actions.numpy()
    per_action = {name: auc(scores[:, k], labels[:, k]) for k, name in enumerate(ACTIONS)}
    total = sum(weight for _, weight in ACTIONS.values())
    weighted = sum(per_action[name] * w for name, (_, w) in ACTIONS.items()) / total
    return {"weighted_auc": weighted, **{f"auc_{name}": a for name, a in per_action.items()}}


@ws.task(
    losses=list(ACTIONS),
    metrics={"weighted_auc": "maximize", **{f"auc_{name}": "maximize" for name in ACTIONS}},
)
def train(run: ws.Run) -> dict[str, float]:
    torch.set_num_threads(1)  # a model this small trains fastest on one thread
    torch.manual_seed(run.seed)
    epochs = int(run.params.get("epochs", 6))
    x, actions = make_logs(seed=100 + run.seed, n=int(run.params.get("impressions", 30000)))
    x_val, actions_val = make_logs(seed=999, n=30000)
    model = SharedBottom().to(run.device)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=float(run.params.get("lr", 0.05)), momentum=0.9
    )
    balancer = run.balancer(shared=model.bottom.parameters())
    bce = nn.BCEWithLogitsLoss()
    for epoch in range(epochs):
        for batch in torch.randperm(len(x)).split(512):
            features, logits = model(x[batch])
            losses = {name: bce(logits[:, k], actions[batch, k]) for k, name in enumerate(ACTIONS)}
            optimizer.zero_grad()
            balancer.backward(losses, features=features)
            optimizer.step()
        run.report(epoch, evaluate(model, x_val, actions_val))
    return evaluate(model, x_val, actions_val)
