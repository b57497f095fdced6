"""Successive-halving arithmetic: rungs and ASHA promotions, checked against hand-worked cases."""

from __future__ import annotations

import math

import pytest

from weightsearch.halving import Ladder, Promote, Start, make_rungs, next_job, promotable


@pytest.mark.parametrize(
    ("min_steps", "eta", "max_steps", "expected"),
    [
        (1, 3, 27, (1, 3, 9, 27)),  # an exact power: no extra rung
        (1, 3, 16, (1, 3, 9, 16)),  # 27 > 16: the top rung is the full length
        (1, 2, 16, (1, 2, 4, 8, 16)),
        (2, 4, 16, (2, 8, 16)),
        (3, 2, 10, (3, 6, 10)),
        (5, 3, 5, (5,)),  # min = max: one rung, no halving
        (1, 4, 3, (1, 3)),
    ],
)
def test_rungs_by_hand(min_steps: int, eta: int, max_steps: int, expected: tuple[int, ...]) -> None:
    assert make_rungs(min_steps, eta, max_steps) == expected


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        ((0, 3, 9), "--halving-min-steps must be an integer of at least 1, but got 0"),
        ((1, 1, 9), "--halving-factor must be an integer of at least 2, but got 1"),
        ((1, 2.5, 9), "--halving-factor must be an integer of at least 2, but got 2.5"),
        ((1, True, 9), "--halving-factor must be an integer"),
        ((1, 3, 0), "full length in steps must be an integer of at least 1, but got 0"),
        (
            (10, 3, 9),
            "--halving-min-steps must be at most the task's full length (9 steps), but got 10",
        ),
    ],
)
def test_bad_rungs_say_rule_value_and_fix(args: tuple, fragment: str) -> None:
    with pytest.raises(ValueError, match=r"Example|Lower it") as info:
        make_rungs(*args)
    assert fragment in str(info.value)


def test_promotable_takes_the_top_fraction_only() -> None:
    results = {"a": 0.4, "b": 0.1, "c": 0.3, "d": 0.2, "e": 0.5, "f": 0.6}
    # 6 // 3 = 2: only b (0.1) and d (0.2) may go up, best first.
    assert promotable(results, set(), reduction_factor=3, direction="minimize") == "b"
    assert promotable(results, {"b"}, reduction_factor=3, direction="minimize") == "d"
    assert promotable(results, {"b", "d"}, reduction_factor=3, direction="minimize") is None
    # maximising, f (0.6) and e (0.5) are the top two
    assert promotable(results, {"f"}, reduction_factor=3, direction="maximize") == "e"


def test_promotable_needs_reduction_factor_results() -> None:
    assert promotable({"a": 0.1, "b": 0.2}, set(), reduction_factor=3, direction="minimize") is None
    assert promotable({"a": 0.1, "b": 0.2}, set(), reduction_factor=2, direction="minimize") == "a"


def test_ties_go_to_the_first_recorded_and_nan_never_goes_up() -> None:
    assert promotable({"x": 0.2, "y": 0.2}, set(), reduction_factor=2, direction="minimize") == "x"
    results = {"n": math.nan, "a": 0.3, "b": 0.4, "c": 0.5}
    # quota 4 // 2 = 2 counts the failed point, which ranks last: a then b
    assert promotable(results, {"a"}, reduction_factor=2, direction="minimize") == "b"
    assert promotable(results, {"a"}, reduction_factor=2, direction="maximize") == "c"
    assert promotable({"n": math.nan, "i": math.inf}, set(), reduction_factor=2,
                      direction="minimize") is None  # fmt: skip


def test_next_job_prefers_the_highest_rung_then_starts() -> None:
    rungs = (1, 3, 9)
    results = [{"a": 0.5, "b": 0.2, "c": 0.9, "d": 0.8}, {"a": 0.4, "b": 0.1}, {}]
    promoted = [{"a", "b"}, set()]
    kwargs = {"reduction_factor": 2, "direction": "minimize", "can_start": True}
    # rung 1 holds two results, top 2 // 2 = 1 is b: b goes to rung 2 (9 steps)
    assert next_job(rungs, results, [*promoted, set()], **kwargs) == Promote("b", 2, 9)
    # b promoted from rung 1; rung 0's top 2 are b and a, both promoted: start a new point
    assert next_job(rungs, results, [{"a", "b"}, {"b"}, set()], **kwargs) == Start(steps=1)
    kwargs["can_start"] = False
    assert next_job(rungs, results, [{"a", "b"}, {"b"}, set()], **kwargs) is None


def test_next_job_checks_its_lists() -> None:
    with pytest.raises(ValueError, match="one entry per rung"):
        next_job((1, 3), [{}], [set(), set()], reduction_factor=3, direction="minimize",
                 can_start=True)  # fmt: skip


def test_ladder_grid_mode_trains_every_point_and_promotes_each_once() -> None:
    """Nine grid points, rungs 1, 3, 9 and eta 3, run one job at a time (worked by hand)."""
    values = {f"p{i}": v for i, v in enumerate([0.9, 0.5, 0.7, 0.1, 0.8, 0.6, 0.3, 0.4, 0.2])}
    unstarted = list(values)
    ladder = Ladder(make_rungs(1, 3, 9), reduction_factor=3, direction="minimize")
    jobs = []
    while (job := ladder.next_job(can_start=bool(unstarted))) is not None:
        point = unstarted.pop(0) if isinstance(job, Start) else job.point
        jobs.append((point, job.rung))
        ladder.record(point, job.rung, values[point] / (job.rung + 1))
    # p0..p2: top 3 // 3 = 1 is p1 (0.5) -> rung 1. p3 (0.1) then leads rung 0 -> rung 1.
    # rung 1 then has 2 results, below eta. After p5, rung 0's top 2 are p3 and p1 (both
    # promoted). p6 (0.3) enters the top 2 -> promoted; rung 1 holds 3: p3 -> rung 2. p7, p8:
    # top 3 of rung 0 is p3, p8, p6; p8 goes up; rung 1 has 4 results, quota 1, p3 already gone.
    assert jobs == [
        ("p0", 0), ("p1", 0), ("p2", 0), ("p1", 1), ("p3", 0), ("p3", 1), ("p4", 0),
        ("p5", 0), ("p6", 0), ("p6", 1), ("p3", 2), ("p7", 0), ("p8", 0), ("p8", 1),
    ]  # fmt: skip
    assert {p for p, rung in jobs if rung == 0} == set(values)  # no grid point skipped
    promotions = [(p, r) for p, r in jobs if r > 0]
    assert len(promotions) == len(set(promotions))  # each promotion handed out once
    assert ladder.highest_rung("p3") == 2
    assert ladder.highest_rung("p0") == 0
    assert ladder.highest_rung("zz") is None


def test_a_handed_out_promotion_is_not_handed_out_again() -> None:
    ladder = Ladder((1, 4), reduction_factor=2, direction="maximize")
    ladder.record("a", 0, 1.0)
    ladder.record("b", 0, 2.0)
    assert ladder.next_job(can_start=True) == Promote("b", 1, 4)
    # b is running at rung 1 (no result yet): a second worker starts a new point
    assert ladder.next_job(can_start=True) == Start(steps=1)
