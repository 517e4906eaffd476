//! Batch assignment benchmarks (issue 8); see docs/PERFORMANCE.md, section "Batch assignment".
//!
//! ```text
//! cargo bench --bench batch                                        # full run
//! SWITCHBOARD_BENCH_QUICK=1 cargo bench --bench batch -- --test    # CI smoke, smaller sizes
//! ```
//!
//! Instances (seeded, `switchboard::SeededRng`):
//!
//! * **baseline**: the sparse solver as it was before issue 8's rewrite, kept in this file
//!   ([`baseline::solve_sparse`]) and timed on the same instances in the same run (in the report
//!   table at every sparse size, under criterion up to 2k × 2k: one 10k × 10k solve takes
//!   25–60 s).
//! * **dense n × n**: every task can go to every agent; match scores uniform integers 0..=999.
//!   Timed: [`solve_dense`] on the cost matrix `-score`.
//! * **sparse T × A**: each task is eligible for 15..=25 distinct agents drawn uniformly (about
//!   20 on average), at a skill level 1..=10 that is its match score. Timed: [`solve_sparse`] on
//!   the edge list `(task, agent, -level)`, and [`Router::dispatch_batch`] on a
//!   [`Dispatch::Batched`] router holding the same graph: task `t` requires skill `t` at level 1,
//!   agent `a` has skill `t` at the edge's level exactly when `(t, a)` is an edge, one chat slot
//!   per agent, so the router's eligibility graph and default match scores
//!   (`required_level × level`) are the instance itself.
//! * **greedy**: tasks in order, each to its best-scoring free eligible agent (ties: the lowest
//!   agent index), the result of one-at-a-time routing with [`Strategy::BestScore`]. Timed as a
//!   plain function on the same data, and, for the sparse instance, as the immediate router
//!   (`Strategy::BestScore`, tasks arriving one by one while every agent is free), which must
//!   reach exactly the plain greedy's total.
//!
//! Before the criterion benches run, a report table (stderr) gives, per instance, the matched
//! count and total score of the optimum and of greedy and the time each took, measured by hand
//! with `Instant` (median of a few runs; one run for the baseline at 10k). It also times
//! [`solve_sparse`] on a variant of each sparse instance with distinct real costs
//! (`-(level + fraction)`), where ties cannot help the solver, and (full run only) times
//! [`solve_sparse`] alone on 25k × 25k, both cost kinds, to show how the exact solve grows.

mod workload;

use criterion::{BatchSize, BenchmarkId, Criterion, SamplingMode, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::{Duration, Instant};
use switchboard::assignment::{solve_dense, solve_sparse};
use switchboard::{
    AgentId, AgentSpec, AgentState, Channel, Dispatch, Effect, Requirements, Router, RouterConfig,
    SeededRng, SkillId, Strategy, TaskId, TaskSpec, Time,
};

const DENSE_SEED: u64 = 0xBA7C_0001;
const SPARSE_SEED: u64 = 0xBA7C_0002;

// ------------------------------------------------------------------ instances

/// Row-major `n × n` match scores, integers 0..=999.
fn dense_scores(n: usize) -> Vec<f64> {
    let mut rng = SeededRng::new(DENSE_SEED ^ n as u64);
    (0..n * n).map(|_| rng.below(1000) as f64).collect()
}

/// Per task, its eligible agents with levels 1..=10 (distinct agents, in draw order).
struct Sparse {
    tasks: usize,
    agents: usize,
    adj: Vec<Vec<(u32, u8)>>,
}

impl Sparse {
    fn new(tasks: usize, agents: usize) -> Self {
        let mut rng = SeededRng::new(SPARSE_SEED ^ tasks as u64);
        let adj = (0..tasks)
            .map(|_| {
                let k = 15 + rng.below(11);
                let mut row: Vec<(u32, u8)> = Vec::with_capacity(k);
                while row.len() < k {
                    let a = rng.below(agents) as u32;
                    if row.iter().all(|e| e.0 != a) {
                        row.push((a, 1 + rng.below(10) as u8));
                    }
                }
                row
            })
            .collect();
        Sparse { tasks, agents, adj }
    }
    fn edges(&self) -> usize {
        self.adj.iter().map(Vec::len).sum()
    }
    /// `(task, agent, -level)`: minimum cost = maximum score.
    fn cost_edges(&self) -> Vec<(usize, usize, f64)> {
        self.adj
            .iter()
            .enumerate()
            .flat_map(|(t, row)| {
                row.iter()
                    .map(move |&(a, l)| (t, a as usize, -f64::from(l)))
            })
            .collect()
    }
    /// `(task, agent, -(level + fraction))`, the fraction a seeded draw in `[0, 1)`: the same
    /// graph with (almost surely) distinct costs.
    fn real_cost_edges(&self) -> Vec<(usize, usize, f64)> {
        let mut rng = SeededRng::new(SPARSE_SEED ^ 0xF ^ self.tasks as u64);
        self.cost_edges()
            .into_iter()
            .map(|(t, a, w)| (t, a, w - rng.below(1 << 20) as f64 / f64::from(1 << 20)))
            .collect()
    }
    fn score(&self, task: usize, agent: usize) -> f64 {
        self.adj[task]
            .iter()
            .find(|e| e.0 as usize == agent)
            .map_or(f64::NAN, |e| f64::from(e.1))
    }
}

// ------------------------------------------------------------------ baseline

/// The sparse solver as it was before the rewrite of issue 8 (commit 6a6f9d9,
/// `src/assignment.rs`), kept verbatim apart from input validation (the benches' edges are
/// valid) so `benches/batch.rs` can time it next to the current one in the same run: successive
/// shortest augmenting paths, each a Dijkstra restarted from *all* free rows.
mod baseline {
    use ordered_float::NotNan;
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    use switchboard::assignment::Assignment;

    /// Maximum-cardinality, minimum-cost assignment (the previous implementation).
    pub fn solve_sparse(rows: usize, cols: usize, edges: &[(usize, usize, f64)]) -> Assignment {
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
        Assignment { pairs, total }
    }

    fn nn(x: f64) -> NotNan<f64> {
        // Distances are sums of finite, non-negative reduced costs.
        NotNan::new(x).unwrap_or_default()
    }
}

// ------------------------------------------------------------------ greedy

/// Tasks in order, each to its best free agent: `(matched, total score)`.
fn greedy_dense(n: usize, score: &[f64]) -> (usize, f64) {
    let mut used = vec![false; n];
    let mut total = 0.0;
    for r in 0..n {
        let row = &score[r * n..(r + 1) * n];
        let mut best: Option<usize> = None;
        for (c, &s) in row.iter().enumerate() {
            if !used[c] && best.is_none_or(|b| s > row[b]) {
                best = Some(c);
            }
        }
        if let Some(c) = best {
            used[c] = true;
            total += row[c];
        }
    }
    (n, total)
}

fn greedy_sparse(g: &Sparse) -> (usize, f64) {
    let mut used = vec![false; g.agents];
    let (mut matched, mut total) = (0, 0.0);
    for row in &g.adj {
        let mut best: Option<(u32, u8)> = None;
        for &(a, l) in row {
            if !used[a as usize]
                && best.is_none_or(|b| (l, std::cmp::Reverse(a)) > (b.1, std::cmp::Reverse(b.0)))
            {
                best = Some((a, l));
            }
        }
        if let Some((a, l)) = best {
            used[a as usize] = true;
            matched += 1;
            total += f64::from(l);
        }
    }
    (matched, total)
}

// ------------------------------------------------------------------ routers on the sparse graph

/// A router with `cfg` holding the graph's agents (all `Available`, one chat slot each); when
/// `with_tasks`, also every task (on a batched router they wait for the decision point). Returns
/// the router and the task specs (task `t` requires skill `t` at level 1).
fn graph_router(g: &Sparse, cfg: RouterConfig, with_tasks: bool) -> (Router, Vec<TaskSpec>) {
    let mut r = Router::new(cfg).expect("config");
    let c = r.catalog_mut();
    let brand = c.tenant("brand");
    let skills: Vec<SkillId> = (0..g.tasks).map(|t| c.skill(&format!("t{t}"))).collect();
    let mut per_agent: Vec<Vec<(SkillId, u8)>> = vec![Vec::new(); g.agents];
    for (t, row) in g.adj.iter().enumerate() {
        for &(a, l) in row {
            per_agent[a as usize].push((skills[t], l));
        }
    }
    for (a, mut sk) in per_agent.into_iter().enumerate() {
        sk.sort_unstable();
        let mut spec = AgentSpec::new(AgentId(a as u64))
            .capacity(Channel::Chat, 1)
            .state(AgentState::Available);
        spec.skills = sk;
        r.add_agent(Time::ZERO, spec).expect("add_agent");
    }
    let specs: Vec<TaskSpec> = skills
        .iter()
        .enumerate()
        .map(|(t, &s)| {
            TaskSpec::new(TaskId(t as u64), brand, Channel::Chat)
                .requires(Requirements::default().skill(s, 1))
        })
        .collect();
    if with_tasks {
        for s in &specs {
            r.arrive(Time::ZERO, s.clone()).expect("arrive");
        }
    }
    r.drain_effects().for_each(drop);
    (r, specs)
}

fn batched_config(exact_edges: usize) -> RouterConfig {
    RouterConfig {
        dispatch: Dispatch::Batched,
        batch_exact_edges: exact_edges,
        ..RouterConfig::default()
    }
}

fn immediate_best_score_config() -> RouterConfig {
    RouterConfig {
        default_strategy: Strategy::BestScore,
        ..RouterConfig::default()
    }
}

/// Immediate routing, best score, tasks arriving one by one: `(matched, total score)`.
fn greedy_router(g: &Sparse, r: &mut Router, specs: Vec<TaskSpec>) -> (usize, f64) {
    let now = Time::from_secs(1);
    for s in specs {
        r.arrive(now, s).expect("arrive");
    }
    let (mut matched, mut total) = (0, 0.0);
    for e in r.drain_effects() {
        if let Effect::Offer { task, agent, .. } = e {
            matched += 1;
            total += g.score(task.0 as usize, agent.0 as usize);
        }
    }
    (matched, total)
}

// ------------------------------------------------------------------ the report

fn median_time(runs: usize, mut f: impl FnMut()) -> Duration {
    let mut t: Vec<Duration> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed()
        })
        .collect();
    t.sort_unstable();
    t[t.len() / 2]
}

/// Hand-timed repetitions: 3 for the big instances (seconds each), 7 otherwise.
fn runs_for(work: f64) -> usize {
    if work > 5e8 { 3 } else { 7 }
}

fn fmt_time(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s >= 1.0 {
        format!("{s:.2} s")
    } else if s >= 1e-3 {
        format!("{:.2} ms", s * 1e3)
    } else {
        format!("{:.1} µs", s * 1e6)
    }
}

struct Line {
    instance: String,
    method: &'static str,
    time: Duration,
    matched: usize,
    score: f64,
}

fn report(dense_sizes: &[usize], sparse_sizes: &[usize], solver_only_sizes: &[usize]) {
    let mut lines: Vec<Line> = Vec::new();
    for &n in dense_sizes {
        let score = dense_scores(n);
        let cost: Vec<f64> = score.iter().map(|s| -s).collect();
        let name = format!("dense {n}×{n}");
        let mut opt = None;
        let t = median_time(runs_for((n * n * n) as f64), || {
            opt = Some(solve_dense(n, n, black_box(&cost)).expect("solve_dense"));
        });
        let opt = opt.expect("ran");
        lines.push(Line {
            instance: name.clone(),
            method: "solve_dense (optimal)",
            time: t,
            matched: opt.pairs.len(),
            score: -opt.total,
        });
        let mut gr = (0, 0.0);
        let t = median_time(7, || gr = greedy_dense(n, black_box(&score)));
        lines.push(Line {
            instance: name,
            method: "greedy",
            time: t,
            matched: gr.0,
            score: gr.1,
        });
    }
    for &n in sparse_sizes {
        let g = Sparse::new(n, n);
        let edges = g.cost_edges();
        let name = format!("sparse {n}×{n}, {} edges", g.edges());
        let runs = runs_for((n * n) as f64 * 20.0);
        let mut opt = None;
        let t = median_time(runs, || {
            opt = Some(solve_sparse(n, n, black_box(&edges)).expect("solve_sparse"));
        });
        let opt = opt.expect("ran");
        lines.push(Line {
            instance: name.clone(),
            method: "solve_sparse (optimal)",
            time: t,
            matched: opt.pairs.len(),
            score: -opt.total,
        });
        let base_runs = if n >= 5_000 { 1 } else { 3 };
        let mut base = None;
        let t = median_time(base_runs, || {
            base = Some(baseline::solve_sparse(n, n, black_box(&edges)));
        });
        let base = base.expect("ran");
        assert_eq!(
            (base.pairs.len(), base.total),
            (opt.pairs.len(), opt.total),
            "baseline and current solver disagree"
        );
        lines.push(Line {
            instance: name.clone(),
            method: "baseline: solve_sparse before issue 8",
            time: t,
            matched: base.pairs.len(),
            score: -base.total,
        });
        let real = g.real_cost_edges();
        let mut ropt = None;
        let t = median_time(runs, || {
            ropt = Some(solve_sparse(n, n, black_box(&real)).expect("solve_sparse"));
        });
        let ropt = ropt.expect("ran");
        // Pushed last, so the lines in between compare with the score optimum.
        let real_line = Line {
            instance: format!("{name}, real costs"),
            method: "solve_sparse (optimal for the real costs)",
            time: t,
            matched: ropt.pairs.len(),
            score: -ropt.total,
        };

        for (mode, limit) in [("exact", usize::MAX), ("approximate", 0)] {
            let setup = Instant::now();
            let (batched, _) = graph_router(&g, batched_config(limit), true);
            eprintln!(
                "batch report: built the {mode} batched router for {name} in {}",
                fmt_time(setup.elapsed())
            );
            let mut ts = Vec::new();
            let mut rep = None;
            for _ in 0..runs {
                let mut r = batched.clone();
                let s = Instant::now();
                rep = Some(
                    r.dispatch_batch(Time::from_secs(1))
                        .expect("dispatch_batch"),
                );
                ts.push(s.elapsed());
            }
            ts.sort_unstable();
            let rep = rep.expect("ran");
            if mode == "exact" {
                assert!(rep.exact, "the batch should be solved exactly");
                assert_eq!(
                    rep.offers,
                    opt.pairs.len(),
                    "batch serves as many as the optimum"
                );
                assert_eq!(rep.score, -opt.total, "batch score vs solve_sparse");
            } else {
                eprintln!(
                    "batch report: approximate batch on {name}: score {} upper bound {} \
                     (reported gap {})",
                    rep.score,
                    rep.upper_bound,
                    rep.gap()
                );
            }
            lines.push(Line {
                instance: name.clone(),
                method: if mode == "exact" {
                    "Router::dispatch_batch (exact)"
                } else {
                    "Router::dispatch_batch (approximate)"
                },
                time: ts[ts.len() / 2],
                matched: rep.offers,
                score: rep.score,
            });
        }

        let mut gr = (0, 0.0);
        let t = median_time(7, || gr = greedy_sparse(black_box(&g)));
        lines.push(Line {
            instance: name.clone(),
            method: "greedy",
            time: t,
            matched: gr.0,
            score: gr.1,
        });
        let (immediate, specs) = graph_router(&g, immediate_best_score_config(), false);
        let mut ts = Vec::new();
        let mut rr = (0, 0.0);
        for _ in 0..runs.max(3) {
            let mut r = immediate.clone();
            let sp = specs.clone();
            let s = Instant::now();
            let got = greedy_router(&g, &mut r, sp);
            ts.push(s.elapsed());
            rr = got;
        }
        ts.sort_unstable();
        assert_eq!(
            rr, gr,
            "immediate BestScore routing must equal the plain greedy"
        );
        lines.push(Line {
            instance: name,
            method: "greedy: immediate router, BestScore",
            time: ts[ts.len() / 2],
            matched: rr.0,
            score: rr.1,
        });
        lines.push(real_line);
    }
    // Larger sparse instances, solver only (how the exact solve grows past 10k × 10k).
    for &n in solver_only_sizes {
        let g = Sparse::new(n, n);
        let name = format!("sparse {n}×{n}, {} edges", g.edges());
        for (costs, edges) in [("", g.cost_edges()), (", real costs", g.real_cost_edges())] {
            let mut opt = None;
            let t = median_time(3, || {
                opt = Some(solve_sparse(n, n, black_box(&edges)).expect("solve_sparse"));
            });
            let opt = opt.expect("ran");
            lines.push(Line {
                instance: format!("{name}{costs}"),
                method: "solve_sparse (optimal)",
                time: t,
                matched: opt.pairs.len(),
                score: -opt.total,
            });
        }
    }
    eprintln!();
    eprintln!("| instance | method | time | matched | total score | vs optimum |");
    eprintln!("|---|---|---:|---:|---:|---:|");
    let mut best = 0.0;
    for l in &lines {
        if l.method.contains("optimal") {
            best = l.score;
        }
        eprintln!(
            "| {} | {} | {} | {} | {} | {:+.2} % |",
            l.instance,
            l.method,
            fmt_time(l.time),
            l.matched,
            if l.score.fract() == 0.0 {
                format!("{}", l.score)
            } else {
                format!("{:.3}", l.score)
            },
            (l.score - best) / best * 100.0
        );
    }
    eprintln!();
}

// ------------------------------------------------------------------ criterion

/// Sparse instances larger than this run the baseline only in the hand-timed report: one
/// baseline solve of 10k × 10k takes 25–60 s on the machine of docs/PERFORMANCE.md, so ten
/// criterion samples (plus warm-up) would take over five minutes.
const CRITERION_BASELINE_MAX: usize = 2_000;

/// Dense sizes, sparse sizes, and sparse sizes timed in the report for `solve_sparse` only.
fn sizes() -> (Vec<usize>, Vec<usize>, Vec<usize>) {
    if workload::quick() {
        (vec![100, 300], vec![1_000], vec![])
    } else {
        (vec![100, 1_000, 2_000], vec![2_000, 10_000], vec![25_000])
    }
}

fn benches(c: &mut Criterion) {
    let (dense, sparse, solver_only) = sizes();
    report(&dense, &sparse, &solver_only);

    let mut grp = c.benchmark_group("solve_dense");
    for &n in &dense {
        let cost: Vec<f64> = dense_scores(n).iter().map(|s| -s).collect();
        if n >= 1000 {
            grp.sample_size(10)
                .sampling_mode(SamplingMode::Flat)
                .measurement_time(Duration::from_secs(if n >= 2000 { 10 } else { 5 }));
        }
        grp.bench_function(BenchmarkId::from_parameter(format!("{n}x{n}")), |b| {
            b.iter(|| solve_dense(n, n, black_box(&cost)).expect("solve_dense"));
        });
        let score = dense_scores(n);
        grp.bench_function(BenchmarkId::new("greedy", format!("{n}x{n}")), |b| {
            b.iter(|| greedy_dense(n, black_box(&score)));
        });
    }
    grp.finish();

    for &n in &sparse {
        let g = Sparse::new(n, n);
        let edges = g.cost_edges();
        let id = format!("{}x{}_deg20", label(n), label(n));
        let mut grp = c.benchmark_group("batch_sparse");
        grp.sample_size(10)
            .sampling_mode(SamplingMode::Flat)
            .measurement_time(Duration::from_secs(if n >= 2_000 { 10 } else { 3 }));
        grp.bench_function(BenchmarkId::new("solve_sparse", &id), |b| {
            b.iter(|| solve_sparse(n, n, black_box(&edges)).expect("solve_sparse"));
        });
        if n <= CRITERION_BASELINE_MAX {
            grp.bench_function(BenchmarkId::new("baseline_solve_sparse", &id), |b| {
                b.iter(|| baseline::solve_sparse(n, n, black_box(&edges)));
            });
        }
        let real = g.real_cost_edges();
        grp.bench_function(BenchmarkId::new("solve_sparse_real_costs", &id), |b| {
            b.iter(|| solve_sparse(n, n, black_box(&real)).expect("solve_sparse"));
        });
        for &(what, limit) in &[("dispatch_batch", usize::MAX), ("dispatch_batch_approx", 0)] {
            let (batched, _) = graph_router(&g, batched_config(limit), true);
            grp.bench_function(BenchmarkId::new(what, &id), |b| {
                b.iter_batched_ref(
                    || batched.clone(),
                    |r| {
                        r.dispatch_batch(Time::from_secs(1))
                            .expect("dispatch_batch")
                    },
                    BatchSize::PerIteration,
                );
            });
        }
        grp.bench_function(BenchmarkId::new("greedy", &id), |b| {
            b.iter(|| greedy_sparse(black_box(&g)));
        });
        let (immediate, specs) = graph_router(&g, immediate_best_score_config(), false);
        grp.bench_function(BenchmarkId::new("greedy_immediate_router", &id), |b| {
            b.iter_batched_ref(
                || (immediate.clone(), specs.clone()),
                |(r, s)| greedy_router(&g, r, std::mem::take(s)),
                BatchSize::PerIteration,
            );
        });
        grp.finish();
    }
}

fn label(n: usize) -> String {
    if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

criterion_group! {
    name = batch;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = benches
}
criterion_main!(batch);
