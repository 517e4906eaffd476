//! The assignment solvers against reference optima on larger fixed instances.
//!
//! The instances in `tests/data/assignment/` were drawn from seeded generators and their optima
//! computed by SciPy (`linear_sum_assignment`, cross-checked by `maximum_bipartite_matching` and
//! `min_weight_full_bipartite_matching` for the sparse ones), independently of
//! `src/assignment.rs`, by `scripts/reference_assignment.py`, which also documents the format.
//! Costs are integers, so totals must match **exactly**.

use std::collections::HashMap;
use std::path::PathBuf;
use switchboard::assignment::{Assignment, solve_dense, solve_sparse};

enum Instance {
    Dense {
        rows: usize,
        cols: usize,
        cost: Vec<f64>,
    },
    Sparse {
        rows: usize,
        cols: usize,
        edges: Vec<(usize, usize, f64)>,
    },
}

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/assignment")
}

fn int(s: &str, what: &str) -> i64 {
    s.parse()
        .unwrap_or_else(|e| panic!("{what}: bad integer {s:?}: {e}"))
}

fn load(name: &str) -> Instance {
    let path = data_dir().join(format!("{name}.txt"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    let header: Vec<&str> = lines
        .next()
        .expect("header line")
        .split_whitespace()
        .collect();
    let dim = |i: usize| int(header[i], name) as usize;
    let (rows, cols) = (dim(1), dim(2));
    match header[0] {
        "dense" => {
            let mut cost = Vec::with_capacity(rows * cols);
            for _ in 0..rows {
                let line = lines.next().expect("a dense row");
                let before = cost.len();
                cost.extend(line.split_whitespace().map(|v| int(v, name) as f64));
                assert_eq!(cost.len() - before, cols, "{name}: row length");
            }
            Instance::Dense { rows, cols, cost }
        }
        "sparse" => {
            let n_edges = dim(3);
            let mut edges = Vec::with_capacity(n_edges);
            for r in 0..rows {
                let line = lines.next().expect("a sparse row (possibly empty)");
                for item in line.split_whitespace() {
                    let (c, w) = item.split_once(':').expect("col:cost");
                    edges.push((r, int(c, name) as usize, int(w, name) as f64));
                }
            }
            assert_eq!(edges.len(), n_edges, "{name}: edge count");
            Instance::Sparse { rows, cols, edges }
        }
        other => panic!("{name}: unknown kind {other:?}"),
    }
}

/// `(matched, total)` per instance name, from `reference.txt`.
fn references() -> HashMap<String, (usize, i64)> {
    let text = std::fs::read_to_string(data_dir().join("reference.txt")).expect("reference.txt");
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (
                f[0].to_owned(),
                (int(f[1], "matched") as usize, int(f[2], "total")),
            )
        })
        .collect()
}

/// Checks the solution is a valid assignment of the right size and that its total is both
/// what the pairs add up to and the reference optimum.
fn check(name: &str, a: &Assignment, cost_of: impl Fn(usize, usize) -> Option<f64>) {
    let refs = references();
    let &(matched, total) = refs
        .get(name)
        .unwrap_or_else(|| panic!("no reference for {name}"));
    let mut rows_seen = std::collections::HashSet::new();
    let mut cols_seen = std::collections::HashSet::new();
    let mut sum = 0.0;
    for &(r, c) in &a.pairs {
        assert!(rows_seen.insert(r), "{name}: row {r} matched twice");
        assert!(cols_seen.insert(c), "{name}: column {c} matched twice");
        sum += cost_of(r, c).unwrap_or_else(|| panic!("{name}: ({r}, {c}) is not an edge"));
    }
    assert_eq!(a.pairs.len(), matched, "{name}: matched pairs");
    assert_eq!(sum, a.total, "{name}: reported total vs the pairs' costs");
    assert_eq!(a.total, total as f64, "{name}: total vs the SciPy optimum");
}

fn run_dense(name: &str) {
    let Instance::Dense { rows, cols, cost } = load(name) else {
        panic!("{name} is not dense")
    };
    let a = solve_dense(rows, cols, &cost).expect("solve_dense");
    check(name, &a, |r, c| Some(cost[r * cols + c]));
}

fn run_sparse(name: &str) {
    let Instance::Sparse { rows, cols, edges } = load(name) else {
        panic!("{name} is not sparse")
    };
    let a = solve_sparse(rows, cols, &edges).expect("solve_sparse");
    let mut best: HashMap<(usize, usize), f64> = HashMap::new();
    for &(r, c, w) in &edges {
        let e = best.entry((r, c)).or_insert(w);
        *e = e.min(w);
    }
    check(name, &a, |r, c| best.get(&(r, c)).copied());
}

#[test]
fn dense_50x50() {
    run_dense("dense_50x50");
}

#[test]
fn dense_200x200() {
    run_dense("dense_200x200");
}

#[test]
fn dense_300x150_more_rows_than_columns() {
    run_dense("dense_300x150");
}

#[test]
fn dense_120x250_with_many_ties() {
    run_dense("dense_120x250_ties");
}

#[test]
fn sparse_2000x2000_about_20_edges_per_row() {
    run_sparse("sparse_2000x2000_deg20");
}

#[test]
fn sparse_1500x1000_without_a_full_matching() {
    run_sparse("sparse_1500x1000_deficient");
}
