"""Exact maximum-weight one-to-one assignment (Hungarian algorithm, pure Python; scipy is not a dependency)."""

from __future__ import annotations

from collections.abc import Sequence


def max_weight_assignment(weights: Sequence[Sequence[float]]) -> list[tuple[int, int]]:
    """Pairs ``(row, col)``, each row and column used at most once, maximising the total weight.

    ``weights`` is a rows x cols matrix of non-negative numbers (rectangular is fine). Pairs of
    weight 0 are left out of the result: they add nothing and mean "no match". O(n^2 m) for
    n = min(rows, cols), m = max(rows, cols) — plenty for the handful of items per document.
    """
    rows = len(weights)
    cols = len(weights[0]) if rows else 0
    if rows == 0 or cols == 0:
        return []
    for row in weights:
        if len(row) != cols:
            raise ValueError("weights must be a rectangular matrix")
        if any(w < 0 for w in row):
            raise ValueError("weights must be non-negative")
    transposed = rows > cols
    matrix = [list(col) for col in zip(*weights, strict=True)] if transposed else [list(row) for row in weights]
    # Minimise the negated weights: the classic potentials formulation needs len(matrix) <= len(matrix[0]).
    cost = [[-w for w in row] for row in matrix]
    pairs = _hungarian_min_cost(cost)
    result = [(c, r) if transposed else (r, c) for r, c in pairs if matrix[r][c] > 0]
    return sorted(result)


def _hungarian_min_cost(cost: list[list[float]]) -> list[tuple[int, int]]:
    """Minimum-cost assignment of every row to a distinct column (rows <= columns); returns (row, col) pairs."""
    n, m = len(cost), len(cost[0])
    inf = float("inf")
    u = [0.0] * (n + 1)  # row potentials
    v = [0.0] * (m + 1)  # column potentials
    owner = [0] * (m + 1)  # owner[j]: row (1-based) assigned to column j; 0 = free; column 0 is a sentinel
    way = [0] * (m + 1)
    for i in range(1, n + 1):
        owner[0] = i
        j0 = 0
        min_slack = [inf] * (m + 1)
        used = [False] * (m + 1)
        while True:
            used[j0] = True
            i0 = owner[j0]
            delta = inf
            j1 = 0
            for j in range(1, m + 1):
                if used[j]:
                    continue
                slack = cost[i0 - 1][j - 1] - u[i0] - v[j]
                if slack < min_slack[j]:
                    min_slack[j] = slack
                    way[j] = j0
                if min_slack[j] < delta:
                    delta = min_slack[j]
                    j1 = j
            for j in range(m + 1):
                if used[j]:
                    u[owner[j]] += delta
                    v[j] -= delta
                else:
                    min_slack[j] -= delta
            j0 = j1
            if owner[j0] == 0:
                break
        while j0:  # augment along the alternating path back to the sentinel
            j1 = way[j0]
            owner[j0] = owner[j1]
            j0 = j1
    return [(owner[j] - 1, j - 1) for j in range(1, m + 1) if owner[j]]
