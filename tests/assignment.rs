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
