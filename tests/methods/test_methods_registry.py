"""The registry, create(), describe() and --method-arg parsing."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
import torch

import weightsearch.methods as registry
from weightsearch import methods
from weightsearch.methods.base import Balancer

REQUIRED = [
    "equal", "static", "uncertainty", "gradnorm", "mgda", "dwa", "rlw", "gls", "pcgrad",
    "cagrad", "imtl", "aligned-mtl", "nash-mtl", "famo", "db-mtl",
]  # fmt: skip


def _all_subclasses(cls: type) -> set[type]:
    found = set()
    for sub in cls.__subclasses__():
        found |= {sub, *_all_subclasses(sub)}
    return found


def test_every_method_class_is_registered() -> None:
    for module in pkgutil.iter_modules(registry.__path__):
        importlib.import_module(f"weightsearch.methods.{module.name}")
    concrete = {
        c
        for c in _all_subclasses(Balancer)
        if not inspect.isabstract(c) and c.__module__.startswith("weightsearch.methods")
    }
    # Every class is what its name resolves to: a built-in, or a torchjd:<Aggregator> method.
    unlisted = [c for c in concrete if methods.method_class(c.name) is not c]
    assert not unlisted, "a Balancer subclass is missing from the registry"
    builtin = {c for c in concrete if not c.name.startswith("torchjd:")}
    assert builtin == {methods.method_class(name) for name in methods.available()}


def test_available_has_the_documented_methods() -> None:
    assert set(REQUIRED) <= set(methods.available())


def test_describe_gives_kind_reference_and_defaults() -> None:
    infos = {info.name: info for info in methods.describe()}
    builtin = [name for name in infos if not name.startswith("torchjd:")]
    assert builtin == methods.available()
    assert list(infos)[: len(builtin)] == builtin  # torchjd's aggregators, if any, come after
    for info in (infos[name] for name in builtin):
        assert info.kind in ("loss-level", "gradient-level", "representation-level")
        assert info.reference
        assert info.summary
        for h in info.hyperparameters:
            assert h.help, f"{info.name}.{h.name} has no help text"
    mgda = {h.name: h for h in infos["mgda"].hyperparameters}
    assert mgda["normalization"].default == "loss+"
    assert mgda["normalization"].choices == ("none", "l2", "loss", "loss+")
    gradnorm = {h.name: h.default for h in infos["gradnorm"].hyperparameters}
    assert gradnorm == {"alpha": 1.5, "lr": 0.025, "layer": "last"}
    assert {h.name: h.default for h in infos["dwa"].hyperparameters} == {"temperature": 2.0}
    assert {h.name: h.default for h in infos["cagrad"].hyperparameters} == {"c": 0.4}
    uncertainty = {h.name: h.default for h in infos["uncertainty"].hyperparameters}
    assert uncertainty["form"] == "kendall"
    assert infos["equal"].to_dict()["hyperparameters"] == {}


def test_parse_method_args_converts_types() -> None:
    parsed = methods.parse_method_args(
        [
            "mgda.normalization=l2",
            "mgda.use_features=false",
            "gradnorm.alpha=1",
            "nash-mtl.update_weights_every=5",
            "static.weights=a:0.5,b:2",
        ]
    )
    assert parsed == {
        "mgda": {"normalization": "l2", "use_features": False},
        "gradnorm": {"alpha": 1.0},
        "nash-mtl": {"update_weights_every": 5},
        "static": {"weights": {"a": 0.5, "b": 2.0}},
    }
    assert isinstance(parsed["gradnorm"]["alpha"], float)


@pytest.mark.parametrize(
    ("item", "words"),
    [
        ("mgda.normalization=l3", ["none|l2|loss|loss+", "'l3'", "Example"]),
        ("gradnorm.alpha=high", ["float", "'high'"]),
        ("nash-mtl.update_weights_every=1.5", ["int", "'1.5'"]),
        ("mgda.alpha=1", ["normalization", "'alpha'"]),
        ("unknown.x=1", ["one of", "equal", "'unknown'"]),
        ("mgda=1", ["METHOD.KEY=VALUE"]),
        ("mgda.normalization", ["METHOD.KEY=VALUE"]),
        ("gradnorm.alpha=nan", ["float"]),
    ],
)
def test_parse_method_args_errors_are_plain(item: str, words: list[str]) -> None:
    with pytest.raises(ValueError, match="but got") as error:
        methods.parse_method_args([item])
    for word in words:
        assert word in str(error.value)


def test_create_rejects_unknown_methods_and_hyperparameters() -> None:
    w = torch.nn.Parameter(torch.ones(2))
    with pytest.raises(ValueError, match=r"method must be one of .*mgda.*but got 'mdga'"):
        methods.create("mdga", ["a"], [w])
    with pytest.raises(ValueError, match=r"takes hyperparameters normalization.*'norm'"):
        methods.create("mgda", ["a"], [w], norm="l2")
    with pytest.raises(ValueError, match=r"must be none\|l2\|loss\|loss\+, but got 'L2'"):
        methods.create("mgda", ["a"], [w], normalization="L2")
    with pytest.raises(ValueError, match="must be float, but got '1'"):
        methods.create("gradnorm", ["a"], [w], alpha="1")
    with pytest.raises(ValueError, match="positive"):
        methods.create("dwa", ["a"], [w], temperature=0.0)
    with pytest.raises(ValueError, match="unique"):
        methods.create("equal", ["a", "a"], [w])
    with pytest.raises(ValueError, match="needs the shared parameters"):
        methods.create("mgda", ["a", "b"], [])


def test_shared_may_be_a_generator_or_one_tensor() -> None:
    net = torch.nn.Linear(2, 1)
    b = methods.create("mgda", ["a", "b"], shared=net.parameters())
    assert len(b.shared) == 2
    assert len(methods.create("mgda", ["a"], shared=net.weight).shared) == 1


def test_static_weights_and_equal_defaults() -> None:
    w = torch.nn.Parameter(torch.ones(1))
    assert methods.create("equal", ["a", "b"], [w]).weights == {"a": 1.0, "b": 1.0}
    b = methods.create("static", ["a", "b"], [w], weights={"a": 0.25})
    assert b.weights == {"a": 0.25, "b": 1.0}
    with pytest.raises(ValueError, match=r"unknown \['z'\]"):
        methods.create("static", ["a", "b"], [w], weights={"z": 1.0})
    with pytest.raises(ValueError, match="finite non-negative"):
        methods.create("static", ["a", "b"], [w], weights={"a": float("nan")})


def test_hyperparameters_text_for_the_table() -> None:
    infos = {info.name: info for info in methods.describe()}
    assert infos["mgda"].hyperparameters_text() == (
        "normalization=loss+ (none|l2|loss|loss+), use_features=True"
    )
    assert infos["equal"].hyperparameters_text() == "-"


def test_a_shared_tensor_listed_twice_counts_once() -> None:
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    b = methods.create("pcgrad", ["a", "b"], [w, w])
    b.backward({"a": w.sum(), "b": (2 * w).sum()})
    torch.testing.assert_close(w.grad, torch.tensor([3.0, 3.0]))


def test_check_arguments_raises_what_create_raises() -> None:
    shared = [torch.nn.Parameter(torch.zeros(2))]
    methods.check_arguments("mgda", ["a", "b"], {"normalization": "l2"})  # valid: no error
    methods.check_arguments("static", ["a", "b"], {"weights": {"a": 1.0}})
    cases = [
        ("nosuch", ["a", "b"], {}, "method must be one of"),
        ("mgda", ["a", "b"], {"normalization": "l3"}, "mgda.normalization must be"),
        ("mgda", ["a", "b"], {"nosuch": 1}, "mgda takes hyperparameters"),
        ("nash-mtl", ["a", "b"], {"update_weights_every": 0}, "must be >= 1"),
        ("equal", ["a", "a"], {}, "loss names must be unique"),
        ("static", ["a", "b"], {"weights": {"c": 1.0}}, "must name declared losses"),
    ]
    for name, losses, hyperparameters, rule in cases:
        with pytest.raises(ValueError, match=rule) as raised:
            methods.create(name, losses, shared, **hyperparameters)
        with pytest.raises(ValueError, match=rule) as checked:
            methods.check_arguments(name, losses, hyperparameters)
        assert str(checked.value) == str(raised.value)


def test_the_facade_exports_what_it_names_and_methods_import_no_optuna() -> None:
    for name in methods.__all__:
        assert hasattr(methods, name), name
    for cls in methods.method_class.__globals__["_CLASSES"]:
        assert getattr(methods, cls.__name__) is cls
    for module in pkgutil.iter_modules(registry.__path__):
        source = inspect.getsource(importlib.import_module(f"weightsearch.methods.{module.name}"))
        assert "import optuna" not in source
        assert "from optuna" not in source
