//! Batch assignment: every waiting task against every free slot at once.
//!
//! Greedy, one-at-a-time routing leaves value on the table when many tasks and many agents are
//! free together (shift start, a reconnect storm, a surge meeting a freshly called-in pool).
//! [`Router::dispatch_batch`] instead solves the whole decision:
//!
//! 1. **Which tasks are served** — the *lexicographically first* set of tasks, in serving order,
//!    that can be matched at once (tasks are taken in priority order and kept if an augmenting
//!    path finds them room, re-seating tasks already chosen). So a higher-priority task is never
//!    left waiting while a lower-priority one takes a slot it could have had: swapping the two
//!    would give a lexicographically earlier set.
//! 2. **Who serves them** — among all assignments of exactly that set, one that maximises the
//!    total [`Scoring::match_score`], solved exactly as a minimum-cost assignment
//!    ([`assignment::solve_sparse`](crate::assignment::solve_sparse)) on the sparse eligibility
//!    graph, with an agent's free slots on a channel as parallel columns. Above
//!    [`RouterConfig::batch_exact_edges`](crate::RouterConfig::batch_exact_edges) the router keeps
//!    the step-1 assignment, improves it by moving tasks to better free slots, and reports the
//!    gap to an upper bound (every task at its best eligible agent).
//!
//! Capacity, eligibility and decline back-offs are respected exactly as in immediate routing;
//! each served task gets one offer. After a batch, work conservation holds: an unserved task has
//! no free eligible agent left (else step 1 would have served it).

use super::{Phase, Router, and_ones};
use crate::assignment::solve_sparse;
use crate::{Channel, OfferReason, OrderKey, RouterError, Scoring, Strategy, TaskId, Time};
use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

/// Score given to a non-finite match score, so sums stay finite.
const LOW_SCORE: f64 = -1e12;

/// What a batch did.
///
/// # Example
/// ```
/// use switchboard::*;
/// let cfg = RouterConfig { dispatch: Dispatch::Batched, ..RouterConfig::default() };
/// let mut router = Router::new(cfg).unwrap();
/// let brand = router.catalog_mut().tenant("acme");
/// let s = router.catalog_mut().skill("returns");
/// for (id, level) in [(1, 9), (2, 5)] {
///     router.add_agent(Time::ZERO, AgentSpec::new(AgentId(id)).skill(s, level)
///         .capacity(Channel::Chat, 1).state(AgentState::Available)).unwrap();
/// }
/// for id in 1..=2 {
///     router.arrive(Time::ZERO, TaskSpec::new(TaskId(id), brand, Channel::Chat)
///         .requires(Requirements::default().skill(s, 1))).unwrap();
/// }
/// assert_eq!(router.outstanding_offers(), 0); // nothing until the decision point
/// let report = router.dispatch_batch(Time::from_secs(1)).unwrap();
/// assert_eq!((report.waiting, report.offers), (2, 2));
/// assert!(report.exact && report.gap() == 0.0);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchReport {
    /// Tasks waiting when the batch started.
    pub waiting: usize,
    /// Offers made (one per served task).
    pub offers: usize,
    /// Eligible (task, free slot) pairs in the graph, parallel slots counted.
    pub edges: usize,
    /// Whether the score is optimal (else see [`BatchReport::gap`]).
    pub exact: bool,
    /// Total match score of the offers made.
    pub score: f64,
    /// An upper bound on the best total score for the same served tasks (equal to `score`
    /// when exact).
    pub upper_bound: f64,
}

impl BatchReport {
    /// How far the score may be from optimal (0 when exact).
    #[must_use]
    pub fn gap(&self) -> f64 {
        self.upper_bound - self.score
    }
}

impl<P: Scoring> Router<P> {
    /// Assigns all waiting tasks to all free capacity at once (see the [module docs](self)).
    /// Meant for [`Dispatch::Batched`](crate::Dispatch::Batched) routers; on an immediate router
    /// it finds nothing to do, since no task waits next to a free eligible agent.
    ///
    /// # Errors
    /// [`RouterError::TimeWentBackwards`].
    ///
    /// # Complexity
    /// Step 1 is `O(T · E)` in the worst case and near `O(E)` when most tasks find a free slot
    /// directly; step 2 is `O(T · E log V)` (exact) or `O(E)` (approximate), for `T` waiting
    /// tasks and `E` eligible (task, slot) pairs.
    pub fn dispatch_batch(&mut self, now: Time) -> Result<BatchReport, RouterError> {
        self.check_time(now)?;
        self.now = now;
        if self.cfg.dispatch == crate::Dispatch::Immediate {
            // Restore work conservation first (e.g. back-offs that ended since the last call):
            // an immediate router then has nothing left for the batch.
            self.run_matching();
        }
        let mut order: Vec<(OrderKey, TaskId)> = self
            .queues
            .iter()
            .flat_map(|q| q.waiting.iter().map(|(k, t)| (*k, *t)))
            .collect();
        order.sort_unstable_by_key(|a| a.0);

        // Columns: (agent slot, channel) with free capacity; edges per task with scores.
        let mut col_of: FxHashMap<(u32, Channel), usize> = FxHashMap::default();
        let mut cols: Vec<(u32, Channel, u16)> = Vec::new();
        let mut edges: Vec<Vec<(usize, f64)>> = Vec::with_capacity(order.len());
        for &(_, tid) in &order {
            let t = self.tref(tid);
            let q = &self.queues[t.queue as usize];
            let ch = t.channel;
            let view = self.task_view(t, &q.requirements);
            let mut out = Vec::new();
            and_ones(&q.eligible, &self.free[ch.index()], |slot| {
                if t.in_backoff(slot, now) {
                    return true;
                }
                let a = self.aref(slot);
                let col = *col_of.entry((slot, ch)).or_insert_with(|| {
                    let free = a.capacity.get(ch).saturating_sub(a.load[ch.index()]);
                    cols.push((slot, ch, free));
                    cols.len() - 1
                });
                let s = self
                    .scoring
                    .match_score(&a.view(), &view, &self.cfg.scoring);
                out.push((col, if s.is_finite() { s } else { LOW_SCORE }));
                true
            });
            edges.push(out);
        }

        // Step 1: the lexicographically first matchable set of tasks.
        let assigned = lexicographic_matching(&edges, &cols);
        let served: Vec<usize> = (0..order.len())
            .filter(|&i| assigned[i].is_some())
            .collect();

        // Step 2: best total score over exactly the served tasks.
        let expanded: usize = served
            .iter()
            .map(|&i| {
                edges[i]
                    .iter()
                    .map(|&(c, _)| usize::from(cols[c].2))
                    .sum::<usize>()
            })
            .sum();
        let mut choice: Vec<Option<usize>> = assigned.clone();
        let mut exact = false;
        if expanded <= self.cfg.batch_exact_edges
            && let Some(best) = exact_assignment(&served, &edges, &cols)
        {
            for (k, &i) in served.iter().enumerate() {
                choice[i] = Some(best[k]);
            }
            exact = true;
        }
        if !exact {
            improve_locally(&served, &edges, &cols, &mut choice);
        }
        let score_of = |i: usize, c: usize| edges[i].iter().find(|e| e.0 == c).map_or(0.0, |e| e.1);
        let score: f64 = served
            .iter()
            .filter_map(|&i| choice[i].map(|c| score_of(i, c)))
            .sum();
        let upper_bound = if exact {
            score
        } else {
            served
                .iter()
                .map(|&i| {
                    edges[i]
                        .iter()
                        .map(|e| e.1)
                        .fold(f64::NEG_INFINITY, f64::max)
                })
                .sum()
        };

        // Offers, in serving order.
        let mut offers = 0;
        for (i, &(key, tid)) in order.iter().enumerate() {
            let Some(c) = choice[i] else { continue };
            let (slot, _, _) = cols[c];
            let q = self.tref(tid).queue;
            self.queue_remove(q, key);
            let redeclined = self.tref(tid).backoff_until(slot).is_some();
            let reason = OfferReason {
                strategy: Strategy::BestScore,
                score: Some(score_of(i, c)).filter(|s| s.is_finite() && *s > LOW_SCORE),
                rank: 0,
                redeclined,
                batch: true,
            };
            let id = self.make_offer(tid, slot, reason);
            let t = self.tmut(tid);
            t.phase = Phase::Offered(vec![id]);
            let tenant = t.tenant;
            self.hold(tenant, true);
            offers += 1;
        }
        self.dirty_tasks.clear();
        self.dirty_agents.clear();
        Ok(BatchReport {
            waiting: order.len(),
            offers,
            edges: expanded,
            exact,
            score,
            upper_bound,
        })
    }
}

/// Tasks in order; each kept if an augmenting path finds it room (capacities per column).
fn lexicographic_matching(
    edges: &[Vec<(usize, f64)>],
    cols: &[(u32, Channel, u16)],
) -> Vec<Option<usize>> {
    let n = edges.len();
    let mut assigned: Vec<Option<usize>> = vec![None; n];
    let mut room: Vec<u16> = cols.iter().map(|c| c.2).collect();
    let mut holders: Vec<Vec<usize>> = vec![Vec::new(); cols.len()];
    let mut col_seen = vec![0u32; cols.len()];
    let mut task_seen = vec![0u32; n];
    let mut from_task = vec![usize::MAX; cols.len()];
    let mut stamp = 0u32;
    let mut frontier = Vec::new();
    for start in 0..n {
        if edges[start].is_empty() {
            continue;
        }
        // Fast path: the best-scoring column with room right away (earliest on ties), so that
        // the approximate batch starts at least where greedy best-score routing would.
        let mut pick: Option<(usize, f64)> = None;
        for &(c, s) in &edges[start] {
            if room[c] > 0 && pick.is_none_or(|(_, b)| s > b) {
                pick = Some((c, s));
            }
        }
        if let Some((c, _)) = pick {
            room[c] -= 1;
            holders[c].push(start);
            assigned[start] = Some(c);
            continue;
        }
        stamp += 1;
        frontier.clear();
        frontier.push(start);
        task_seen[start] = stamp;
        let mut found = None;
        let mut head = 0;
        'bfs: while head < frontier.len() {
            let u = frontier[head];
            head += 1;
            for &(c, _) in &edges[u] {
                if col_seen[c] == stamp {
                    continue;
                }
                col_seen[c] = stamp;
                from_task[c] = u;
                if room[c] > 0 {
                    found = Some(c);
                    break 'bfs;
                }
                for &v in &holders[c] {
                    if task_seen[v] != stamp {
                        task_seen[v] = stamp;
                        frontier.push(v);
                    }
                }
            }
        }
        let Some(mut c) = found else { continue };
        room[c] -= 1;
        // Walk back: each task on the path moves into the column that reached it.
        loop {
            let u = from_task[c];
            let prev = assigned[u];
            if let Some(p) = prev
                && let Some(pos) = holders[p].iter().position(|&x| x == u)
            {
                holders[p].swap_remove(pos);
            }
            holders[c].push(u);
            assigned[u] = Some(c);
            match prev {
                Some(p) if u != start => c = p,
                _ => break,
            }
        }
    }
    assigned
}

/// Maximum-score assignment of exactly `served` (all of which can be matched together), with
/// every column split into its free slots. `None` if the solver could not place them all.
fn exact_assignment(
    served: &[usize],
    edges: &[Vec<(usize, f64)>],
    cols: &[(u32, Channel, u16)],
) -> Option<Vec<usize>> {
    let mut first_slot = Vec::with_capacity(cols.len());
    let mut n_slots = 0usize;
    for c in cols {
        first_slot.push(n_slots);
        n_slots += usize::from(c.2);
    }
    let mut slot_col = vec![0usize; n_slots];
    for (c, col) in cols.iter().enumerate() {
        for k in 0..usize::from(col.2) {
            slot_col[first_slot[c] + k] = c;
        }
    }
    let mut list = Vec::new();
    for (row, &i) in served.iter().enumerate() {
        for &(c, s) in &edges[i] {
            for k in 0..usize::from(cols[c].2) {
                list.push((row, first_slot[c] + k, -s));
            }
        }
    }
    let a = solve_sparse(served.len(), n_slots, &list).ok()?;
    if a.pairs.len() != served.len() {
        return None;
    }
    let mut out = vec![0usize; served.len()];
    for (row, slot) in a.pairs {
        out[row] = slot_col[slot];
    }
    Some(out)
}

/// One pass, in serving order: move each task to its best-scoring column that still has room.
fn improve_locally(
    served: &[usize],
    edges: &[Vec<(usize, f64)>],
    cols: &[(u32, Channel, u16)],
    choice: &mut [Option<usize>],
) {
    let mut room: Vec<u16> = cols.iter().map(|c| c.2).collect();
    for c in choice.iter().flatten() {
        room[*c] = room[*c].saturating_sub(1);
    }
    for &i in served {
        let Some(cur) = choice[i] else { continue };
        let cur_score = edges[i]
            .iter()
            .find(|e| e.0 == cur)
            .map_or(f64::NEG_INFINITY, |e| e.1);
        let better = edges[i]
            .iter()
            .filter(|e| room[e.0] > 0 && e.1 > cur_score)
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
        if let Some(&(c, _)) = better {
            room[c] -= 1;
            room[cur] += 1;
            choice[i] = Some(c);
        }
    }
}
