//! The assignment problem: pair rows (tasks) with columns (agents) at minimum total cost.
//!
//! Two exact solvers, usable on their own and meant as the engine of batch routing:
//!
//! * [`solve_dense`] — the Hungarian method with potentials on a full cost matrix,
//!   `O(r² · c)` for `r ≤ c` (the matrix is transposed otherwise). Every row is assigned when
//!   `rows ≤ cols`, every column otherwise.
//! * [`solve_sparse`] — successive shortest augmenting paths (Dijkstra with Johnson
//!   potentials) on a list of allowed `(row, col, cost)` edges: a **maximum-cardinality**
//!   assignment, and among those the one of minimum cost. `O(k · E log V)` for `k` pairs.
//!
//! Both are exact: the proofs are the classic ones (complementary slackness for the Hungarian
//! method; the successive-shortest-path invariant that each intermediate flow is a min-cost flow
//! of its value). The tests check them against brute force on small random instances.
//!
//! To *maximise* a score, pass `-score` as the cost.

use ordered_float::NotNan;
use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// A solution: matched `(row, col)` pairs, sorted by row, and their total cost.
///
/// # Example
/// ```
/// use switchboard::assignment::solve_dense;
/// // Three tasks, three agents; entry [r * cols + c] is the cost of task r on agent c.
/// let cost = [4.0, 1.0, 3.0,
///             2.0, 0.0, 5.0,
///             3.0, 2.0, 2.0];
/// let a = solve_dense(3, 3, &cost).unwrap();
/// assert_eq!(a.pairs, vec![(0, 1), (1, 0), (2, 2)]);
/// assert_eq!(a.total, 5.0);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Assignment {
    /// Matched `(row, col)` pairs, sorted by row.
    pub pairs: Vec<(usize, usize)>,
    /// Sum of the matched costs.
    pub total: f64,
}

/// Why an assignment problem was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AssignmentError {
    /// The cost slice does not have `rows × cols` entries.
    #[error("cost matrix has {got} entries, expected {rows} × {cols}")]
    Shape {
        /// Rows declared.
        rows: usize,
        /// Columns declared.
        cols: usize,
        /// Entries given.
        got: usize,
    },
    /// A cost is NaN or infinite.
    #[error("cost at row {row}, column {col} is not finite: {value}")]
    NotFinite {
        /// Row.
        row: usize,
        /// Column.
        col: usize,
        /// The value.
        value: f64,
    },
    /// An edge names a row or column outside the declared sizes.
    #[error("edge ({row}, {col}) is outside {rows} × {cols}")]
    OutOfRange {
        /// Row.
        row: usize,
        /// Column.
        col: usize,
        /// Rows declared.
        rows: usize,
        /// Columns declared.
        cols: usize,
    },
}

/// Minimum-cost assignment on a dense `rows × cols` matrix (row-major `cost`).
///
/// Assigns every row when `rows ≤ cols`, else every column.
///
/// # Errors
/// [`AssignmentError::Shape`] or [`AssignmentError::NotFinite`].
///
/// # Complexity
/// `O(min(r, c)² · max(r, c))` time, `O(r + c)` extra memory.
pub fn solve_dense(rows: usize, cols: usize, cost: &[f64]) -> Result<Assignment, AssignmentError> {
    if cost.len() != rows.saturating_mul(cols) {
        return Err(AssignmentError::Shape {
            rows,
            cols,
            got: cost.len(),
        });
    }
    if let Some(i) = cost.iter().position(|c| !c.is_finite()) {
        return Err(AssignmentError::NotFinite {
            row: i / cols.max(1),
            col: i % cols.max(1),
            value: cost[i],
        });
    }
    if rows == 0 || cols == 0 {
        return Ok(Assignment {
            pairs: Vec::new(),
            total: 0.0,
        });
    }
    let transposed = rows > cols;
    let (n, m) = if transposed {
        (cols, rows)
    } else {
        (rows, cols)
    };
    let at = |i: usize, j: usize| -> f64 {
        if transposed {
            cost[j * cols + i]
        } else {
            cost[i * cols + j]
        }
    };
    // Hungarian method with potentials, 1-based with a virtual column 0.
    let mut u = vec![0.0f64; n + 1];
    let mut v = vec![0.0f64; m + 1];
    let mut p = vec![0usize; m + 1]; // p[j] = row matched to column j
    let mut way = vec![0usize; m + 1];
    let mut minv = vec![0.0f64; m + 1];
    let mut used = vec![false; m + 1];
    for i in 1..=n {
        p[0] = i;
        let mut j0 = 0usize;
        minv.iter_mut().for_each(|x| *x = f64::INFINITY);
        used.iter_mut().for_each(|x| *x = false);
        loop {
            used[j0] = true;
            let i0 = p[j0];
            let mut delta = f64::INFINITY;
            let mut j1 = 0usize;
            for j in 1..=m {
                if !used[j] {
                    let cur = at(i0 - 1, j - 1) - u[i0] - v[j];
                    if cur < minv[j] {
                        minv[j] = cur;
                        way[j] = j0;
                    }
                    if minv[j] < delta {
                        delta = minv[j];
                        j1 = j;
                    }
                }
            }
            for j in 0..=m {
                if used[j] {
                    u[p[j]] += delta;
                    v[j] -= delta;
                } else {
                    minv[j] -= delta;
                }
            }
            j0 = j1;
            if p[j0] == 0 {
                break;
            }
        }
        loop {
            let j1 = way[j0];
            p[j0] = p[j1];
            j0 = j1;
            if j0 == 0 {
                break;
            }
        }
    }
    let mut pairs: Vec<(usize, usize)> = (1..=m)
        .filter(|&j| p[j] != 0)
        .map(|j| {
            if transposed {
                (j - 1, p[j] - 1)
            } else {
                (p[j] - 1, j - 1)
            }
        })
        .collect();
    pairs.sort_unstable();
    let total = pairs.iter().map(|&(r, c)| cost[r * cols + c]).sum();
    Ok(Assignment { pairs, total })
}

/// Maximum-cardinality, minimum-cost assignment over the allowed `(row, col, cost)` edges.
///
/// Duplicate edges are allowed (the cheapest wins). Rows or columns without edges stay
/// unmatched.
///
/// # Errors
/// [`AssignmentError::OutOfRange`] or [`AssignmentError::NotFinite`].
///
/// # Complexity
/// `O(k · E · log(rows + cols))` for `k` matched pairs and `E` edges.
///
/// # Example
/// ```
/// use switchboard::assignment::solve_sparse;
/// // Task 0 can go to agents 0 or 1, task 1 only to agent 0: both get served.
/// let a = solve_sparse(2, 2, &[(0, 0, 1.0), (0, 1, 5.0), (1, 0, 2.0)]).unwrap();
/// assert_eq!(a.pairs, vec![(0, 1), (1, 0)]);
/// assert_eq!(a.total, 7.0);
/// ```
pub fn solve_sparse(
    rows: usize,
    cols: usize,
    edges: &[(usize, usize, f64)],
) -> Result<Assignment, AssignmentError> {
    for &(row, col, value) in edges {
        if row >= rows || col >= cols {
            return Err(AssignmentError::OutOfRange {
                row,
                col,
                rows,
                cols,
            });
        }
        if !value.is_finite() {
            return Err(AssignmentError::NotFinite { row, col, value });
        }
    }
    // Shift costs to be non-negative: every k-pair assignment moves by the same k · shift, so
    // the optimum at each cardinality is unchanged, and zero potentials start out feasible.
    let shift = edges.iter().map(|e| e.2).fold(0.0f64, f64::min);
    let mut adj: Vec<Vec<(usize, f64)>> = vec![Vec::new(); rows];
    for &(r, c, w) in edges {
        adj[r].push((c, w - shift));
    }
    for a in &mut adj {
        a.sort_by(|x, y| x.0.cmp(&y.0).then(x.1.total_cmp(&y.1)));
        a.dedup_by_key(|e| e.0);
    }
    let mut row_of = vec![usize::MAX; cols]; // column -> row
    let mut col_of = vec![usize::MAX; rows]; // row -> column
    let mut match_cost = vec![0.0f64; cols]; // shifted cost of each column's matched edge
    let mut prev_cost = vec![0.0f64; cols];
    // Potentials: rows, then columns.
    let mut pot = vec![0.0f64; rows + cols];
    loop {
        // Dijkstra from every free row over reduced costs: row -> col via an edge, col -> row
        // via its matching (reduced cost 0 on matched edges).
        let mut dist = vec![f64::INFINITY; rows + cols];
        let mut prev_row = vec![usize::MAX; cols]; // column reached from this row
        let mut heap = BinaryHeap::new();
        for r in 0..rows {
            if col_of[r] == usize::MAX {
                dist[r] = 0.0;
                heap.push(Reverse((nn(0.0), r)));
            }
        }
        let mut best_free: Option<usize> = None;
        while let Some(Reverse((d, node))) = heap.pop() {
            let d = d.into_inner();
            if d > dist[node] {
                continue;
            }
            if node < rows {
                for &(c, w) in &adj[node] {
                    let reduced = (w + pot[node] - pot[rows + c]).max(0.0);
                    let nd = d + reduced;
                    if nd < dist[rows + c] {
                        dist[rows + c] = nd;
                        prev_row[c] = node;
                        prev_cost[c] = w;
                        heap.push(Reverse((nn(nd), rows + c)));
                    }
                }
            } else {
                let c = node - rows;
                match row_of[c] {
                    usize::MAX => {
                        // Popped in distance order: the first free column is the nearest, and
                        // the potentials capped at its distance stay feasible.
                        best_free = Some(c);
                        break;
                    }
                    r => {
                        // Back along the matched edge: cost -w.
                        let nd = d + (pot[rows + c] - pot[r] - match_cost[c]).max(0.0);
                        if nd < dist[r] {
                            dist[r] = nd;
                            heap.push(Reverse((nn(nd), r)));
                        }
                    }
                }
            }
        }
        let Some(end) = best_free else { break };
        let limit = dist[rows + end];
        for (i, p) in pot.iter_mut().enumerate() {
            *p += dist[i].min(limit);
        }
        // Augment along the path back from `end`.
        let mut c = end;
        loop {
            let r = prev_row[c];
            let next = col_of[r];
            col_of[r] = c;
            row_of[c] = r;
            match_cost[c] = prev_cost[c];
            if next == usize::MAX {
                break;
            }
            c = next;
        }
    }
    let mut pairs: Vec<(usize, usize)> = col_of
        .iter()
        .enumerate()
        .filter(|&(_, &c)| c != usize::MAX)
        .map(|(r, &c)| (r, c))
        .collect();
    pairs.sort_unstable();
    let total = pairs
        .iter()
        .map(|&(r, c)| {
            adj[r]
                .iter()
                .find(|e| e.0 == c)
                .map_or(0.0, |e| e.1 + shift)
        })
        .sum();
    Ok(Assignment { pairs, total })
}

fn nn(x: f64) -> NotNan<f64> {
    // Distances are sums of finite, non-negative reduced costs.
    NotNan::new(x).unwrap_or_default()
}
