//! The assignment problem: pair rows (tasks) with columns (agents) at minimum total cost.
//!
//! Two exact solvers, usable on their own and meant as the engine of batch routing:
//!
//! * [`solve_dense`] — the Hungarian method with potentials on a full cost matrix,
//!   `O(r² · c)` for `r ≤ c` (the matrix is transposed otherwise). Every row is assigned when
//!   `rows ≤ cols`, every column otherwise.
//! * [`solve_sparse`] — on a list of allowed `(row, col, cost)` edges: a **maximum-cardinality**
//!   assignment, and among those the one of minimum cost: shortest augmenting paths with
//!   potentials, seeded by a Jonker–Volgenant augmenting row reduction, with passes over
//!   zero-reduced-cost edges for ties and early-stopping Dijkstra searches (see below).
//!
//! Both are exact: the proofs are the classic ones (complementary slackness for the Hungarian
//! method; for the sparse solver, the weak-duality argument below). The tests check them against
//! brute force on small random instances and against SciPy's optima on larger fixed ones.
//!
//! To *maximise* a score, pass `-score` as the cost.
//!
//! # How [`solve_sparse`] works, and why it is exact
//!
//! **The model.** Every row `r` gets a private *dummy* column, reachable only from `r`, at cost
//! `(1, 0)`; a real edge of cost `w` costs `(0, w)`. Costs are pairs `(k, x)` added componentwise
//! and compared lexicographically — think `k·M + x` for an infinitely large `M`, without ever
//! choosing an `M` (so no precision is lost to a big constant). A matching that gives every row
//! with at least one edge a column (real or dummy) then costs `(rows left on dummies, real cost)`,
//! and its lexicographic minimum is exactly the maximum-cardinality assignment of least total
//! cost (the rows on dummies are the unmatched ones). Rows without edges are left out.
//!
//! **The certificate.** The solver keeps potentials `u` (rows) and `v` (columns) in the same
//! ordered group with
//!
//! * `u[r] + v[c] ≤ cost(r, c)` on every edge, dummies included (all reduced costs `≥ 0`),
//! * equality on every matched edge,
//! * `v ≤ 0` everywhere and `v = 0` on every free column (a dummy's `v` is always 0).
//!
//! For the matching `M` and any other matching `M'` of the same rows,
//! `cost(M') = Σ_{(r,c)∈M'} cost(r, c) ≥ Σ u + Σ_{c∈M'} v[c] ≥ Σ u + Σ_all v = cost(M)` (the
//! middle step because `v ≤ 0`, the last because free columns have `v = 0` and matched edges are
//! tight). So once every row is placed, `M` is optimal. This holds in any ordered abelian group,
//! the lexicographic one included.
//!
//! **Step 1, augmenting row reduction** (Jonker & Volgenant 1987). From `v = 0`, each row looks at
//! its two cheapest reduced options `u1 ≤ u2` (its dummy counts as one). It takes the cheapest
//! column, lowering that column's `v` by `u2 − u1` so the row is tight there and no worse
//! anywhere else, and evicts the previous holder, which bids next. A column, once taken, stays
//! taken, so free columns keep `v = 0` and all three conditions hold. Two passes, at most
//! `4 × rows` bids in all: this only seeds the matching and the duals cheaply (on random
//! instances it places most rows); nothing depends on it for exactness.
//!
//! **Shortest augmenting paths.** A row not placed yet gets `u` = its cheapest reduced option
//! (feasible, one reduced cost 0). A search is a Dijkstra on reduced costs (non-negative, so
//! Dijkstra is valid) from one or several such rows at distance 0: over a row's edges and its
//! dummy, and from a reached matched column on to that column's row (an indexed 4-ary heap;
//! among equal distances free columns first, then first reached first, and columns reached at
//! exactly the distance being settled skip the heap). It stops at the first *free* column it
//! settles — a real one, or the dummy of a row in the forest, meaning that row
//! will be the one left unmatched — or as soon as an edge reaches a free column at the distance
//! being settled (nothing can be nearer). With `δ` that column's distance and `d` the settled
//! distances, the Hungarian update `v[c] −= δ − d[c]`, `u[row of c] += δ − d[c]` on settled
//! columns and `u[root] += δ` on the roots keeps every reduced cost `≥ 0` and matched edges
//! tight, and makes the path found tight; the free column reached keeps `v = 0`, and flipping
//! the path places its root. Buffers are allocated once and only the columns a search touched
//! are reset, never `O(V)` per augmentation. A row that cannot reach any free real column simply
//! ends on a dummy (its own, or that of a row it displaces more cheaply): no special case, and
//! the potentials stay a valid certificate. A row on a dummy stays there for good (its dummy is
//! reachable from it alone), as in the maximum-cardinality definition.
//!
//! **Step 2, tight passes and multi-source searches** (for costs with many ties, such as small
//! integer scores). The tight edges (reduced cost 0) are listed once, in `O(E)`; depth-first
//! passes over that list from every free row, looking one step ahead for a free column and
//! entering each column at most once per pass (as in Hopcroft–Karp), augment along as many
//! zero-length paths as they find without touching the potentials — every such path is a
//! shortest augmenting path, so the conditions still hold. Passes repeat while they place rows;
//! then one search from *all* free rows at once places one more and, through the dual update,
//! makes a new layer of edges tight for the next round. Rounds continue while their passes are
//! productive (at least `1 + free/32` rows per round).
//!
//! **Step 3, one search per row** for the rows still free (costs with few ties, where each
//! search makes only its own path tight): each runs from its row alone, so it explores only the
//! part of the graph nearer than that row's nearest free column.
//!
//! Every step preserves the three conditions and places at least one row per search, so the
//! solver ends, with every row placed and `M` optimal by the argument above.
//!
//! **Cost.** `O(E)` to build a compressed adjacency (duplicate edges merged to the cheapest in
//! one pass over a column-stamp array), `O(E)` per reduction pass or round of step 2, and per
//! search a
//! Dijkstra over only the part of the graph nearer than the nearest free column. The worst
//! case is `O(R · E · log V)` (as for plain successive shortest paths), but searches are short in
//! practice: a 10,000 × 10,000 instance with 20 edges per row takes about 30 ms with integer
//! scores 1..=10 (the previous solver, one Dijkstra from all free rows per augmentation: 26–60
//! s) and 0.25–0.4 s with distinct real costs, where ties cannot help; 25,000 × 25,000 takes
//! 0.2 s and about 2 s (see `docs/PERFORMANCE.md`, "Batch assignment"). The last few augmenting
//! paths are the long ones. Rows that cannot be matched are the expensive case: each explores the
//! whole part of the graph it can reach.
//!
//! **Floating point.** For integer costs (or any costs on a common binary grid) whose sums stay
//! below 2⁵³ every operation is exact, and so is the optimum. Otherwise reduced costs are clamped
//! at zero, so the answer is always a valid assignment of maximum cardinality (decided by the
//! exact integer parts), with a total optimal up to rounding; costs so large that sums overflow `f64`
//! give a valid assignment with no optimality promise.

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
#[non_exhaustive]
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
/// unmatched. When several assignments are optimal, which one is returned is deterministic but
/// unspecified. See the [module docs](self) for the algorithm and why it is exact.
///
/// # Errors
/// [`AssignmentError::OutOfRange`] or [`AssignmentError::NotFinite`].
///
/// # Complexity
/// `O(E)` set-up and memory (plus `O(rows + cols)` when those are below about `4·E`), then
/// shortest-path searches that stop at the nearest free column: `O(R · E · log V)` in the worst
/// case, far less in practice (tens to hundreds of milliseconds for 10,000 × 10,000 with 20
/// edges per row, where the previous solver took tens of seconds).
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
    let row_index = Index::new(rows, edges.iter().map(|e| e.0), edges.len());
    let col_index = Index::new(cols, edges.iter().map(|e| e.1), edges.len());
    let graph = Graph::new(&row_index, &col_index, edges);
    let mut solver = Solver::new(&graph);
    solver.run();
    let mut pairs = Vec::new();
    let mut total = 0.0;
    for (r, &c) in solver.col_of.iter().enumerate() {
        if c < graph.cols {
            pairs.push((row_index.original(r), col_index.original(c)));
            total += graph.cost_of(r, c);
        }
    }
    // Dense indices keep the original order, so `pairs` is already sorted by row.
    Ok(Assignment { pairs, total })
}

/// In `Solver::col_of`, a row not placed yet; in `Col::row`, a free column; elsewhere "none".
const NONE: usize = usize::MAX;
/// In `Solver::col_of`: a row placed on its dummy column, i.e. left unmatched for good.
const DUMMY: usize = usize::MAX - 1;

/// Dense indices for the rows (or columns) of a sparse problem: the identity when the declared
/// size is small next to the edge count, else the sorted distinct indices that edges use — so
/// memory stays proportional to the input even for huge declared sizes.
enum Index {
    Identity(usize),
    Sorted(Vec<usize>),
}

impl Index {
    fn new(n: usize, used: impl Iterator<Item = usize>, edges: usize) -> Index {
        if n <= edges.saturating_mul(4).saturating_add(1024) {
            Index::Identity(n)
        } else {
            let mut v: Vec<usize> = used.collect();
            v.sort_unstable();
            v.dedup();
            Index::Sorted(v)
        }
    }
    fn len(&self) -> usize {
        match self {
            Index::Identity(n) => *n,
            Index::Sorted(v) => v.len(),
        }
    }
    /// The dense index of `i`, which must be one the edges use.
    fn dense(&self, i: usize) -> usize {
        match self {
            Index::Identity(_) => i,
            Index::Sorted(v) => v.partition_point(|&x| x < i),
        }
    }
    fn original(&self, d: usize) -> usize {
        match self {
            Index::Identity(_) => d,
            Index::Sorted(v) => v.get(d).copied().unwrap_or(d),
        }
    }
}

/// An edge in the compressed adjacency: column and cost.
#[derive(Clone, Copy, Debug)]
struct Edge {
    c: usize,
    w: f64,
}

/// Compressed adjacency on dense indices: row `r`'s edges are `adj[start[r]..start[r + 1]]`,
/// distinct columns in order of first appearance, each with the cheapest of its duplicates.
struct Graph {
    rows: usize,
    cols: usize,
    start: Vec<usize>,
    adj: Vec<Edge>,
}

impl Graph {
    fn new(row_index: &Index, col_index: &Index, edges: &[(usize, usize, f64)]) -> Graph {
        let (rows, cols) = (row_index.len(), col_index.len());
        let mut start = vec![0usize; rows + 1];
        for e in edges {
            start[row_index.dense(e.0) + 1] += 1;
        }
        for r in 0..rows {
            start[r + 1] += start[r];
        }
        let mut adj = vec![Edge { c: 0, w: 0.0 }; edges.len()];
        let mut next = start.clone();
        for e in edges {
            let r = row_index.dense(e.0);
            adj[next[r]] = Edge {
                c: col_index.dense(e.1),
                w: e.2,
            };
            next[r] += 1;
        }
        // Merge duplicates in place, keeping the cheapest: `seen[c]` is 1 + the last row that
        // had column `c`, `at[c]` where that row's copy went.
        let mut seen = vec![0usize; cols];
        let mut at = vec![0usize; cols];
        let mut out = 0;
        let mut from = 0;
        for r in 0..rows {
            let end = start[r + 1];
            start[r] = out;
            for k in from..end {
                let e = adj[k];
                if seen[e.c] == r + 1 {
                    adj[at[e.c]].w = adj[at[e.c]].w.min(e.w);
                } else {
                    seen[e.c] = r + 1;
                    at[e.c] = out;
                    adj[out] = e;
                    out += 1;
                }
            }
            from = end;
        }
        start[rows] = out;
        adj.truncate(out);
        Graph {
            rows,
            cols,
            start,
            adj,
        }
    }

    fn edges(&self, r: usize) -> &[Edge] {
        self.adj
            .get(self.start[r]..self.start[r + 1])
            .unwrap_or_default()
    }

    /// The cost of edge `(r, c)` (0 if there is none; only called on matched pairs).
    fn cost_of(&self, r: usize, c: usize) -> f64 {
        self.edges(r).iter().find(|e| e.c == c).map_or(0.0, |e| e.w)
    }
}

/// A lexicographic cost `k·M + x` for an infinitely large `M` (see the module docs): `k` counts
/// rows placed on dummies, `x` is real cost. The integer parts stay tiny (they move by at most
/// one per search), and wrap rather than panic in any case.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Lex {
    k: i64,
    x: f64,
}

impl Lex {
    const ZERO: Lex = Lex { k: 0, x: 0.0 };
    /// The cost of a dummy edge.
    const DUMMY: Lex = Lex { k: 1, x: 0.0 };
    /// "Not reached yet".
    const INF: Lex = Lex {
        k: i64::MAX,
        x: f64::INFINITY,
    };

    fn real(x: f64) -> Lex {
        Lex { k: 0, x }
    }
    fn add(self, o: Lex) -> Lex {
        Lex {
            k: self.k.wrapping_add(o.k),
            x: self.x + o.x,
        }
    }
    fn sub(self, o: Lex) -> Lex {
        Lex {
            k: self.k.wrapping_sub(o.k),
            x: self.x - o.x,
        }
    }
    fn lt(self, o: Lex) -> bool {
        self.k < o.k || (self.k == o.k && self.x < o.x)
    }
    /// Clamps a reduced cost that rounding made slightly negative.
    fn at_least_zero(self) -> Lex {
        if self.lt(Lex::ZERO) { Lex::ZERO } else { self }
    }
}

/// A heap entry: a column at a tentative distance, ties broken by `t` (0 for a free column,
/// else a push counter: first pushed, first popped).
#[derive(Clone, Copy, Debug)]
struct Entry {
    d: Lex,
    t: usize,
    c: usize,
}

impl Entry {
    fn before(&self, o: &Entry) -> bool {
        self.d.lt(o.d) || (self.d == o.d && self.t < o.t)
    }
}

/// An indexed 4-ary min-heap of columns with decrease-key, so a column is in it at most once.
/// `pos[c]` is `c`'s slot, or [`NONE`].
struct Heap {
    items: Vec<Entry>,
    pos: Vec<usize>,
}

impl Heap {
    fn new(cols: usize) -> Self {
        Heap {
            items: Vec::new(),
            pos: vec![NONE; cols],
        }
    }

    /// Inserts `e.c`, or lowers its key if present (the new key must not be larger).
    fn push_or_decrease(&mut self, e: Entry) {
        let i = match self.pos.get(e.c) {
            Some(&p) if p != NONE => p,
            _ => {
                self.items.push(e);
                self.items.len() - 1
            }
        };
        self.sift_up(i, e);
    }

    fn pop(&mut self) -> Option<Entry> {
        let last = self.items.pop()?;
        self.unplace(last.c);
        let Some(&top) = self.items.first() else {
            return Some(last);
        };
        self.unplace(top.c);
        self.sift_down(0, last);
        Some(top)
    }

    fn sift_up(&mut self, mut i: usize, e: Entry) {
        while i > 0 {
            let parent = (i - 1) / 4;
            let p = self.items[parent];
            if !e.before(&p) {
                break;
            }
            self.place(i, p);
            i = parent;
        }
        self.place(i, e);
    }

    fn sift_down(&mut self, mut i: usize, e: Entry) {
        let n = self.items.len();
        loop {
            let first = 4 * i + 1;
            if first >= n {
                break;
            }
            let mut best = first;
            for j in first + 1..(first + 4).min(n) {
                if self.items[j].before(&self.items[best]) {
                    best = j;
                }
            }
            let b = self.items[best];
            if !b.before(&e) {
                break;
            }
            self.place(i, b);
            i = best;
        }
        self.place(i, e);
    }

    fn place(&mut self, i: usize, e: Entry) {
        self.items[i] = e;
        if let Some(p) = self.pos.get_mut(e.c) {
            *p = i;
        }
    }

    fn unplace(&mut self, c: usize) {
        if let Some(p) = self.pos.get_mut(c) {
            *p = NONE;
        }
    }

    fn clear(&mut self) {
        for e in &self.items {
            if let Some(p) = self.pos.get_mut(e.c) {
                *p = NONE;
            }
        }
        self.items.clear();
    }
}

/// What the searches read and write per column, kept together.
#[derive(Clone, Copy, Debug)]
struct Col {
    /// Potential.
    v: Lex,
    /// Tentative distance in the current search ([`Lex::INF`] when untouched).
    dist: Lex,
    /// The matched row, or [`NONE`].
    row: usize,
    /// Settled by the current search.
    settled: bool,
}

/// Matching, potentials and the search buffers (allocated once; a search resets only the
/// columns it touched).
struct Solver<'g> {
    g: &'g Graph,
    /// Row potentials.
    u: Vec<Lex>,
    /// Row -> its column, [`NONE`] or [`DUMMY`].
    col_of: Vec<usize>,
    /// Per column; dummy columns are implicit (potential always 0, free while their row is not
    /// on them, reachable only from their row).
    col: Vec<Col>,
    /// The row each touched column was last reached from.
    pred: Vec<usize>,
    /// Columns whose `dist` the current search set.
    touched: Vec<usize>,
    /// Columns the current search settled.
    done: Vec<usize>,
    /// Matched columns reached at exactly the distance being settled, settled next in FIFO
    /// order without going through the heap; `ready_head` is the next one.
    ready: Vec<usize>,
    ready_head: usize,
    heap: Heap,
    /// Push counter (first pushed, first popped among equal distances).
    seq: usize,
    /// `visit[c] == pass`: column `c` was tried in the current tight pass.
    visit: Vec<usize>,
    pass: usize,
    /// Depth-first stack of a tight pass: (row, next position in `tight_col` to try).
    stack: Vec<(usize, usize)>,
    /// Row `r`'s tight edges are `tight_col[tight_start[r]..tight_start[r + 1]]` (columns).
    tight_start: Vec<usize>,
    tight_col: Vec<usize>,
}

impl<'g> Solver<'g> {
    fn new(g: &'g Graph) -> Self {
        Solver {
            g,
            u: vec![Lex::ZERO; g.rows],
            col_of: vec![NONE; g.rows],
            col: vec![
                Col {
                    v: Lex::ZERO,
                    dist: Lex::INF,
                    row: NONE,
                    settled: false,
                };
                g.cols
            ],
            pred: vec![NONE; g.cols],
            touched: Vec::new(),
            done: Vec::new(),
            ready: Vec::new(),
            ready_head: 0,
            heap: Heap::new(g.cols),
            seq: 0,
            visit: vec![0; g.cols],
            pass: 0,
            stack: Vec::new(),
            tight_start: Vec::new(),
            tight_col: Vec::new(),
        }
    }

    /// Places every row that has an edge, on a real column or on its dummy (steps 1–3 of the
    /// module docs).
    fn run(&mut self) {
        let mut free = self.reduce();
        let mut first = true;
        loop {
            free.retain(|&r| self.col_of[r] == NONE);
            if free.is_empty() {
                return;
            }
            // Step 2: tight passes, then one search from all free rows at once.
            for &r in &free {
                self.u[r] = self.cheapest_option(r);
            }
            let before = free.len();
            self.list_tight_edges();
            loop {
                let n = free.len();
                self.tight_pass(&free);
                free.retain(|&r| self.col_of[r] == NONE);
                if free.len() == n || free.is_empty() {
                    break;
                }
            }
            if free.is_empty() {
                return;
            }
            // Few ties (the last search's tight paths were about the only ones): go row by row.
            if !first && before - free.len() < 1 + before / 32 {
                break;
            }
            first = false;
            self.search(&free);
        }
        // Step 3: one search per free row.
        for &r in &free {
            if self.col_of[r] == NONE {
                self.u[r] = self.cheapest_option(r);
                self.search(&[r]);
            }
        }
    }

    /// The least reduced cost among row `r`'s options, its dummy included: a feasible `u[r]`
    /// for a row not placed yet (every reduced cost `≥ 0`, one of them 0).
    fn cheapest_option(&self, r: usize) -> Lex {
        let mut best = Lex::DUMMY;
        for e in self.g.edges(r) {
            let h = Lex::real(e.w).sub(self.col[e.c].v);
            if h.lt(best) {
                best = h;
            }
        }
        best
    }

    /// Step 1, augmenting row reduction: seeds the matching and the duals. Returns the rows
    /// with edges still unmatched.
    fn reduce(&mut self) -> Vec<usize> {
        let g = self.g;
        let mut free: Vec<usize> = (0..g.rows).filter(|&r| !g.edges(r).is_empty()).collect();
        let mut left = Vec::new();
        let mut budget = free.len().saturating_mul(4);
        for _pass in 0..2 {
            let mut next = Vec::new();
            for &first in &free {
                let mut i = first;
                loop {
                    if budget == 0 {
                        next.push(i);
                        break;
                    }
                    budget -= 1;
                    // The two cheapest options; the dummy, at (1, 0), is one of them.
                    let (mut u1, mut e1) = (Lex::DUMMY, None);
                    let (mut u2, mut e2) = (Lex::INF, None);
                    for e in g.edges(i) {
                        let h = Lex::real(e.w).sub(self.col[e.c].v);
                        if h.lt(u1) {
                            (u2, e2) = (u1, e1);
                            (u1, e1) = (h, Some(e));
                        } else if h.lt(u2) {
                            (u2, e2) = (h, Some(e));
                        }
                    }
                    let Some(best) = e1 else {
                        // Best off unmatched for now: the searches decide.
                        left.push(i);
                        break;
                    };
                    let strict = u1.lt(u2);
                    let e = if strict {
                        let c = &mut self.col[best.c];
                        c.v = c.v.sub(u2.sub(u1));
                        best
                    } else if self.col[best.c].row == NONE {
                        best
                    } else if let Some(second) = e2 {
                        second
                    } else {
                        left.push(i);
                        break;
                    };
                    self.u[i] = Lex::real(e.w).sub(self.col[e.c].v);
                    let prev = self.col[e.c].row;
                    self.col[e.c].row = i;
                    self.col_of[i] = e.c;
                    if prev == NONE {
                        break;
                    }
                    self.col_of[prev] = NONE;
                    if strict {
                        i = prev;
                    } else {
                        next.push(prev);
                        break;
                    }
                }
            }
            free = next;
            if free.is_empty() {
                break;
            }
        }
        left.extend(free);
        left.sort_unstable();
        left
    }

    /// Whether `e`, an edge of row `r`, has reduced cost 0 (as computed: rounding can only
    /// make a pass miss a tight edge, which a search then finds).
    fn tight(&self, r: usize, e: &Edge) -> bool {
        let red = Lex::real(e.w).sub(self.u[r]).sub(self.col[e.c].v);
        !Lex::ZERO.lt(red)
    }

    /// Lists every row's tight edges (reduced cost 0) for the passes that follow: the
    /// potentials do not change until the next search, so neither does the list.
    fn list_tight_edges(&mut self) {
        let g = self.g;
        let mut start = std::mem::take(&mut self.tight_start);
        let mut cols = std::mem::take(&mut self.tight_col);
        start.clear();
        cols.clear();
        for r in 0..g.rows {
            start.push(cols.len());
            cols.extend(g.edges(r).iter().filter(|e| self.tight(r, e)).map(|e| e.c));
        }
        start.push(cols.len());
        self.tight_start = start;
        self.tight_col = cols;
    }

    /// Augments, without changing the potentials, along paths of tight edges from the free
    /// rows to free columns (or ending on a tight dummy edge): depth first over the list of
    /// tight edges, looking one step ahead for a free column, each column entered at most once
    /// per pass. Every such path is a shortest augmenting path, so the certificate holds.
    fn tight_pass(&mut self, free: &[usize]) {
        self.pass += 1;
        for &root in free {
            self.stack.clear();
            let mut end = NONE;
            let mut enter = root;
            loop {
                if enter != NONE {
                    let r = enter;
                    enter = NONE;
                    let (a, b) = (self.tight_start[r], self.tight_start[r + 1]);
                    let list = self.tight_col.get(a..b).unwrap_or_default();
                    let ahead = list.iter().find(|&&c| self.col[c].row == NONE);
                    self.stack.push((r, a));
                    if let Some(&c) = ahead {
                        end = c;
                        break;
                    }
                }
                let Some(&(r, k)) = self.stack.last() else {
                    break;
                };
                if k < self.tight_start[r + 1] {
                    if let Some(top) = self.stack.last_mut() {
                        top.1 = k + 1;
                    }
                    let c = self.tight_col[k];
                    if self.visit[c] == self.pass || self.col[c].row == r {
                        continue;
                    }
                    self.visit[c] = self.pass;
                    enter = self.col[c].row;
                    if enter == NONE {
                        end = c; // (the look-ahead finds free columns first)
                        break;
                    }
                } else if !Lex::ZERO.lt(Lex::DUMMY.sub(self.u[r])) {
                    // The dummy edge is tight: this row can be the one left unmatched.
                    end = DUMMY;
                    break;
                } else {
                    self.stack.pop();
                }
            }
            if end == NONE {
                continue;
            }
            // Each row on the stack moves to the column that led to the next one.
            let mut c = end;
            while let Some((r, _)) = self.stack.pop() {
                let old = self.col_of[r];
                self.col_of[r] = c;
                if let Some(col) = self.col.get_mut(c) {
                    col.row = r;
                }
                c = old;
            }
        }
    }

    /// Scans row `r`, reached at distance `d`: relaxes its edges and its dummy. Returns a free
    /// column reached at distance `d` itself (nothing can be nearer), if any.
    fn scan(&mut self, r: usize, d: Lex, dummy: &mut (Lex, usize)) -> Option<usize> {
        let g = self.g;
        let ur = self.u[r];
        for e in g.edges(r) {
            let col = &mut self.col[e.c];
            if col.settled {
                continue;
            }
            let nd = d.add(Lex::real(e.w).sub(ur).sub(col.v).at_least_zero());
            if !nd.lt(col.dist) {
                continue;
            }
            if col.dist.k == i64::MAX {
                self.touched.push(e.c);
            }
            col.dist = nd;
            let free = col.row == NONE;
            self.pred[e.c] = r;
            if !d.lt(nd) {
                if free {
                    return Some(e.c);
                }
                self.ready.push(e.c);
            } else {
                self.seq += 1;
                let t = if free { 0 } else { self.seq };
                self.heap.push_or_decrease(Entry { d: nd, t, c: e.c });
            }
        }
        let nd = d.add(Lex::DUMMY.sub(ur).at_least_zero());
        if nd.lt(dummy.0) {
            *dummy = (nd, r);
        }
        None
    }

    /// The nearest unsettled column and its distance, `d` being the distance being settled,
    /// unless nothing is nearer than `limit` (the nearest dummy).
    fn next_column(&mut self, d: Lex, limit: Lex) -> Option<(usize, Lex)> {
        if d.lt(limit)
            && let Some(&c) = self.ready.get(self.ready_head)
        {
            self.ready_head += 1;
            return Some((c, d));
        }
        loop {
            let top = self.heap.items.first()?;
            if !top.d.lt(limit) {
                return None;
            }
            let e = self.heap.pop()?;
            if !self.col[e.c].settled {
                return Some((e.c, e.d));
            }
        }
    }

    /// One Dijkstra on reduced costs from all the `roots` (free rows whose `u` is their
    /// cheapest option) at distance 0, stopping at the nearest free column or dummy; then the
    /// dual update and one augmentation, which places one root.
    fn search(&mut self, roots: &[usize]) {
        let g = self.g;
        // The nearest dummy so far: (distance, its row).
        let mut dummy = (Lex::INF, roots.first().copied().unwrap_or(NONE));
        let mut sink = None;
        for &root in roots {
            sink = self.scan(root, Lex::ZERO, &mut dummy);
            if sink.is_some() {
                break;
            }
        }
        let mut d = Lex::ZERO;
        while sink.is_none() {
            let Some((c, dc)) = self.next_column(d, dummy.0) else {
                break;
            };
            d = dc;
            let col = &mut self.col[c];
            if col.row == NONE {
                sink = Some(c);
                break;
            }
            col.settled = true;
            let r = col.row;
            self.done.push(c);
            sink = self.scan(r, d, &mut dummy);
        }
        let delta = match sink {
            Some(c) => self.col[c].dist,
            None => dummy.0,
        };
        // Dual update: settled columns and their rows, then the roots.
        for &c in &self.done {
            let col = &mut self.col[c];
            let step = delta.sub(col.dist);
            col.v = col.v.sub(step);
            let r = col.row;
            self.u[r] = self.u[r].add(step);
        }
        for &root in roots {
            self.u[root] = self.u[root].add(delta);
        }
        // Flip the path: each row on it moves to the column that reached it.
        let (mut r, mut c) = match sink {
            Some(c) => (self.pred[c], c),
            None => (dummy.1, DUMMY),
        };
        while r < g.rows {
            let old = self.col_of[r];
            self.col_of[r] = c;
            if let Some(col) = self.col.get_mut(c) {
                col.row = r;
            }
            if old >= g.cols {
                break; // `r` was a root
            }
            c = old;
            r = self.pred[c];
        }
        // Reset only what this search touched.
        for &c in &self.touched {
            let col = &mut self.col[c];
            col.dist = Lex::INF;
            col.settled = false;
        }
        self.touched.clear();
        self.done.clear();
        self.ready.clear();
        self.ready_head = 0;
        self.heap.clear();
    }
}
