"""The K x K linear algebra of the gradient-level methods, against numpy."""

from __future__ import annotations

import numpy as np

from weightsearch.methods.small_linalg import dot, matvec, solve


def test_solve_matches_numpy_on_random_systems() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 8))
        a = rng.normal(size=(n, n)) * 10.0 ** rng.integers(-4, 5)
        b = rng.normal(size=(2, n))
        got = solve(a.tolist(), b.tolist())
        assert got is not None
        want = np.linalg.solve(a, b.T).T
        assert np.allclose(got, want, rtol=1e-8, atol=1e-12 * np.abs(want).max())


def test_solve_needs_pivoting() -> None:
    # A zero on the first pivot: elimination without row swaps divides by zero.
    got = solve([[0.0, 1.0], [1.0, 0.0]], [[2.0, 3.0]])
    assert got == [[3.0, 2.0]]


def test_solve_reports_singular_matrices() -> None:
    assert solve([[1.0, 2.0], [2.0, 4.0]], [[1.0, 2.0]]) is None
    assert solve([[0.0, 0.0], [0.0, 0.0]], [[1.0, 1.0]]) is None
    assert solve([[1.0, 1.0], [1.0, 1.0 + 1e-15]], [[1.0, 1.0]]) is None


def test_matvec_and_dot() -> None:
    assert matvec([[1.0, 2.0], [3.0, 4.0]], [1.0, -1.0]) == [-1.0, -1.0]
    assert dot([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]) == 32.0
