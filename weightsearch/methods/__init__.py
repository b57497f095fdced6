"""Balancing methods: how the task losses of a multi-task model are combined into gradients.

``create(name, losses, shared, **hyperparameters)`` is the one way in::

    from weightsearch import methods

    b = methods.create("mgda", losses=["a", "b"], shared=model.trunk.parameters())
    weights = b.backward({"a": la, "b": lb})  # fills .grad like loss.backward()

``available()`` lists the names, ``describe()`` gives each method's kind, reference and
hyperparameters (what ``weightsearch methods`` prints), and ``parse_method_args`` reads
``--method-arg METHOD.KEY=VALUE`` options. With torchjd installed, each of its aggregators is a
method too, named ``torchjd:<Aggregator>`` (see ``torchjd_aggregators``).
"""

from __future__ import annotations

from weightsearch.methods.aligned_mtl import AlignedMTL
from weightsearch.methods.arguments import parse_method_args
from weightsearch.methods.base import Balancer, Kind, Scale
from weightsearch.methods.cagrad import CAGrad
from weightsearch.methods.db_mtl import DBMTL
from weightsearch.methods.dwa import DWA
from weightsearch.methods.equal import Equal
from weightsearch.methods.famo import FAMO
from weightsearch.methods.gls import GLS
from weightsearch.methods.gradnorm import GradNorm
from weightsearch.methods.hyperparameters import Hyperparameter
from weightsearch.methods.imtl import IMTL
from weightsearch.methods.mgda import MGDA
from weightsearch.methods.nash_mtl import NashMTL
from weightsearch.methods.pcgrad import PCGrad
from weightsearch.methods.registry import (
    MethodInfo,
    available,
    check_arguments,
    create,
    describe,
    method_class,
)
from weightsearch.methods.rlw import RLW
from weightsearch.methods.static import Static
from weightsearch.methods.uncertainty import Uncertainty

__all__ = [
    "DBMTL",
    "DWA",
    "FAMO",
    "GLS",
    "IMTL",
    "MGDA",
    "RLW",
    "AlignedMTL",
    "Balancer",
    "CAGrad",
    "Equal",
    "GradNorm",
    "Hyperparameter",
    "Kind",
    "MethodInfo",
    "NashMTL",
    "PCGrad",
    "Scale",
    "Static",
    "Uncertainty",
    "available",
    "check_arguments",
    "create",
    "describe",
    "method_class",
    "parse_method_args",
]
