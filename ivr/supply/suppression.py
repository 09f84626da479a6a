"""Small-cell suppression for the count tables shown to brands.

The rule (documented for brands and auditors):

1. **Primary.** Any figure built from 1 to k-1 cases is hidden. Zero is shown: it
   says nobody called, which exposes nobody.
2. **No exact recovery.** A table is published with its row totals, column totals
   and grand total. A hidden figure must not be recoverable by adding and
   subtracting the figures shown. Treat the table, totals included, as a graph
   whose vertices are its lines (each row, each column, the totals row and the
   totals column) and whose edges are the hidden figures; a hidden figure can be
   worked out exactly if and only if its edge is a *bridge* of that graph
   (Gusfield, 1988). So while a bridge exists, one more figure on the bridge's row
   or column is hidden — preferably one that closes a cycle with figures already
   hidden, then the smallest — until every hidden figure lies on a cycle.
3. **No small remainder.** In a line whose total is shown, the hidden figures
   together must add up to 0 or at least k; otherwise "these hidden cells hold 3
   cases between them" would itself describe fewer than k people. Another figure
   of that line is hidden until they do.
4. **Linked tables.** Figures that appear in two tables (a category's total in the
   category-by-month table and in the workplace-by-category table) are hidden in
   both when hidden in either; tables are re-suppressed until they agree.

Step 2 is exact for one table; step 4 is the usual heuristic for linked tables.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

Cell = tuple[int, int]


@dataclass
class Grid:
    """A count table with its totals. Row ``len(rows)`` and column ``len(cols)`` hold the totals.

    ``hidden`` is the set of (row, col) positions, totals included, that must not
    be shown. ``col_totals=False`` describes a table whose column totals and grand
    total are not published (for example when one case may count in several rows).
    """

    rows: list[str]
    cols: list[str]
    counts: list[list[int]]
    col_totals: bool = True
    hidden: set[Cell] = field(default_factory=set)

    @classmethod
    def build(cls, rows: Iterable[str], cols: Iterable[str], values: dict[tuple[str, str], int], *,
              col_totals: bool = True) -> Grid:
        row_list, col_list = list(rows), list(cols)
        counts = [[values.get((r, c), 0) for c in col_list] for r in row_list]
        for line in counts:
            line.append(sum(line))
        counts.append([sum(line[j] for line in counts) for j in range(len(col_list) + 1)])
        return cls(row_list, col_list, counts, col_totals)

    @property
    def total_row(self) -> int:
        return len(self.rows)

    @property
    def total_col(self) -> int:
        return len(self.cols)

    def value(self, cell: Cell) -> int:
        return self.counts[cell[0]][cell[1]]

    def shown(self, cell: Cell) -> int | None:
        """The figure to publish, or None when it is hidden."""
        return None if cell in self.hidden else self.value(cell)

    def cells(self) -> list[Cell]:
        last_row = self.total_row if self.col_totals else self.total_row - 1
        return [(i, j) for i in range(last_row + 1) for j in range(self.total_col + 1)]

    def row_line(self, i: int) -> list[Cell] | None:
        """Row ``i``'s cells with its total last; None when that row's sum is not published."""
        if i == self.total_row and not self.col_totals:
            return None
        return [(i, j) for j in range(self.total_col + 1)]

    def col_line(self, j: int) -> list[Cell] | None:
        if not self.col_totals:
            return None
        return [(i, j) for i in range(self.total_row + 1)]

    def lines(self) -> list[list[Cell]]:
        """Each published constraint: a line's cells, its total last."""
        found = [self.row_line(i) for i in range(self.total_row + 1)]
        found += [self.col_line(j) for j in range(self.total_col + 1)]
        return [line for line in found if line is not None]


def bridges(grid: Grid) -> list[Cell]:
    """The hidden cells whose value follows exactly from the figures shown."""
    edges = sorted(grid.hidden)
    # Vertices: row i is i, column j is offset + j. Without published column totals
    # the columns impose nothing; grounding them all in one vertex (-1) keeps the
    # incidence structure exact (see the module docstring).
    offset = grid.total_row + 1
    adjacency: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for index, (i, j) in enumerate(edges):
        col_v = offset + j if grid.col_totals else -1
        adjacency[i].append((col_v, index))
        adjacency[col_v].append((i, index))
    order: dict[int, int] = {}
    low: dict[int, int] = {}
    found: list[Cell] = []
    for root in adjacency:
        if root in order:
            continue
        # Iterative Tarjan; edges are tracked by index so parallel edges count as a cycle.
        order[root] = low[root] = len(order)
        stack: list[tuple[int, int, int]] = [(root, -1, 0)]
        while stack:
            vertex, via, pos = stack.pop()
            neighbours = adjacency[vertex]
            if pos < len(neighbours):
                stack.append((vertex, via, pos + 1))
                nxt, edge = neighbours[pos]
                if edge == via:
                    continue
                if nxt in order:
                    if order[nxt] < low[vertex]:
                        low[vertex] = order[nxt]
                else:
                    order[nxt] = low[nxt] = len(order)
                    stack.append((nxt, edge, 0))
            elif via >= 0:
                parent = stack[-1][0]
                if low[vertex] < low[parent]:
                    low[parent] = low[vertex]
                if low[vertex] > order[parent]:
                    found.append(edges[via])
    return found


def _complement(grid: Grid, line: list[Cell], blocked: frozenset[Cell]) -> Cell | None:
    """The visible cell of ``line`` whose hiding costs least: the smallest non-zero, then zero, then the total."""
    visible = [c for c in line if c not in grid.hidden and c not in blocked]
    if not visible:
        return None
    interior = [c for c in visible if c != line[-1]]
    positive = [c for c in interior if grid.value(c) > 0]
    if positive:
        return min(positive, key=lambda c: (grid.value(c), c))
    return interior[0] if interior else visible[0]


def _closing(grid: Grid, bridge: Cell, blocked: frozenset[Cell], rows_hidden: set[int],
             cols_hidden: set[int]) -> Cell | None:
    """A visible cell on a line through ``bridge`` to hide so that a cycle can close.

    Prefer a cell whose other line already holds a hidden figure (it closes a cycle
    at once, so suppression does not spread along a row of zeros), then the smallest.
    ``rows_hidden``/``cols_hidden`` are the rows and columns holding a hidden figure.
    """
    best: tuple[tuple[int, int, Cell], Cell] | None = None
    for along_row, line in ((True, grid.row_line(bridge[0])), (False, grid.col_line(bridge[1]))):
        if line is None:
            continue
        for cell in line:
            if cell in grid.hidden or cell in blocked:
                continue
            if along_row:
                closes = grid.col_totals and cell[1] in cols_hidden
            else:
                closes = (cell[0] < grid.total_row or grid.col_totals) and cell[0] in rows_hidden
            score = (0 if closes else 1, grid.value(cell), cell)
            if best is None or score < best[0]:
                best = (score, cell)
    return best[1] if best else None


def _short_lines(grid: Grid, k: int) -> list[list[Cell]]:
    """Lines whose total is shown while their hidden figures add up to 1..k-1 (rule 3)."""
    row_mass: dict[int, int] = defaultdict(int)
    col_mass: dict[int, int] = defaultdict(int)
    total_row, total_col, counts = grid.total_row, grid.total_col, grid.counts
    for i, j in grid.hidden:
        if j != total_col:
            row_mass[i] += counts[i][j]
        if i != total_row:
            col_mass[j] += counts[i][j]
    out = []
    for i, mass in sorted(row_mass.items()):
        if 0 < mass < k and (i, total_col) not in grid.hidden:
            line = grid.row_line(i)
            if line is not None:
                out.append(line)
    for j, mass in sorted(col_mass.items()):
        if 0 < mass < k and (total_row, j) not in grid.hidden:
            line = grid.col_line(j)
            if line is not None:
                out.append(line)
    return out


def _fix(grid: Grid, k: int, blocked: frozenset[Cell]) -> bool:
    """Add complementary suppressions until rules 2 and 3 hold; False when ``blocked`` makes that impossible.

    Works in rounds: every short line, then every bridge, gets one more hidden figure
    per round (skipping those a figure added earlier in the round may already have
    fixed), then the table is looked at again.
    """
    while True:
        touched: set[str] = set()
        short = _short_lines(grid, k)
        if short:
            for line in short:
                extra = _complement(grid, line, blocked)
                if extra is None:
                    return False
                grid.hidden.add(extra)
            continue
        found = bridges(grid)
        if not found:
            return True
        rows_hidden = {i for i, _ in grid.hidden}
        cols_hidden = {j for _, j in grid.hidden}
        for bridge in found:
            if f"r{bridge[0]}" in touched or f"c{bridge[1]}" in touched:
                continue
            extra = _closing(grid, bridge, blocked, rows_hidden, cols_hidden)
            if extra is None:
                return False
            grid.hidden.add(extra)
            rows_hidden.add(extra[0])
            cols_hidden.add(extra[1])
            touched |= {f"r{bridge[0]}", f"c{bridge[1]}", f"r{extra[0]}", f"c{extra[1]}"}


def _cost(grid: Grid) -> tuple[int, int]:
    return sum(grid.value(c) for c in grid.hidden), len(grid.hidden)


# Showing a complementary figure again means re-fixing the table, which costs time in
# proportion to its size: small tables get up to MAX_TRIALS tries, big ones fewer.
MAX_TRIALS = 40
TRIAL_CELLS = 20_000


def suppress(grid: Grid, k: int, forced: Iterable[Cell] = ()) -> Grid:
    """Hide figures in place by the rule above (``forced`` cells are hidden too); return ``grid``.

    Greedy complements can hide more than needed, so the largest complementary
    figures (a few, up to :data:`MAX_TRIALS` in small tables) are then tried shown
    again, re-fixing the table without them, and stay shown when the result hides less.
    """
    required = {c for c in grid.cells() if 0 < grid.value(c) < k} | set(forced)
    grid.hidden |= required
    _fix(grid, k, frozenset())
    candidates = sorted(grid.hidden - required, key=lambda c: (-grid.value(c), c))
    budget = min(MAX_TRIALS, max(3, TRIAL_CELLS // max(1, len(grid.cells()))))
    for cell in [c for c in candidates if grid.value(c) > 0][:budget]:
        if cell not in grid.hidden:
            continue
        trial = Grid(grid.rows, grid.cols, grid.counts, grid.col_totals,
                     {c for c in grid.hidden if c in required or (c != cell and grid.value(c) > 0)})
        if _fix(trial, k, frozenset({cell})) and _cost(trial) < _cost(grid):
            grid.hidden = trial.hidden
    return grid
