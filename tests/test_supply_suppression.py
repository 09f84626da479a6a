"""k-suppression: small figures are hidden, and no hidden figure can be worked back from the rest."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest

from ivr.supply.suppression import Cell, Grid, bridges, suppress

K = 5


def determined(matrix: list[list[Fraction]], width: int) -> set[int]:
    """The unknowns (columns) whose value the equations fix exactly.

    Unknown j is fixed iff the unit vector e_j lies in the row space, i.e. iff in
    reduced row echelon form j is a pivot column whose row has no other non-zero entry.
    """
    m = [row[:] for row in matrix]
    pivots: list[tuple[int, int]] = []
    rank = 0
    for col in range(width):
        pivot = next((r for r in range(rank, len(m)) if m[r][col] != 0), None)
        if pivot is None:
            continue
        m[rank], m[pivot] = m[pivot], m[rank]
        lead = m[rank][col]
        m[rank] = [a / lead for a in m[rank]]
        for r in range(len(m)):
            if r != rank and m[r][col] != 0:
                factor = m[r][col]
                m[r] = [a - factor * b for a, b in zip(m[r], m[rank], strict=True)]
        pivots.append((rank, col))
        rank += 1
    return {col for row, col in pivots if sum(1 for a in m[row] if a != 0) == 1}


def recoverable(grid: Grid) -> set[Cell]:
    """Hidden cells an attacker can compute exactly from the published figures (linear algebra, no graphs)."""
    hidden = sorted(grid.hidden)
    index = {c: n for n, c in enumerate(hidden)}
    rows: list[list[Fraction]] = []
    for line in grid.lines():
        row = [Fraction(0)] * len(hidden)
        for cell in line[:-1]:
            if cell in index:
                row[index[cell]] += 1
        if line[-1] in index:
            row[index[line[-1]]] -= 1
        if any(row):
            rows.append(row)
    return {hidden[j] for j in determined(rows, len(hidden))}


def _check(grid: Grid) -> None:
    for cell in grid.cells():
        if 0 < grid.value(cell) < K:
            assert cell in grid.hidden, cell
    assert recoverable(grid) == set()
    assert bridges(grid) == []
    for line in grid.lines():
        if line[-1] not in grid.hidden:
            mass = sum(grid.value(c) for c in line[:-1] if c in grid.hidden)
            assert mass == 0 or mass >= K, (line, mass)


def test_one_small_cell_with_a_row_total_is_not_left_alone() -> None:
    # Row "wages": 5 + 0 + 2 = 7. Hiding only the 2 would let anyone compute it as 7 - 5 - 0.
    grid = Grid.build(["wages", "debt"], ["Jan", "Feb", "Mar"], {
        ("wages", "Jan"): 5, ("wages", "Mar"): 2, ("debt", "Jan"): 9, ("debt", "Feb"): 6, ("debt", "Mar"): 7})
    suppress(grid, K)
    assert (0, 2) in grid.hidden
    assert len([c for c in grid.hidden if c[0] == 0]) >= 2
    _check(grid)
    # The unsuppressed grid really was recoverable: the test oracle sees it.
    naive = Grid.build(grid.rows, grid.cols, {("wages", "Jan"): 5, ("wages", "Mar"): 2, ("debt", "Jan"): 9,
                                              ("debt", "Feb"): 6, ("debt", "Mar"): 7})
    naive.hidden = {(0, 2)}
    assert recoverable(naive) == {(0, 2)}
    assert bridges(naive) == [(0, 2)]


def test_zero_is_shown_and_large_figures_stay() -> None:
    grid = suppress(Grid.build(["a", "b"], ["x", "y"], {("a", "x"): 10, ("b", "y"): 12}), K)
    assert grid.hidden == set()
    assert grid.shown((0, 1)) == 0 and grid.shown((2, 2)) == 22


def test_small_total_is_hidden_and_protected() -> None:
    grid = suppress(Grid.build(["a", "b", "c"], ["x", "y"], {
        ("a", "x"): 1, ("a", "y"): 1, ("b", "x"): 8, ("b", "y"): 9, ("c", "x"): 6, ("c", "y"): 7}), K)
    assert {(0, 0), (0, 1), (0, 2)} <= grid.hidden
    _check(grid)


def test_rows_without_column_totals() -> None:
    grid = Grid.build(["wages_paid", "fees_repaid"], ["on_time", "late", "open"], {
        ("wages_paid", "on_time"): 6, ("wages_paid", "late"): 3, ("wages_paid", "open"): 8,
        ("fees_repaid", "on_time"): 7}, col_totals=False)
    suppress(grid, K)
    assert (0, 1) in grid.hidden and len([c for c in grid.hidden if c[0] == 0]) >= 2
    assert not any(c[0] == grid.total_row for c in grid.cells())
    _check(grid)


@pytest.mark.parametrize("seed", range(60))
def test_random_tables_leave_nothing_recoverable(seed: int) -> None:
    rng = random.Random(seed)
    rows = [f"r{i}" for i in range(rng.randint(1, 8))]
    cols = [f"c{j}" for j in range(rng.randint(1, 8))]
    values = {(r, c): rng.choice([0, 0, 1, 2, 3, 4, 5, 6, 9, 14]) for r in rows for c in cols}
    grid = suppress(Grid.build(rows, cols, values, col_totals=seed % 4 != 0), K)
    _check(grid)


def test_forced_cells_are_hidden() -> None:
    grid = suppress(Grid.build(["a", "b"], ["x", "y"], {("a", "x"): 10, ("a", "y"): 10, ("b", "x"): 10,
                                                      ("b", "y"): 10}), K, forced=[(0, 2)])
    assert (0, 2) in grid.hidden
    _check(grid)
