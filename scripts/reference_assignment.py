#!/usr/bin/env python3
"""Fixed assignment instances and their optima, for tests/assignment_reference.rs.

The instances are drawn from seeded NumPy generators and written to tests/data/assignment/; the
optima are computed by SciPy, independently of src/assignment.rs:

* dense instances: `scipy.optimize.linear_sum_assignment` on the cost matrix (every row is
  matched when rows <= cols, every column otherwise);
* sparse instances (maximum-cardinality, then minimum-cost assignment over the listed edges):
  `linear_sum_assignment` on a dense matrix where a missing edge costs a big M larger than the
  spread of any assignment's real cost, so the optimum first uses as few missing edges as
  possible (= as many real edges as possible), then the cheapest real edges; the number of real
  edges is checked against `scipy.sparse.csgraph.maximum_bipartite_matching`, and, where a full
  matching exists, the total against `scipy.sparse.csgraph.min_weight_full_bipartite_matching`.

Costs are integers, so every total is exact in binary floating point.

File formats (text, one row per line; `#` starts a comment line):

    dense ROWS COLS            then ROWS lines of COLS integers
    sparse ROWS COLS EDGES     then ROWS lines of `col:cost` items (a line may be empty;
                               duplicate edges may occur: the cheapest counts)

reference.txt lists `name matched total` per instance.

Run once from the repository root (needs numpy and scipy: `pip install scipy`):

    python3 scripts/reference_assignment.py
"""
import os

import numpy as np
import scipy
from scipy.optimize import linear_sum_assignment
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching, min_weight_full_bipartite_matching

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "assignment")


def dense_instance(seed, rows, cols, lo, hi):
    rng = np.random.default_rng(seed)
    return rng.integers(lo, hi, size=(rows, cols), dtype=np.int64)


def dense_ties_instance(seed, rows, cols):
    """cost[r][c] = a[r] + b[c] + noise in 0..=2, a and b in 0..50: many optimal assignments."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 50, size=(rows, 1))
    b = rng.integers(0, 50, size=(1, cols))
    return a + b + rng.integers(0, 3, size=(rows, cols))


def sparse_instance(seed, rows, cols, deg_lo, deg_hi, lo, hi, skew=0.0, duplicates=0):
    """Each row gets deg_lo..=deg_hi distinct columns (weighted by (c+1)^-skew), costs in [lo, hi)."""
    rng = np.random.default_rng(seed)
    weights = (np.arange(cols) + 1.0) ** -skew
    weights /= weights.sum()
    adj = []
    for _ in range(rows):
        d = int(rng.integers(deg_lo, deg_hi + 1))
        cs = rng.choice(cols, size=d, replace=False, p=weights)
        ws = rng.integers(lo, hi, size=d)
        adj.append([(int(c), int(w)) for c, w in zip(cs, ws)])
    for _ in range(duplicates):
        r = int(rng.integers(rows))
        if adj[r]:
            c, _ = adj[r][int(rng.integers(len(adj[r])))]
            adj[r].append((c, int(rng.integers(lo, hi))))
    return adj


def solve_dense_reference(cost):
    r, c = linear_sum_assignment(cost)
    return len(r), int(cost[r, c].sum())


def solve_sparse_reference(rows, cols, adj):
    best = {}
    for r, edges in enumerate(adj):
        for c, w in edges:
            if (r, c) not in best or w < best[(r, c)]:
                best[(r, c)] = w
    lo = min(best.values())
    hi = max(best.values())
    k = min(rows, cols)
    big = k * (hi - lo) + 1  # more than any difference of shifted real costs
    dense = np.full((rows, cols), float(big))
    for (r, c), w in best.items():
        dense[r, c] = float(w - lo)
    ri, ci = linear_sum_assignment(dense)
    real = [(r, c) for r, c in zip(ri, ci) if (r, c) in best]
    matched = len(real)
    total = sum(best[e] for e in real)

    # Independent cardinality check.
    rs = np.array([e[0] for e in best], dtype=np.int64)
    cs = np.array([e[1] for e in best], dtype=np.int64)
    graph = csr_matrix((np.ones(len(rs)), (rs, cs)), shape=(rows, cols))
    m = maximum_bipartite_matching(graph, perm_type="column")
    assert matched == int((m >= 0).sum()), "big-M optimum is not of maximum cardinality"

    # Where a full matching exists, a third opinion on the cost (costs shifted to be positive:
    # csgraph treats explicit zeros as missing edges).
    if matched == k:
        wg = csr_matrix(
            (np.array([best[e] - lo + 1 for e in best], dtype=float), (rs, cs)), shape=(rows, cols)
        )
        mr, mc = min_weight_full_bipartite_matching(wg)
        total2 = sum(best[(int(r), int(c))] for r, c in zip(mr, mc))
        assert total2 == total, f"min_weight_full_bipartite_matching {total2} vs {total}"
    return matched, total


def write_dense(name, cost, note):
    rows, cols = cost.shape
    with open(os.path.join(OUT, name + ".txt"), "w") as f:
        f.write(f"# {note}\n")
        f.write(f"dense {rows} {cols}\n")
        for row in cost:
            f.write(" ".join(str(int(v)) for v in row) + "\n")


def write_sparse(name, rows, cols, adj, note):
    edges = sum(len(a) for a in adj)
    with open(os.path.join(OUT, name + ".txt"), "w") as f:
        f.write(f"# {note}\n")
        f.write(f"sparse {rows} {cols} {edges}\n")
        for a in adj:
            f.write(" ".join(f"{c}:{w}" for c, w in a) + "\n")


def main():
    os.makedirs(OUT, exist_ok=True)
    refs = []
    dense = [
        # name, seed, rows, cols, lo, hi (costs in [lo, hi))
        ("dense_50x50", 50, 50, 50, 0, 1000),
        ("dense_200x200", 200, 200, 200, 0, 10000),
        ("dense_300x150", 300, 300, 150, -500, 500),  # rows > cols: every column matched
        ("dense_120x250_ties", 120, 120, 250, None, None),  # few distinct costs: many optima
    ]
    for name, seed, rows, cols, lo, hi in dense:
        if lo is None:
            cost = dense_ties_instance(seed, rows, cols)
            note = f"seed {seed}: {rows} x {cols}, costs a[r] + b[c] + (0..=2), a, b in [0, 50)"
        else:
            cost = dense_instance(seed, rows, cols, lo, hi)
            note = f"seed {seed}: {rows} x {cols}, uniform integer costs in [{lo}, {hi})"
        write_dense(name, cost, note)
        matched, total = solve_dense_reference(cost)
        refs.append((name, matched, total))
    sparse = [
        # name, seed, rows, cols, degree range, cost range, skew, duplicate edges
        ("sparse_2000x2000_deg20", 2000, 2000, 2000, (15, 25), (0, 1000), 0.0, 0),
        ("sparse_1500x1000_deficient", 1500, 1500, 1000, (0, 4), (-100, 100), 0.6, 200),
    ]
    for name, seed, rows, cols, (dlo, dhi), (lo, hi), skew, dups in sparse:
        adj = sparse_instance(seed, rows, cols, dlo, dhi, lo, hi, skew, dups)
        note = (
            f"seed {seed}: {rows} x {cols}, {dlo}..={dhi} distinct columns per row "
            f"(column c drawn with weight (c+1)^-{skew}), integer costs in [{lo}, {hi}), "
            f"{dups} duplicate edges added"
        )
        write_sparse(name, rows, cols, adj, note)
        matched, total = solve_sparse_reference(rows, cols, adj)
        refs.append((name, matched, total))
    with open(os.path.join(OUT, "reference.txt"), "w") as f:
        f.write(
            f"# optima by scripts/reference_assignment.py (scipy {scipy.__version__}, "
            f"numpy {np.__version__})\n"
        )
        f.write("# name matched total\n")
        for name, matched, total in refs:
            f.write(f"{name} {matched} {total}\n")
    for r in refs:
        print(*r)


if __name__ == "__main__":
    main()
