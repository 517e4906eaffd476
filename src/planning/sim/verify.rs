//! Verifying a staffing plan with the simulator, and correcting it.
//!
//! [`plan`](crate::staffing::plan) staffs every (interval, group) of a forecast as its own
//! Erlang queue. Reality differs where the model does not hold: agents who hold several skills
//! are pulled between groups by the router, a backlog carries over from one interval into the
//! next, the day starts empty. [`verify_plan`] runs the plan through the **real router** and
//! adds agents where it misses:
//!
//! 1. Build a scenario from the forecast and the plan: one arrival stream per forecast row
//!    (Poisson at the row's rate, only during its interval; handling with the row's AHT and,
//!    with Erlang A, patience with its mean — both exponential unless set otherwise below), and per group the agents of the plan, each agent
//!    on shift for the intervals where the plan has that many agents or more (so the same people
//!    work through consecutive intervals), with the group's skill plus the skills of
//!    [`VerifySettings::overlap`] and the row's chat concurrency. Agents answer at once (no
//!    accept delay, as in Erlang); the last interval's agents stay until the queue drains.
//!    Handling and patience are exponential as Erlang assumes, or lognormal with
//!    [`service_cv`](VerifySettings::service_cv) / [`patience_cv`](VerifySettings::patience_cv)
//!    to check the plan against more realistic shapes.
//! 2. Simulate it [`replications`](VerifySettings::replications) times (seeds `seed`, `seed + 1`,
//!    …) and measure every (interval, group): the service level under the target's definition
//!    over the contacts offered in that interval, pooled over replications, and its standard
//!    error from the spread between replications.
//! 3. Every cell gets a [`Verdict`]: **met** when its estimate is at or above the target (minus
//!    [`tolerance`](VerifySettings::tolerance)) and within any abandonment / ASA cap;
//!    **missed** when even `service level + z × standard error` is below it (or a cap is
//!    exceeded): the shortfall is beyond simulation noise; **uncertain** in between. By default
//!    `z` makes a spurious miss anywhere in the plan unlikely (5%, Bonferroni over the cells), so
//!    a large plan is not padded cell by cell with agents that only noise asked for.
//! 4. Missed cells get agents — 1 the first time, then twice as many as the previous time the
//!    cell missed — and the plan is simulated again. When nothing is missed but some cells are
//!    uncertain, the replications double (up to
//!    [`max_replications`](VerifySettings::max_replications)) to tell. At most
//!    [`max_rounds`](VerifySettings::max_rounds) corrections or doublings.
//!
//! 5. With [`trim`](VerifySettings::trim), the plan is then tightened where the simulation
//!    shows slack — typically where skills overlap and pooling does better than Erlang's silos:
//!    every cell that meets the target **beyond the noise** (`service level − z × standard
//!    error` at or above it) gives up agents (1, then twice as many each time it succeeds) and
//!    the plan is simulated again. A trial is kept only if no cell then misses and no cell that
//!    met becomes uncertain; otherwise the trimmed cells that fell short, and every trimmed
//!    cell of an interval (or the interval before it, whose backlog carries over) where an
//!    untrimmed cell fell short, are restored and frozen, and the rest is tried again. At most
//!    `max_rounds` trials; the plan returned is always one the simulation verified.
//!
//! Without `trim`, agents are only ever added: a cell that the simulation shows over-staffed
//! keeps its Erlang staffing; [`CellCheck::simulated_service_level`] shows the slack.
//!
//! # Example
//! ```
//! use std::collections::BTreeMap;
//! use switchboard::sim::{verify_plan, Verdict, VerifySettings};
//! use switchboard::staffing::{plan, ForecastRow, Model, PlanSettings, Target};
//!
//! let row = |interval, group: &str, contacts| ForecastRow { interval, group: group.into(),
//!     contacts, aht_secs: 300.0, patience_secs: None, concurrency: 1 };
//! let rows = vec![row(0, "refund", 120.0), row(1, "refund", 240.0), row(0, "sizing", 60.0),
//!                 row(1, "sizing", 60.0)];
//! let settings = PlanSettings { interval_secs: 1800.0, target: Target::new(20.0, 0.8),
//!     model: Model::ErlangC, shrinkage: 0.2 };
//! let p = plan(&rows, &settings)?;
//! // Sizing agents can also take refunds: the router will pull them over.
//! let mut overlap = BTreeMap::new();
//! overlap.insert("sizing".to_string(), vec!["refund".to_string()]);
//! let v = verify_plan(&rows, &settings, &p, &VerifySettings { overlap, replications: 3,
//!     ..VerifySettings::default() })?;
//! assert!(v.met); // nothing missed beyond the noise
//! assert!(v.cells.iter().all(|c| c.verdict != Verdict::Missed));
//! // Corrections only add agents.
//! for (c, before) in v.plan.cells.iter().zip(&p.cells) {
//!     assert!(c.agents >= before.agents);
//! }
//! assert_eq!(v.cells.len(), 4);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use super::{AgentGroup, Dist, Profile, Scenario, Shift, SimError, Stream};
use crate::ledger::{Fate, LedgerConfig};
use crate::staffing::{ForecastRow, Model, Plan, PlanSettings, Traffic};
use crate::{Catalog, Channel, RouterConfig, TenantId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// How [`verify_plan`] simulates and corrects.
///
/// # Example
/// ```
/// use switchboard::sim::VerifySettings;
/// let v: VerifySettings = serde_json::from_str(
///     r#"{"overlap": {"sizing": ["refund"]}, "replications": 5}"#).unwrap();
/// assert_eq!(v.max_rounds, 8);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerifySettings {
    /// Group → the other groups its agents can also serve (their skills overlap). Groups not
    /// named serve only themselves.
    pub overlap: BTreeMap<String, Vec<String>>,
    /// Simulations per round at first (different seeds); more gives a smaller standard error.
    pub replications: u32,
    /// Replications at most: uncertain cells double the replications up to this.
    pub max_replications: u32,
    /// Rounds of corrections or doublings at most (the plan is simulated at most
    /// `max_rounds + 1` times).
    pub max_rounds: u32,
    /// Seed of the first replication.
    pub seed: u64,
    /// How many standard errors a cell must be below the target to count as a miss. `None`
    /// (the default) picks it so that a plan whose every cell truly meets the target has a 95%
    /// chance of no cell counting as a miss (one-sided, Bonferroni over the cells checked:
    /// 2.50 for 8 cells, 3.88 for 960); `Some(0.0)` counts any shortfall of the estimate.
    pub z: Option<f64>,
    /// Shortfall accepted below the target's service level (absolute, e.g. 0.01).
    pub tolerance: f64,
    /// After the plan meets the target, remove agents where the simulation shows slack beyond
    /// the noise (see the [module documentation](self), step 5).
    pub trim: bool,
    /// Handling times in the simulation: `None` (the default) exponential, as Erlang assumes;
    /// `Some(cv)` lognormal with the row's AHT as mean and this coefficient of variation — real
    /// chat and call handling times are closer to lognormal, and a plan sized on the exponential
    /// can then miss (cv > 1) or carry slack (cv < 1).
    pub service_cv: Option<f64>,
    /// Customer patience with Erlang A: `None` exponential (Erlang A's assumption), `Some(cv)`
    /// lognormal with the row's mean patience and this coefficient of variation.
    pub patience_cv: Option<f64>,
}

/// A duration with mean `mean_secs`: exponential, or lognormal with coefficient of variation
/// `cv`.
fn shaped(mean_secs: f64, cv: Option<f64>) -> Dist {
    match cv {
        Some(cv) => Dist::Lognormal { mean_secs, cv },
        None => Dist::Exponential { mean_secs },
    }
}

impl Default for VerifySettings {
    fn default() -> Self {
        VerifySettings {
            overlap: BTreeMap::new(),
            replications: 10,
            max_replications: 40,
            max_rounds: 8,
            seed: 1,
            z: None,
            tolerance: 0.0,
            trim: false,
            service_cv: None,
            patience_cv: None,
        }
    }
}

/// The simulation's verdict on one (interval, group).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellCheck {
    /// Interval index.
    pub interval: u32,
    /// Group.
    pub group: String,
    /// Agents in the plan as given.
    pub planned: u32,
    /// Agents after the corrections.
    pub agents: u32,
    /// Erlang's service level at `agents`.
    pub erlang_service_level: f64,
    /// Contacts offered in the last simulation round, over every replication.
    pub offered: u64,
    /// Simulated service level at `agents` (last round, pooled over replications).
    pub simulated_service_level: Option<f64>,
    /// Its standard error (spread between replications; 0 with one replication).
    pub standard_error: f64,
    /// Simulated abandonment rate.
    pub simulated_abandon_rate: Option<f64>,
    /// Simulated average speed of answer, s.
    pub simulated_asa_secs: Option<f64>,
    /// The last round's verdict.
    pub verdict: Verdict,
}

/// What the simulation says about one cell.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The estimate meets the target (or the cell had no contacts).
    Met,
    /// The estimate is below the target, but within the simulation's noise.
    Uncertain,
    /// Below the target beyond the noise (or over an abandonment / ASA cap).
    Missed,
}

/// One simulate-and-correct round.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerifyRound {
    /// Round number, from 1.
    pub round: u32,
    /// Replications simulated.
    pub replications: u32,
    /// Cells that missed.
    pub missed: u32,
    /// Cells below the target within the noise.
    pub uncertain: u32,
    /// Agents added after it.
    pub added: u32,
    /// Agents removed after it (trimming), kept only if the next round confirms them.
    #[serde(default)]
    pub removed: u32,
}

/// The answer of [`verify_plan`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VerifiedPlan {
    /// The corrected plan: agents per cell (Erlang measures recomputed at the new staffing) and
    /// the totals to call in, grossed up for shrinkage.
    pub plan: Plan,
    /// Every cell's verdict, in the plan's order.
    pub cells: Vec<CellCheck>,
    /// The rounds run.
    pub rounds: Vec<VerifyRound>,
    /// Agents added over every cell and interval.
    pub added: u32,
    /// Agents removed by trimming over every cell and interval (the simulation confirmed each).
    #[serde(default)]
    pub removed: u32,
    /// Whether the last simulation found no cell missing the target beyond the noise.
    pub met: bool,
    /// Cells still uncertain after the last simulation (below the target within the noise).
    pub uncertain: u32,
}

/// Per cell, over the replications of one round.
#[derive(Clone, Debug, Default)]
struct Tally {
    offered: u64,
    judged: u64,
    within: u64,
    abandoned: u64,
    ab_within: u64,
    answered: u64,
    wait_sum_ms: u64,
    /// Service level of each replication (for the standard error).
    per_rep: Vec<f64>,
}

/// Checks `plan` (made by [`plan`](crate::staffing::plan) from `rows` and `settings`) with the
/// simulator and adds agents where it misses. See the [module documentation](self).
///
/// # Errors
/// [`SimError::Scenario`] for rows the simulator cannot model (an interval that is not a whole
/// number of minutes, a group with two rows for one interval, a plan that does not match the
/// rows, bad settings), or a router error.
pub fn verify_plan(
    rows: &[ForecastRow],
    settings: &PlanSettings,
    plan: &Plan,
    opts: &VerifySettings,
) -> Result<VerifiedPlan, SimError> {
    let bad = |m: String| Err(SimError::Scenario(m));
    let interval_ms = settings.interval_secs * 1000.0;
    if !(interval_ms.is_finite() && interval_ms >= 60_000.0 && interval_ms % 60_000.0 == 0.0) {
        return bad("interval_secs: verification needs a whole number of minutes".into());
    }
    if opts.replications == 0 {
        return bad("replications: must be at least 1".into());
    }
    if !(opts.z.is_none_or(|z| z.is_finite() && z >= 0.0)
        && opts.tolerance.is_finite()
        && opts.tolerance >= 0.0)
    {
        return bad("z and tolerance: must be finite and ≥ 0".into());
    }
    for (name, cv) in [
        ("service_cv", opts.service_cv),
        ("patience_cv", opts.patience_cv),
    ] {
        if cv.is_some_and(|c| !(c.is_finite() && c > 0.0)) {
            return bad(format!("{name}: must be finite and > 0"));
        }
    }
    // Cells by (interval, group), matched with the rows.
    let mut index: BTreeMap<(u32, &str), usize> = BTreeMap::new();
    for (i, c) in plan.cells.iter().enumerate() {
        if index.insert((c.interval, c.group.as_str()), i).is_some() {
            return bad(format!(
                "plan: interval {} group {:?} twice",
                c.interval, c.group
            ));
        }
    }
    let mut row_of = vec![None; plan.cells.len()];
    for (r, row) in rows.iter().enumerate() {
        let Some(&i) = index.get(&(row.interval, row.group.as_str())) else {
            return bad(format!(
                "rows[{r}]: interval {} group {:?} is not in the plan",
                row.interval, row.group
            ));
        };
        if row_of[i].replace(r).is_some() {
            return bad(format!(
                "rows[{r}]: interval {} group {:?} twice",
                row.interval, row.group
            ));
        }
        if row.concurrency == 0 || row.concurrency > u32::from(u16::MAX) {
            return bad(format!("rows[{r}].concurrency: must be 1..=65535"));
        }
    }
    let checked = rows.iter().filter(|r| r.contacts > 0.0).count().max(1);
    #[allow(clippy::cast_precision_loss)]
    let z = opts
        .z
        .unwrap_or_else(|| -normal_quantile(0.05 / checked as f64));
    let mut agents: Vec<u32> = plan.cells.iter().map(|c| c.agents).collect();
    let mut step: Vec<u32> = vec![1; agents.len()];
    let mut rounds = Vec::new();
    let mut added_total = 0u32;
    let mut reps = opts.replications;
    let max_reps = opts.max_replications.max(reps);
    let mut round = 0u32;
    loop {
        round += 1;
        let sc = scenario(rows, settings, plan, &agents, opts)?;
        let tallies = simulate(&sc, plan, &index, settings, opts.seed, reps)?;
        let verdicts = judge(&tallies, &row_of, settings, z, opts.tolerance);
        let (missed, uncertain) = (
            count(&verdicts, Verdict::Missed),
            count(&verdicts, Verdict::Uncertain),
        );
        let more = round <= opts.max_rounds;
        let mut added = 0;
        let done = if missed > 0 && more {
            for (i, &v) in verdicts.iter().enumerate() {
                if v == Verdict::Missed {
                    agents[i] = agents[i].saturating_add(step[i]);
                    added += step[i];
                    step[i] = step[i].saturating_mul(2);
                }
            }
            added_total = added_total.saturating_add(added);
            false
        } else {
            !(missed == 0 && uncertain > 0 && reps < max_reps && more)
        };
        rounds.push(VerifyRound {
            round,
            replications: reps,
            missed,
            uncertain,
            added,
            removed: 0,
        });
        if done {
            let mut state = Verified {
                agents,
                tallies,
                verdicts,
            };
            let removed = if opts.trim && missed == 0 {
                let ctx = TrimContext {
                    rows,
                    settings,
                    plan,
                    index: &index,
                    row_of: &row_of,
                    opts,
                    z,
                    reps,
                };
                trim(&ctx, &mut state, &mut rounds, round)?
            } else {
                0
            };
            return finish(
                rows,
                settings,
                plan,
                &state,
                &row_of,
                rounds,
                added_total,
                removed,
            );
        }
        if added == 0 {
            reps = reps.saturating_mul(2).min(max_reps);
        }
    }
}

/// A staffing and what the simulation said about it.
struct Verified {
    agents: Vec<u32>,
    tallies: Vec<Tally>,
    verdicts: Vec<Verdict>,
}

/// What trimming needs from [`verify_plan`].
struct TrimContext<'a> {
    rows: &'a [ForecastRow],
    settings: &'a PlanSettings,
    plan: &'a Plan,
    index: &'a BTreeMap<(u32, &'a str), usize>,
    row_of: &'a [Option<usize>],
    opts: &'a VerifySettings,
    z: f64,
    reps: u32,
}

/// Step 5 of the module documentation: removes agents where the simulation shows slack beyond
/// the noise; `state` stays a verified staffing. Returns the agents removed.
fn trim(
    ctx: &TrimContext<'_>,
    state: &mut Verified,
    rounds: &mut Vec<VerifyRound>,
    mut round: u32,
) -> Result<u32, SimError> {
    let bar = ctx.settings.target.service_level - ctx.opts.tolerance;
    let n = state.agents.len();
    let mut frozen = vec![false; n];
    let mut step = vec![1u32; n];
    let mut removed_total = 0u32;
    let interval_of: Vec<u32> = ctx.plan.cells.iter().map(|c| c.interval).collect();
    for _ in 0..ctx.opts.max_rounds {
        let mut trial = state.agents.clone();
        let mut trimmed = vec![false; n];
        let mut removed = 0;
        for i in 0..n {
            if frozen[i] || ctx.row_of[i].is_none() || state.verdicts[i] != Verdict::Met {
                continue;
            }
            let (sl, se, _, _) = measures(&state.tallies[i], ctx.settings);
            if !sl.is_some_and(|sl| sl - ctx.z * se >= bar) {
                continue;
            }
            // Keep at least one agent, and a staffing Erlang can still describe (a stable
            // queue under Erlang C), so the plan's figures stay defined.
            let k = step[i].min(trial[i].saturating_sub(1));
            let stable = ctx.row_of[i]
                .and_then(|r| ctx.rows.get(r))
                .is_some_and(|row| {
                    cell_traffic(row, ctx.settings)
                        .metrics(ctx.settings.model, trial[i] - k)
                        .is_ok()
                });
            if k == 0 || !stable {
                frozen[i] = true;
                continue;
            }
            trial[i] -= k;
            removed += k;
            trimmed[i] = true;
        }
        if removed == 0 {
            break;
        }
        round += 1;
        let sc = scenario(ctx.rows, ctx.settings, ctx.plan, &trial, ctx.opts)?;
        let tallies = simulate(
            &sc,
            ctx.plan,
            ctx.index,
            ctx.settings,
            ctx.opts.seed,
            ctx.reps,
        )?;
        let verdicts = judge(
            &tallies,
            ctx.row_of,
            ctx.settings,
            ctx.z,
            ctx.opts.tolerance,
        );
        // Worse: a miss anywhere, or a cell that met and now is not.
        let worse: Vec<bool> = (0..n)
            .map(|i| {
                verdicts[i] == Verdict::Missed
                    || (verdicts[i] != Verdict::Met && state.verdicts[i] == Verdict::Met)
            })
            .collect();
        let ok = !worse.contains(&true);
        rounds.push(VerifyRound {
            round,
            replications: ctx.reps,
            missed: count(&verdicts, Verdict::Missed),
            uncertain: count(&verdicts, Verdict::Uncertain),
            added: 0,
            removed: if ok { removed } else { 0 },
        });
        if ok {
            for i in 0..n {
                if trimmed[i] {
                    step[i] = step[i].saturating_mul(2);
                }
            }
            removed_total = removed_total.saturating_add(removed);
            *state = Verified {
                agents: trial,
                tallies,
                verdicts,
            };
            continue;
        }
        // Restore and freeze the trims that hurt: trimmed cells that fell short, and every
        // trimmed cell of an interval (or the one before: its backlog carries over) where an
        // untrimmed cell fell short.
        let mut blamed: BTreeSet<u32> = BTreeSet::new();
        for i in 0..n {
            if worse[i] && !trimmed[i] {
                blamed.insert(interval_of[i]);
                blamed.insert(interval_of[i].saturating_sub(1));
            }
        }
        let mut any = false;
        for i in 0..n {
            if trimmed[i] && (worse[i] || blamed.contains(&interval_of[i])) {
                frozen[i] = true;
                any = true;
            }
        }
        if !any {
            // Nothing to blame (e.g. a shortfall two intervals on): stop trimming.
            break;
        }
    }
    Ok(removed_total)
}

#[allow(clippy::too_many_arguments)]
fn finish(
    rows: &[ForecastRow],
    settings: &PlanSettings,
    plan: &Plan,
    state: &Verified,
    row_of: &[Option<usize>],
    rounds: Vec<VerifyRound>,
    added: u32,
    removed: u32,
) -> Result<VerifiedPlan, SimError> {
    let (agents, tallies, verdicts) = (&state.agents, &state.tallies, &state.verdicts);
    let t = &settings.target;
    let mut out = plan.clone();
    let mut cells = Vec::with_capacity(plan.cells.len());
    for (i, cell) in out.cells.iter_mut().enumerate() {
        if agents[i] != cell.agents
            && let Some(r) = row_of[i]
            && let Some(row) = rows.get(r)
        {
            let m = cell_traffic(row, settings)
                .metrics(settings.model, agents[i])
                .map_err(|e| SimError::Scenario(format!("rows[{r}]: {e}")))?;
            cell.agents = agents[i];
            cell.service_level = m.service_level_at(t.answer_within_secs, t.definition);
            cell.p_abandon = m.p_abandon;
            cell.asa_secs = m.asa_secs;
            cell.occupancy = m.occupancy;
        }
        let tally = &tallies[i];
        let (sl, se, ab, asa) = measures(tally, settings);
        cells.push(CellCheck {
            interval: cell.interval,
            group: cell.group.clone(),
            planned: plan.cells[i].agents,
            agents: cell.agents,
            erlang_service_level: cell.service_level,
            offered: tally.offered,
            simulated_service_level: sl,
            standard_error: se,
            simulated_abandon_rate: ab,
            simulated_asa_secs: asa,
            verdict: verdicts[i],
        });
    }
    out.totals = crate::staffing::totals(&out.cells, settings.shrinkage);
    Ok(VerifiedPlan {
        plan: out,
        met: verdicts.iter().all(|&v| v != Verdict::Missed),
        uncertain: count(verdicts, Verdict::Uncertain),
        cells,
        rounds,
        added,
        removed,
    })
}

/// The Erlang traffic of one forecast row.
fn cell_traffic(row: &ForecastRow, settings: &PlanSettings) -> Traffic {
    let mut traffic = Traffic::per_interval(row.contacts, settings.interval_secs, row.aht_secs)
        .concurrency(row.concurrency);
    traffic.patience_secs = row.patience_secs;
    traffic
}

/// Service level, its standard error, abandonment and ASA of a tally.
#[allow(clippy::cast_precision_loss)]
fn measures(t: &Tally, settings: &PlanSettings) -> (Option<f64>, f64, Option<f64>, Option<f64>) {
    let def = settings.target.definition;
    let sl = def.apply(
        t.within as f64,
        t.ab_within as f64,
        t.abandoned as f64,
        t.judged as f64,
    );
    let n = t.per_rep.len();
    let se = if n > 1 {
        let mean = t.per_rep.iter().sum::<f64>() / n as f64;
        let var = t.per_rep.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        (var / n as f64).sqrt()
    } else {
        0.0
    };
    let ab = (t.judged > 0).then(|| t.abandoned as f64 / t.judged as f64);
    let asa = (t.answered > 0).then(|| t.wait_sum_ms as f64 / 1000.0 / t.answered as f64);
    (sl, se, ab, asa)
}

/// Every cell's verdict (cells without a forecast row have nothing to miss).
fn judge(
    tallies: &[Tally],
    row_of: &[Option<usize>],
    settings: &PlanSettings,
    z: f64,
    tolerance: f64,
) -> Vec<Verdict> {
    tallies
        .iter()
        .zip(row_of)
        .map(|(t, row)| {
            if row.is_none() {
                Verdict::Met
            } else {
                verdict(t, settings, z, tolerance)
            }
        })
        .collect()
}

fn count(verdicts: &[Verdict], v: Verdict) -> u32 {
    u32::try_from(verdicts.iter().filter(|&&x| x == v).count()).unwrap_or(u32::MAX)
}

fn verdict(t: &Tally, settings: &PlanSettings, z: f64, tolerance: f64) -> Verdict {
    let target = &settings.target;
    let (sl, se, ab, asa) = measures(t, settings);
    let Some(sl) = sl else { return Verdict::Met };
    let over_cap = target
        .max_abandon
        .is_some_and(|x| ab.is_some_and(|a| a > x))
        || target
            .max_asa_secs
            .is_some_and(|x| asa.is_some_and(|a| a > x));
    let bar = target.service_level - tolerance;
    if over_cap || sl + z * se < bar {
        Verdict::Missed
    } else if sl < bar {
        Verdict::Uncertain
    } else {
        Verdict::Met
    }
}

/// The standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9).
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let p = p.clamp(1e-300, 1.0 - 1e-16);
    if p < 0.024_25 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p <= 1.0 - 0.024_25 {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    }
}

/// The scenario for one round.
fn scenario(
    rows: &[ForecastRow],
    settings: &PlanSettings,
    plan: &Plan,
    agents: &[u32],
    opts: &VerifySettings,
) -> Result<Scenario, SimError> {
    let interval_h = settings.interval_secs / 3600.0;
    let last = plan.cells.iter().map(|c| c.interval).max().unwrap_or(0);
    let n_intervals = usize::try_from(last)
        .unwrap_or(usize::MAX)
        .saturating_add(1);
    if n_intervals > 100_000 {
        return Err(SimError::Scenario(
            "interval: more than 100,000 intervals".into(),
        ));
    }
    let end_h = f64::from(last + 1) * interval_h;
    // Two intervals with no arrivals let the last queue drain.
    let tail_h = 2.0 * interval_h;
    let patience = settings.model == Model::ErlangA;
    let mut traffic = Vec::with_capacity(rows.len());
    for (r, row) in rows.iter().enumerate() {
        if row.contacts <= 0.0 {
            continue;
        }
        let mut factors = vec![0.0; usize::try_from(row.interval).unwrap_or(0) + 1];
        if let Some(f) = factors.last_mut() {
            *f = row.contacts / interval_h;
        }
        let pat = match (patience, row.patience_secs) {
            (true, Some(p)) => Some(shaped(p, opts.patience_cv)),
            (true, None) => {
                return Err(SimError::Scenario(format!(
                    "rows[{r}].patience_secs: needed with Erlang A"
                )));
            }
            (false, _) => None,
        };
        traffic.push(Stream {
            tenant: row.group.clone(),
            name: format!("{}@{}", row.group, row.interval),
            channel: Channel::Chat,
            per_hour: 1.0,
            profile: Profile::Steps {
                minutes: settings.interval_secs / 60.0,
                factors,
            },
            requires: [(row.group.clone(), 1)].into_iter().collect(),
            service: shaped(row.aht_secs, opts.service_cv),
            patience: pat,
            sla_secs: settings.target.answer_within_secs,
            ..Stream::default()
        });
    }
    // Agents per (group, concurrency) and interval; agent k of a group works the intervals where
    // the plan has more than k agents.
    let mut staff: BTreeMap<(&str, u32), Vec<u32>> = BTreeMap::new();
    let conc: BTreeMap<(u32, &str), u32> = rows
        .iter()
        .map(|r| ((r.interval, r.group.as_str()), r.concurrency))
        .collect();
    for (cell, &n) in plan.cells.iter().zip(agents) {
        let c = conc
            .get(&(cell.interval, cell.group.as_str()))
            .copied()
            .unwrap_or(1);
        let v = staff
            .entry((cell.group.as_str(), c))
            .or_insert_with(|| vec![0; n_intervals]);
        if let Some(slot) = v.get_mut(usize::try_from(cell.interval).unwrap_or(usize::MAX)) {
            *slot = n;
        }
    }
    let mut pool = Vec::new();
    for ((group, c), per) in &staff {
        let mut skills: BTreeMap<String, u8> = [((*group).to_owned(), 1)].into_iter().collect();
        for other in opts.overlap.get(*group).into_iter().flatten() {
            skills.insert(other.clone(), 1);
        }
        // Distinct staffing levels: agents k in [lo, hi) share one set of shifts.
        let levels: BTreeSet<u32> = per.iter().copied().filter(|&n| n > 0).collect();
        let mut lo = 0;
        for hi in levels {
            let mut shifts = Vec::new();
            let mut i = 0;
            while i < per.len() {
                if per[i] > lo {
                    let start = i;
                    while i < per.len() && per[i] > lo {
                        i += 1;
                    }
                    #[allow(clippy::cast_precision_loss)]
                    let mut end_hour = i as f64 * interval_h;
                    if i == per.len() {
                        end_hour = end_h + tail_h;
                    }
                    #[allow(clippy::cast_precision_loss)]
                    shifts.push(Shift {
                        start_hour: start as f64 * interval_h,
                        end_hour,
                    });
                } else {
                    i += 1;
                }
            }
            pool.push(AgentGroup {
                name: format!("{group} x{c} #{lo}-{hi}"),
                count: hi - lo,
                skills: skills.clone(),
                channels: [(Channel::Chat, u16::try_from(*c).unwrap_or(u16::MAX))]
                    .into_iter()
                    .collect(),
                shifts,
                ..AgentGroup::default()
            });
            lo = hi;
        }
    }
    Ok(Scenario {
        name: "plan verification".into(),
        seed: opts.seed,
        duration_hours: end_h + tail_h,
        warmup_hours: 0.0,
        router: RouterConfig::default(),
        ledger: LedgerConfig {
            definition: settings.target.definition,
            ..LedgerConfig::default()
        },
        accept_delay: Dist::Fixed { secs: 0.0 },
        pool,
        traffic,
        guarantees: BTreeMap::new(),
        bucket_minutes: 60,
        policy: None,
        escalation: None,
    })
}

/// Runs the replications of one round and tallies every cell.
fn simulate(
    sc: &Scenario,
    plan: &Plan,
    index: &BTreeMap<(u32, &str), usize>,
    settings: &PlanSettings,
    seed: u64,
    replications: u32,
) -> Result<Vec<Tally>, SimError> {
    // Tenant ids as the simulator interns them (traffic order).
    let mut catalog = Catalog::new();
    let mut group_of: BTreeMap<TenantId, &str> = BTreeMap::new();
    for s in &sc.traffic {
        group_of.insert(catalog.tenant(&s.tenant), s.tenant.as_str());
    }
    let interval_ms = settings.interval_secs * 1000.0;
    let mut tallies = vec![Tally::default(); plan.cells.len()];
    for rep in 0..replications {
        let mut sc = sc.clone();
        sc.seed = seed.wrapping_add(u64::from(rep));
        let run = super::run(&sc)?;
        let mut this = vec![Tally::default(); plan.cells.len()];
        for r in run.ledger.records() {
            let Some(group) = group_of.get(&r.tenant) else {
                continue;
            };
            #[allow(
                clippy::cast_precision_loss,
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss
            )]
            let interval = (r.created_at.0 as f64 / interval_ms).floor() as u32;
            let Some(&i) = index.get(&(interval, *group)) else {
                continue;
            };
            let t = &mut this[i];
            t.offered += 1;
            match r.fate {
                Fate::Answered(w) => {
                    t.judged += 1;
                    t.answered += 1;
                    t.wait_sum_ms += w;
                    t.within += u64::from(w <= r.sla_ms);
                }
                Fate::Abandoned(w) | Fate::TimedOut(w) => {
                    t.judged += 1;
                    t.abandoned += 1;
                    t.ab_within += u64::from(w <= r.sla_ms);
                }
                Fate::Waiting | Fate::Cancelled(_) => {}
            }
        }
        for (all, t) in tallies.iter_mut().zip(this) {
            if let (Some(sl), _, _, _) = measures(&t, settings) {
                all.per_rep.push(sl);
            }
            all.offered += t.offered;
            all.judged += t.judged;
            all.within += t.within;
            all.abandoned += t.abandoned;
            all.ab_within += t.ab_within;
            all.answered += t.answered;
            all.wait_sum_ms += t.wait_sum_ms;
        }
    }
    Ok(tallies)
}

#[cfg(test)]
mod tests {
    use super::normal_quantile;

    #[test]
    fn quantiles() {
        for (p, z) in [
            (0.5, 0.0),
            (0.95, 1.644_853_626_951_472),
            (0.05 / 8.0, -2.497_705_474_412_3),
            (1e-6, -4.753_424_308_822_899),
            (0.999, 3.090_232_306_167_813),
        ] {
            assert!(
                (normal_quantile(p) - z).abs() < 1e-7,
                "{p}: {}",
                normal_quantile(p)
            );
        }
    }
}
