"""Arithmetic on the K-vectors and K x K matrices of the task weights, in plain Python floats.

Balancing methods do a little work on K numbers (K the number of tasks) around the backward
passes of a step. On the caches those passes leave behind, each numpy or torch call costs
10-50 us, four to eight times its cost in a warm loop and far more than the arithmetic; loops
over lists of floats cost a fraction of that for the K of multi-task models. Matrices are lists
of rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

Matrix = Sequence[Sequence[float]]


def solve(a: Matrix, columns: Sequence[Sequence[float]]) -> list[list[float]] | None:
    """Solve ``a x = b`` for each right-hand side ``b`` in ``columns``.

    Gaussian elimination with partial pivoting. Returns None when ``a`` is singular to working
    precision (a pivot below 1e-13 of the largest entry), so callers can take another route.

    Args:
        a: n x n matrix.
        columns: right-hand sides, each of length n.

    Returns:
        One solution per right-hand side, or None.
    """
    n = len(a)
    m = len(columns)
    width = n + m
    rows = [[*a[i], *[b[i] for b in columns]] for i in range(n)]
    largest = 0.0
    for row in rows:
        for c in range(n):
            if abs(row[c]) > largest:
                largest = abs(row[c])
    tiny = 1e-13 * largest
    for col in range(n):
        pivot, best = col, abs(rows[col][col])
        for r in range(col + 1, n):
            if abs(rows[r][col]) > best:
                pivot, best = r, abs(rows[r][col])
        if not best > tiny:
            return None
        if pivot != col:
            rows[col], rows[pivot] = rows[pivot], rows[col]
        top = rows[col]
        for r in range(col + 1, n):
            row = rows[r]
            factor = row[col] / top[col]
            if factor:
                for c in range(col + 1, width):
                    row[c] -= factor * top[c]
    out = []
    for j in range(n, width):
        x = [0.0] * n
        for r in range(n - 1, -1, -1):
            row = rows[r]
            total = row[j]
            for c in range(r + 1, n):
                total -= row[c] * x[c]
            x[r] = total / row[r]
        out.append(x)
    return out


def softmax(x: Sequence[float]) -> list[float]:
    """``exp(x) / sum(exp(x))``, shifted by the maximum so it can't overflow."""
    top = max(x)
    e = [math.exp(v - top) for v in x]
    total = sum(e)
    return [v / total for v in e]


def matvec(a: Matrix, x: Sequence[float]) -> list[float]:
    """``a @ x``."""
    return [sum(v * w for v, w in zip(row, x, strict=True)) for row in a]


def dot(x: Sequence[float], y: Sequence[float]) -> float:
    """``x . y``."""
    return sum(v * w for v, w in zip(x, y, strict=True))
