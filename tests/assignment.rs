//! The assignment solvers against brute force.

use proptest::prelude::{ProptestConfig, prop, prop_assert, prop_assert_eq, proptest};
use switchboard::assignment::{AssignmentError, solve_dense, solve_sparse};

/// Best (max cardinality, then min cost) over all partial injections rows -> cols, by search.
fn brute(rows: usize, cols: usize, allowed: &dyn Fn(usize, usize) -> Option<f64>) -> (usize, f64) {
    fn go(
        r: usize,
        rows: usize,
        cols: usize,
        used: &mut Vec<bool>,
        allowed: &dyn Fn(usize, usize) -> Option<f64>,
    ) -> (usize, f64) {
        if r == rows {
            return (0, 0.0);
        }
        let mut best = go(r + 1, rows, cols, used, allowed); // row r unmatched
        for c in 0..cols {
            if used[c] {
                continue;
            }
            if let Some(w) = allowed(r, c) {
                used[c] = true;
                let (k, cost) = go(r + 1, rows, cols, used, allowed);
                used[c] = false;
                let cand = (k + 1, cost + w);
                if cand.0 > best.0 || (cand.0 == best.0 && cand.1 < best.1 - 1e-9) {
                    best = cand;
                }
            }
        }
        best
    }
    go(0, rows, cols, &mut vec![false; cols], allowed)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn dense_matches_brute_force(rows in 0usize..6, cols in 0usize..6, seed in prop::collection::vec(-50i32..50, 36)) {
        let cost: Vec<f64> = (0..rows * cols).map(|i| f64::from(seed[i % seed.len()]) + (i as f64) * 0.01).collect();
        let a = solve_dense(rows, cols, &cost).unwrap();
        let (k, best) = brute(rows, cols, &|r, c| Some(cost[r * cols + c]));
        prop_assert_eq!(a.pairs.len(), k);
        prop_assert_eq!(k, rows.min(cols));
        prop_assert!((a.total - best).abs() < 1e-6, "total {} vs brute {}", a.total, best);
        let mut cs: Vec<usize> = a.pairs.iter().map(|p| p.1).collect();
        cs.sort_unstable();
        cs.dedup();
        prop_assert_eq!(cs.len(), k, "a column used twice");
    }

    #[test]
    fn sparse_matches_brute_force(rows in 0usize..6, cols in 0usize..6,
                                  edges in prop::collection::vec((0usize..6, 0usize..6, -40i32..40), 0..25)) {
        let edges: Vec<(usize, usize, f64)> = edges.into_iter()
            .filter(|e| e.0 < rows && e.1 < cols)
            .map(|(r, c, w)| (r, c, f64::from(w)))
            .collect();
        let a = solve_sparse(rows, cols, &edges).unwrap();
        let allowed = |r: usize, c: usize| edges.iter().filter(|e| e.0 == r && e.1 == c).map(|e| e.2).reduce(f64::min);
        let (k, best) = brute(rows, cols, &allowed);
        prop_assert_eq!(a.pairs.len(), k, "not maximum cardinality");
        prop_assert!((a.total - best).abs() < 1e-6, "total {} vs brute {}", a.total, best);
        for &(r, c) in &a.pairs {
            prop_assert!(allowed(r, c).is_some(), "pair ({}, {}) is not an edge", r, c);
        }
    }

    #[test]
    fn sparse_equals_dense_on_full_graphs(n in 1usize..8, m in 1usize..8, seed in prop::collection::vec(0i32..100, 64)) {
        let cost: Vec<f64> = (0..n * m).map(|i| f64::from(seed[i % 64])).collect();
        let edges: Vec<_> = (0..n * m).map(|i| (i / m, i % m, cost[i])).collect();
        let d = solve_dense(n, m, &cost).unwrap();
        let s = solve_sparse(n, m, &edges).unwrap();
        prop_assert!((d.total - s.total).abs() < 1e-6);
        prop_assert_eq!(d.pairs.len(), s.pairs.len());
    }
}

#[test]
fn bad_input_is_refused() {
    assert!(matches!(
        solve_dense(2, 2, &[1.0, 2.0, 3.0]),
        Err(AssignmentError::Shape { .. })
    ));
    assert!(matches!(
        solve_dense(1, 2, &[1.0, f64::NAN]),
        Err(AssignmentError::NotFinite { row: 0, col: 1, .. })
    ));
    assert!(matches!(
        solve_sparse(1, 1, &[(0, 3, 1.0)]),
        Err(AssignmentError::OutOfRange { .. })
    ));
    assert!(matches!(
        solve_sparse(1, 1, &[(0, 0, f64::INFINITY)]),
        Err(AssignmentError::NotFinite { .. })
    ));
}

#[test]
fn larger_instances_agree() {
    let mut rng = switchboard::SeededRng::new(5);
    for &(n, m) in &[(60, 60), (40, 90), (90, 40)] {
        let cost: Vec<f64> = (0..n * m).map(|_| rng.below(1000) as f64).collect();
        let edges: Vec<_> = (0..n * m).map(|i| (i / m, i % m, cost[i])).collect();
        let d = solve_dense(n, m, &cost).unwrap();
        let s = solve_sparse(n, m, &edges).unwrap();
        assert!(
            (d.total - s.total).abs() < 1e-6,
            "{n}x{m}: dense {} sparse {}",
            d.total,
            s.total
        );
    }
}

// ---------------------------------------------------------------- the sparse solver, harder

/// A plain, independent reference for `solve_sparse`: successive shortest augmenting paths
/// (Bellman–Ford from all free rows each time, so no potentials to get wrong), i.e. the
/// textbook definition of "maximum cardinality, then minimum cost". `O(k · V · E)`: small
/// and medium instances only.
fn reference_sparse(rows: usize, cols: usize, edges: &[(usize, usize, f64)]) -> (usize, f64) {
    let mut best: std::collections::HashMap<(usize, usize), f64> = Default::default();
    for &(r, c, w) in edges {
        let e = best.entry((r, c)).or_insert(w);
        *e = e.min(w);
    }
    let adj: Vec<(usize, usize, f64)> = best.iter().map(|(&(r, c), &w)| (r, c, w)).collect();
    let mut row_of = vec![usize::MAX; cols];
    let mut col_of = vec![usize::MAX; rows];
    loop {
        // Distances to columns over alternating paths from any free row (forward edges cost w,
        // matched edges back cost -w); no negative cycles, since the matching is min-cost for
        // its size.
        let mut dist = vec![f64::INFINITY; cols];
        let mut from = vec![usize::MAX; cols];
        let row_dist =
            |dist: &[f64], r: usize, col_of: &[usize], cost: &dyn Fn(usize, usize) -> f64| {
                if col_of[r] == usize::MAX {
                    0.0
                } else {
                    dist[col_of[r]] - cost(r, col_of[r])
                }
            };
        let cost = |r: usize, c: usize| best[&(r, c)];
        for _ in 0..=rows + cols {
            let mut changed = false;
            for &(r, c, w) in &adj {
                let dr = row_dist(&dist, r, &col_of, &cost);
                if dr.is_finite() && dr + w < dist[c] - 1e-9 && col_of[r] != c {
                    dist[c] = dr + w;
                    from[c] = r;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let end = (0..cols)
            .filter(|&c| row_of[c] == usize::MAX && dist[c].is_finite())
            .min_by(|&a, &b| dist[a].total_cmp(&dist[b]));
        let Some(mut c) = end else { break };
        loop {
            let r = from[c];
            let next = col_of[r];
            col_of[r] = c;
            row_of[c] = r;
            if next == usize::MAX {
                break;
            }
            c = next;
        }
    }
    let pairs: Vec<(usize, usize)> = col_of
        .iter()
        .enumerate()
        .filter(|&(_, &c)| c != usize::MAX)
        .map(|(r, &c)| (r, c))
        .collect();
    (pairs.len(), pairs.iter().map(|&(r, c)| best[&(r, c)]).sum())
}

/// Checks that `a` is a valid assignment over `edges` (pairs sorted by row, each an edge, no
/// row or column twice, `total` = the pairs' cheapest costs summed in order) and returns
/// `(matched, total)`.
fn validate(
    rows: usize,
    cols: usize,
    edges: &[(usize, usize, f64)],
    a: &switchboard::assignment::Assignment,
) -> (usize, f64) {
    let mut sum = 0.0;
    let mut row_used = vec![false; rows];
    let mut col_used = std::collections::HashSet::new();
    let mut last = None;
    for &(r, c) in &a.pairs {
        assert!(r < rows && c < cols, "pair ({r}, {c}) out of range");
        assert!(last < Some(r), "pairs not sorted by row / row {r} twice");
        last = Some(r);
        assert!(!row_used[r]);
        row_used[r] = true;
        assert!(col_used.insert(c), "column {c} twice");
        let w = edges
            .iter()
            .filter(|e| e.0 == r && e.1 == c)
            .map(|e| e.2)
            .reduce(f64::min)
            .unwrap_or_else(|| panic!("({r}, {c}) is not an edge"));
        sum += w;
    }
    assert_eq!(sum, a.total, "total vs the pairs' costs");
    (a.pairs.len(), a.total)
}

/// Draws one edge cost.
type CostFn<'a> = &'a dyn Fn(&mut switchboard::SeededRng) -> f64;

/// Random sparse instances of every shape the solver must handle.
fn random_sparse(
    rng: &mut switchboard::SeededRng,
    rows: usize,
    cols: usize,
    degree: usize,
    costs: CostFn<'_>,
) -> Vec<(usize, usize, f64)> {
    let mut edges = Vec::new();
    for r in 0..rows {
        if cols == 0 || rng.below(10) == 0 {
            continue; // about one row in ten has no edge
        }
        for _ in 0..rng.below(degree + 1) {
            // Skewed columns: low ones popular, so Hall's condition often fails.
            let c = rng.below(cols).min(rng.below(cols));
            edges.push((r, c, costs(rng)));
        }
    }
    edges
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// Denser small instances than `sparse_matches_brute_force`: every cell an edge with
    /// probability `p`, duplicates, ties (costs from a small set) or wide negative/positive costs.
    #[test]
    fn sparse_matches_brute_force_dense_small(rows in 0usize..7, cols in 0usize..7, p in 1u32..10,
                                              spread in prop::sample::select(vec![1i64, 3, 1_000, 1_000_000_000_000]),
                                              cells in prop::collection::vec((0u32..10, -1_000i64..1_000, 0u32..4), 49)) {
        let mut edges = Vec::new();
        for r in 0..rows {
            for c in 0..cols {
                let (coin, w, dup) = cells[r * 7 + c];
                if coin < p {
                    let w = (w % (2 * spread + 1).min(2001)) as f64 * (spread as f64 / 1_000.0).max(1.0);
                    edges.push((r, c, w));
                    if dup == 0 {
                        edges.push((r, c, w + 1.0)); // a dearer duplicate
                        edges.push((r, c, w - 1.0)); // and a cheaper one
                    }
                }
            }
        }
        let a = solve_sparse(rows, cols, &edges).unwrap();
        let (k, total) = validate(rows, cols, &edges, &a);
        let allowed = |r: usize, c: usize| edges.iter().filter(|e| e.0 == r && e.1 == c).map(|e| e.2).reduce(f64::min);
        let (bk, best) = brute(rows, cols, &allowed);
        prop_assert_eq!(k, bk, "not maximum cardinality");
        prop_assert!((total - best).abs() <= 1e-9 * best.abs().max(1.0), "total {} vs brute {}", total, best);
    }
}

#[test]
fn sparse_matches_the_reference_on_medium_instances() {
    let mut rng = switchboard::SeededRng::new(0x5EED);
    let cost_kinds: [(&str, CostFn<'_>); 4] = [
        ("ties 1..=3", &|r| (1 + r.below(3)) as f64),
        ("scores -1..=-10", &|r| -((1 + r.below(10)) as f64)),
        ("wide integers", &|r| {
            r.below(2_000_001) as f64 - 1_000_000.0
        }),
        ("huge integers", &|r| {
            (r.below(2_000_001) as f64 - 1_000_000.0) * 1e6
        }),
    ];
    for &(rows, cols, degree) in &[
        (60, 60, 4),
        (80, 40, 6),
        (40, 80, 3),
        (120, 120, 2),
        (100, 30, 8),
        (30, 100, 10),
    ] {
        for (name, costs) in &cost_kinds {
            for _ in 0..3 {
                let edges = random_sparse(&mut rng, rows, cols, degree, costs);
                let a = solve_sparse(rows, cols, &edges).unwrap();
                let got = validate(rows, cols, &edges, &a);
                let want = reference_sparse(rows, cols, &edges);
                assert_eq!(
                    got.0, want.0,
                    "{rows}x{cols} deg {degree} {name}: cardinality"
                );
                assert_eq!(got.1, want.1, "{rows}x{cols} deg {degree} {name}: total");
            }
        }
    }
}

#[test]
fn sparse_real_costs_agree_with_the_reference_up_to_rounding() {
    let mut rng = switchboard::SeededRng::new(77);
    for &(rows, cols, degree) in &[(70, 70, 5), (90, 50, 4), (50, 90, 4)] {
        for _ in 0..5 {
            let edges = random_sparse(&mut rng, rows, cols, degree, &|r| {
                (r.below(1 << 30) as f64 / 7.0).sin() * 100.0
            });
            let a = solve_sparse(rows, cols, &edges).unwrap();
            let mut sum = 0.0;
            for &(r, c) in &a.pairs {
                sum += edges
                    .iter()
                    .filter(|e| e.0 == r && e.1 == c)
                    .map(|e| e.2)
                    .reduce(f64::min)
                    .unwrap();
            }
            assert_eq!(sum, a.total);
            let want = reference_sparse(rows, cols, &edges);
            assert_eq!(a.pairs.len(), want.0);
            assert!((a.total - want.1).abs() < 1e-7, "{} vs {}", a.total, want.1);
        }
    }
}

#[test]
fn a_row_that_cannot_be_matched_gives_way_to_the_cheaper_one() {
    // One column, two rows: the cheaper row must get it whichever comes first.
    let a = solve_sparse(2, 1, &[(0, 0, 10.0), (1, 0, 1.0)]).unwrap();
    assert_eq!((a.pairs, a.total), (vec![(1, 0)], 1.0));
    let a = solve_sparse(2, 1, &[(0, 0, 1.0), (1, 0, 10.0)]).unwrap();
    assert_eq!((a.pairs, a.total), (vec![(0, 0)], 1.0));
    // Cardinality first: row 0 would rather take column 0 (cost 0), but then row 1 could not
    // be matched.
    let a = solve_sparse(2, 2, &[(0, 0, 0.0), (0, 1, 100.0), (1, 0, 50.0)]).unwrap();
    assert_eq!((a.pairs, a.total), (vec![(0, 1), (1, 0)], 150.0));
    // A chain: the displaced row is two hops away, and the cheapest to drop.
    let a = solve_sparse(3, 2, &[(0, 0, 5.0), (1, 0, 1.0), (1, 1, 1.0), (2, 1, 9.0)]).unwrap();
    assert_eq!((a.pairs, a.total), (vec![(0, 0), (1, 1)], 6.0));
}

#[test]
fn sparse_edge_cases() {
    // Nothing at all.
    assert_eq!(solve_sparse(0, 0, &[]).unwrap().pairs, vec![]);
    assert_eq!(solve_sparse(5, 3, &[]).unwrap().total, 0.0);
    // Rows without edges, a single edge, a duplicated edge keeping the cheapest.
    let a = solve_sparse(4, 4, &[(2, 3, 7.0), (2, 3, -2.0), (2, 3, 5.0)]).unwrap();
    assert_eq!((a.pairs, a.total), (vec![(2, 3)], -2.0));
    // Negative and positive costs together; every row can be matched.
    let a = solve_sparse(
        2,
        2,
        &[(0, 0, -5.0), (0, 1, 3.0), (1, 0, -4.0), (1, 1, 10.0)],
    )
    .unwrap();
    assert_eq!((a.pairs, a.total), (vec![(0, 1), (1, 0)], -1.0));
    // All ties.
    let edges: Vec<_> = (0..6)
        .flat_map(|r| (0..6).map(move |c| (r, c, 1.0)))
        .collect();
    let a = solve_sparse(6, 6, &edges).unwrap();
    assert_eq!((a.pairs.len(), a.total), (6, 6.0));
    // Large magnitudes (integers, exactly representable, sums below 2^53).
    let a = solve_sparse(
        2,
        2,
        &[(0, 0, 1e15), (0, 1, -1e15), (1, 0, -1e15), (1, 1, 1e15)],
    )
    .unwrap();
    assert_eq!((a.pairs, a.total), (vec![(0, 1), (1, 0)], -2e15));
    // Huge declared sizes with few edges: memory stays proportional to the edges.
    let big = usize::MAX;
    let a = solve_sparse(
        big,
        big,
        &[(big - 1, 7, 1.0), (3, big - 1, 2.0), (3, 7, 0.5)],
    )
    .unwrap();
    assert_eq!((a.pairs, a.total), (vec![(3, big - 1), (big - 1, 7)], 3.0));
    // Costs whose sums overflow f64: no optimality promise, but a valid assignment, no panic.
    let m = f64::MAX;
    let edges = [
        (0, 0, m),
        (0, 1, -m),
        (1, 0, -m),
        (1, 1, m),
        (2, 0, m),
        (2, 1, m),
    ];
    let a = solve_sparse(3, 2, &edges).unwrap();
    assert_eq!(a.pairs.len(), 2);
    let mut cs: Vec<usize> = a.pairs.iter().map(|p| p.1).collect();
    cs.sort_unstable();
    assert_eq!(cs, vec![0, 1]);
}

#[test]
fn sparse_is_deterministic() {
    let mut rng = switchboard::SeededRng::new(9);
    let edges = random_sparse(&mut rng, 300, 200, 6, &|r| (r.below(5)) as f64);
    let a = solve_sparse(300, 200, &edges).unwrap();
    for _ in 0..3 {
        assert_eq!(solve_sparse(300, 200, &edges).unwrap(), a);
    }
}
