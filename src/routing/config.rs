//! Router configuration.

use crate::{PriorityWeights, RouterError, Strategy};
use serde::{Deserialize, Serialize};

/// Weights of the default match score (see [`Scoring::match_score`](crate::Scoring::match_score)).
///
/// # Example
/// ```
/// use switchboard::ScoreWeights;
/// assert_eq!(ScoreWeights::default().preferred_agent, 20.0);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScoreWeights {
    /// Points per level point in each required skill.
    pub required_level: f64,
    /// Points for being the task's preferred agent.
    pub preferred_agent: f64,
}

impl Default for ScoreWeights {
    fn default() -> Self {
        ScoreWeights {
            required_level: 1.0,
            preferred_agent: 20.0,
        }
    }
}

/// Everything that tunes a [`Router`](crate::Router). Loads from JSON/TOML via serde; every field
/// has a default.
///
/// # Example
/// ```
/// use switchboard::{RouterConfig, Strategy};
/// let cfg: RouterConfig = serde_json::from_str(
///     r#"{ "offer_timeout_ms": 10000, "default_strategy": "least_occupied" }"#).unwrap();
/// assert_eq!(cfg.default_strategy, Strategy::LeastOccupied);
/// assert_eq!(cfg.decline_backoff_ms, RouterConfig::default().decline_backoff_ms);
/// cfg.validate().unwrap();
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RouterConfig {
    /// How long an offer stays open before it expires (ms, ≥ 1).
    pub offer_timeout_ms: u64,
    /// After an agent rejects or lets an offer expire, how long the task is kept from that agent (ms).
    pub decline_backoff_ms: u64,
    /// Wrap-up after [`Router::complete`](crate::Router::complete): 0 frees the capacity at once;
    /// otherwise the capacity is held this long, or until [`Router::finish_wrap_up`](crate::Router::finish_wrap_up).
    pub wrap_up_ms: u64,
    /// SLA target for tasks that give none (ms).
    pub default_sla_ms: u64,
    /// Strategy for tasks that name none.
    pub default_strategy: Strategy,
    /// Fan-out for tasks that name none (≥ 1).
    pub default_fanout: u8,
    /// After this many offers in a row expire unanswered, the agent is set `Away`
    /// (effect [`AgentAutoAway`](crate::Effect::AgentAutoAway)). `None` never does.
    pub max_missed_offers: Option<u32>,
    /// Ordering weights.
    pub priority: PriorityWeights,
    /// Match-score weights.
    pub scoring: ScoreWeights,
    /// Seed of the router's random generator.
    pub seed: u64,
    /// When offers are made: at once (the default), or only at batch decision points.
    pub dispatch: Dispatch,
    /// Largest batch (edges of the task × free-slot eligibility graph) solved exactly by
    /// [`Router::dispatch_batch`](crate::Router::dispatch_batch); larger batches use a bounded-time
    /// approximation and report their gap. Default 250,000: on the 2-core reference machine the
    /// exact batch of 10,000 tasks × 10,000 agents with ~20 eligible agents per task (200,000
    /// edges) takes under 0.1 s with integer scores, and the exact solve a few tenths of a second
    /// with distinct real scores (`docs/PERFORMANCE.md`, "Batch assignment"). The solver's worst
    /// case is still superlinear (`O(tasks × edges × log)`: the last augmenting paths are long),
    /// so its time grows faster than the edge count: at 500,000 edges (25,000 × 25,000) the solve
    /// took 0.2 s with integer scores but about 2 s with distinct real ones.
    pub batch_exact_edges: usize,
    /// Brand fair share over the pool: per tenant, a reservation and a cap (see
    /// [`TenantShare`](crate::TenantShare)). Empty (the default): tenants compete only by priority. With shares,
    /// waiting lines are kept per tenant and a freed agent serves, among the tasks it can take,
    /// the best by (tenant tier, priority order) — tier 0 below reservation, 1 within share,
    /// 2 over cap (borrowing). Change it at run time with
    /// [`Router::set_shares`](crate::Router::set_shares).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shares: Vec<crate::TenantShare>,
}

/// When the router makes offers.
///
/// # Example
/// ```
/// use switchboard::{Dispatch, RouterConfig};
/// let cfg = RouterConfig { dispatch: Dispatch::Batched, ..RouterConfig::default() };
/// assert_eq!(cfg.dispatch, Dispatch::Batched);
/// ```
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dispatch {
    /// Every call restores work conservation at once: a task is offered as soon as an
    /// eligible agent is free, chosen by the task's strategy.
    #[default]
    Immediate,
    /// Tasks and freed capacity accumulate until the host calls
    /// [`Router::dispatch_batch`](crate::Router::dispatch_batch), which assigns them all at once,
    /// maximising the total match score while serving tasks in priority order. Between decision
    /// points, eligible tasks may wait while agents are free (an explicit reservation policy).
    Batched,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            offer_timeout_ms: 20_000,
            decline_backoff_ms: 60_000,
            wrap_up_ms: 0,
            default_sla_ms: 60_000,
            default_strategy: Strategy::LongestIdle,
            default_fanout: 1,
            max_missed_offers: None,
            priority: PriorityWeights::default(),
            scoring: ScoreWeights::default(),
            seed: 0,
            dispatch: Dispatch::Immediate,
            batch_exact_edges: 250_000,
            shares: Vec::new(),
        }
    }
}

impl RouterConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`RouterError::InvalidConfig`] naming the first bad field.
    pub fn validate(&self) -> Result<(), RouterError> {
        let bad = |path: &'static str, problem: &str| {
            Err(RouterError::InvalidConfig {
                path,
                problem: problem.to_owned(),
            })
        };
        if self.offer_timeout_ms == 0 {
            return bad("offer_timeout_ms", "must be at least 1");
        }
        if self.default_fanout == 0 {
            return bad("default_fanout", "must be at least 1");
        }
        if self.max_missed_offers == Some(0) {
            return bad("max_missed_offers", "must be at least 1 (or absent)");
        }
        let p = &self.priority;
        for (path, v, nonneg) in [
            ("priority.value_tier", p.value_tier, false),
            ("priority.sentiment", p.sentiment, false),
            ("priority.aging_per_sec", p.aging_per_sec, true),
            ("priority.urgency_per_sec", p.urgency_per_sec, true),
            ("scoring.required_level", self.scoring.required_level, false),
            (
                "scoring.preferred_agent",
                self.scoring.preferred_agent,
                false,
            ),
        ] {
            if !v.is_finite() {
                return bad(path, &format!("must be finite, got {v}"));
            }
            if nonneg && v < 0.0 {
                return bad(path, &format!("must not be negative, got {v}"));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for s in &self.shares {
            if !seen.insert(s.tenant) {
                return Err(RouterError::InvalidConfig {
                    path: "shares",
                    problem: format!("{} has two shares", s.tenant),
                });
            }
            if s.cap.is_some_and(|c| c < s.reserved) {
                return Err(RouterError::InvalidConfig {
                    path: "shares",
                    problem: format!(
                        "{}: cap {} is below its reservation {}",
                        s.tenant,
                        s.cap.unwrap_or(0),
                        s.reserved
                    ),
                });
            }
        }
        Ok(())
    }
}
