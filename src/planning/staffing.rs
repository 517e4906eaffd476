//! Staffing: Erlang C and Erlang A queueing formulas, agents required for a service target, and a
//! simple interval planner (verified and corrected by the simulator with
//! [`sim::verify_plan`](crate::sim::verify_plan)).
//!
//! # Models
//!
//! * **Erlang C** (M/M/n): Poisson arrivals at rate λ, exponential handling times with mean
//!   `aht` (rate μ = 1/aht), `n` identical servers, first come first served, customers wait
//!   forever. Needs `n > a` where `a = λ/μ` is the offered load in Erlangs; otherwise the queue
//!   grows without bound ([`StaffingError::Unstable`]).
//! * **Erlang A** (M/M/n+M, Palm's model): as Erlang C, but every waiting customer abandons after
//!   an exponential patience with mean `patience` (rate θ). Always stable. The formulas used are
//!   exact (no approximation): with `g(s)` the density of the *offered wait* `V` of an arrival that
//!   finds every server busy,
//!   `g(s) = π_n · nμ · exp(−nμ·s + (λ/θ)(1 − e^{−θs}))`, where `π_n` is the probability that an
//!   arrival finds exactly `n` customers in the system. An arrival is served when its patience
//!   exceeds `V`, so `P(answered within t) = P(no wait) + ∫₀ᵗ e^{−θs} g(s) ds`, and the other
//!   measures follow the same way. Integrals are evaluated by composite Gauss–Legendre
//!   quadrature over the window where the (log-concave) integrand matters.
//!
//! # Numerical stability
//!
//! No factorials: the Erlang B blocking probability comes from the recursion
//! `1/B(k) = 1 + (k/a)·1/B(k−1)`, carried in log space, so 5,000 or 50,000 servers neither
//! overflow nor underflow (cost O(n)). The Erlang A waiting-room series is summed in log space
//! too.
//!
//! # Chat concurrency
//!
//! An agent who handles `c` chats at once is modelled as `c` independent servers, each with the
//! per-chat handling time *observed at that concurrency* (chats are slower when interleaved;
//! use the handle time measured at concurrency `c`, not the single-chat one). This is the usual
//! approximation: it ignores that the `c` slots of one agent go offline together (breaks,
//! shifts) and that handling slows down as load rises, so it is optimistic at high occupancy.
//!
//! # Service level with abandonment
//!
//! With abandonment, "service level" has several definitions in use; [`SlDefinition`] names them
//! and every report states which one it shows. Without abandonment (Erlang C) they coincide.
//!
//! # Example
//! ```
//! use switchboard::staffing::{Traffic, Target, Model, SlDefinition};
//! // 100 calls per 30 minutes, 180 s handle time.
//! let traffic = Traffic::per_interval(100.0, 1800.0, 180.0);
//! let m = traffic.erlang_c(14)?;
//! assert!((m.load_erlangs - 10.0).abs() < 1e-12);
//! assert!(m.p_wait > 0.0 && m.p_wait < 1.0);
//! // How many agents for 80% answered within 20 s?
//! let target = Target::new(20.0, 0.80);
//! let s = traffic.agents_for(&target, Model::ErlangC)?;
//! assert_eq!(s.agents, 14); // 13 agents give 79.6%
//! assert!(s.metrics.service_level_at(20.0, SlDefinition::AbandonsMissed) >= 0.80);
//! # Ok::<(), switchboard::staffing::StaffingError>(())
//! ```

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use thiserror::Error;

/// What can go wrong in a staffing calculation.
///
/// # Example
/// ```
/// use switchboard::staffing::{Traffic, StaffingError};
/// let err = Traffic::new(1.0, -5.0).erlang_c(3).unwrap_err();
/// assert!(matches!(err, StaffingError::InvalidInput { field: "aht_secs", .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Error)]
#[non_exhaustive]
pub enum StaffingError {
    /// An input is out of range (negative, NaN, infinite, zero where it must be positive).
    #[error("invalid {field}: {problem}")]
    InvalidInput {
        /// The input's name.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// Erlang C with no more servers than the offered load: the queue grows without bound.
    #[error("unstable: {servers} servers for an offered load of {load:.3} Erlangs")]
    Unstable {
        /// Servers (agents × concurrency).
        servers: u64,
        /// Offered load in Erlangs.
        load: f64,
    },
    /// No number of agents up to the search limit meets the target.
    #[error("target not reachable with up to {max_agents} agents")]
    Unreachable {
        /// The search limit.
        max_agents: u32,
    },
}

/// Which service-level definition a figure uses when customers abandon.
///
/// With `A_t` = share of offered contacts answered within the target time, `B_t` = share
/// abandoned within the target time ("short abandons") and `Ab` = share abandoned at all:
///
/// | definition | formula | abandons are |
/// |---|---|---|
/// | `AbandonsMissed` | `A_t` | counted as missed (in the denominator, never met) |
/// | `AbandonsExcluded` | `A_t / (1 − Ab)` | excluded: answered contacts only |
/// | `ShortAbandonsMet` | `A_t + B_t` | met when they abandoned within the target, else missed |
/// | `ShortAbandonsExcluded` | `A_t / (1 − B_t)` | excluded when within the target, else missed |
///
/// `AbandonsMissed` is the strictest and the default; it is what an "answer-rate guarantee"
/// measures.
///
/// # Example
/// ```
/// use switchboard::staffing::SlDefinition;
/// let d: SlDefinition = serde_json::from_str("\"abandons_excluded\"").unwrap();
/// assert_eq!(d, SlDefinition::AbandonsExcluded);
/// assert_eq!(d.to_string(), "abandons_excluded");
/// ```
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum SlDefinition {
    /// Abandoned contacts count as missed.
    #[default]
    AbandonsMissed,
    /// Abandoned contacts are left out of numerator and denominator.
    AbandonsExcluded,
    /// Contacts abandoned within the target time count as met.
    ShortAbandonsMet,
    /// Contacts abandoned within the target time are left out.
    ShortAbandonsExcluded,
}

impl SlDefinition {
    /// Every definition.
    pub const ALL: [SlDefinition; 4] = [
        SlDefinition::AbandonsMissed,
        SlDefinition::AbandonsExcluded,
        SlDefinition::ShortAbandonsMet,
        SlDefinition::ShortAbandonsExcluded,
    ];

    /// The snake_case name used in files and reports.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            SlDefinition::AbandonsMissed => "abandons_missed",
            SlDefinition::AbandonsExcluded => "abandons_excluded",
            SlDefinition::ShortAbandonsMet => "short_abandons_met",
            SlDefinition::ShortAbandonsExcluded => "short_abandons_excluded",
        }
    }

    /// Service level from counts (or shares): contacts answered within the target, abandoned
    /// within the target, abandoned at all, and offered. `None` when the denominator is zero.
    #[must_use]
    pub fn apply(
        self,
        answered_within: f64,
        abandoned_within: f64,
        abandoned: f64,
        offered: f64,
    ) -> Option<f64> {
        let (num, den) = match self {
            SlDefinition::AbandonsMissed => (answered_within, offered),
            SlDefinition::AbandonsExcluded => (answered_within, offered - abandoned),
            SlDefinition::ShortAbandonsMet => (answered_within + abandoned_within, offered),
            SlDefinition::ShortAbandonsExcluded => (answered_within, offered - abandoned_within),
        };
        (den > 0.0).then(|| (num / den).clamp(0.0, 1.0))
    }
}

impl fmt::Display for SlDefinition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which queueing model to staff with.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    /// M/M/n: nobody abandons.
    #[default]
    ErlangC,
    /// M/M/n+M: exponential patience ([`Traffic::patience_secs`] must be set).
    ErlangA,
}

/// The work offered in one interval: arrival rate, handling time, patience and concurrency.
///
/// # Example
/// ```
/// use switchboard::staffing::Traffic;
/// let t = Traffic::per_interval(360.0, 3600.0, 300.0).patience(120.0).concurrency(3);
/// assert!((t.load_erlangs() - 30.0).abs() < 1e-12);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Traffic {
    /// Arrivals per second (λ).
    pub arrival_rate: f64,
    /// Mean handling time per contact in seconds (1/μ), at the given concurrency.
    pub aht_secs: f64,
    /// Mean patience in seconds (1/θ) for Erlang A; `None` = infinitely patient.
    #[serde(default)]
    pub patience_secs: Option<f64>,
    /// Contacts one agent handles at once (chat); 1 for voice.
    #[serde(default = "one")]
    pub concurrency: u32,
}

fn one() -> u32 {
    1
}

impl Traffic {
    /// `arrival_rate` contacts per second with mean handling time `aht_secs`.
    #[must_use]
    pub fn new(arrival_rate: f64, aht_secs: f64) -> Self {
        Traffic {
            arrival_rate,
            aht_secs,
            patience_secs: None,
            concurrency: 1,
        }
    }

    /// `contacts` arrivals over an interval of `interval_secs`, mean handling time `aht_secs`.
    #[must_use]
    pub fn per_interval(contacts: f64, interval_secs: f64, aht_secs: f64) -> Self {
        Traffic::new(contacts / interval_secs, aht_secs)
    }

    /// Sets the mean patience (for Erlang A).
    #[must_use]
    pub fn patience(mut self, secs: f64) -> Self {
        self.patience_secs = Some(secs);
        self
    }

    /// Sets the chat concurrency.
    #[must_use]
    pub fn concurrency(mut self, c: u32) -> Self {
        self.concurrency = c;
        self
    }

    /// Offered load in Erlangs, `λ · aht` (server-equivalents busy on average).
    #[must_use]
    pub fn load_erlangs(&self) -> f64 {
        self.arrival_rate * self.aht_secs
    }

    fn validate(&self) -> Result<(), StaffingError> {
        let bad = |field, problem: &str| {
            Err(StaffingError::InvalidInput {
                field,
                problem: problem.to_owned(),
            })
        };
        if !self.arrival_rate.is_finite() || self.arrival_rate < 0.0 {
            return bad("arrival_rate", "must be finite and ≥ 0");
        }
        if !self.aht_secs.is_finite() || self.aht_secs <= 0.0 {
            return bad("aht_secs", "must be finite and > 0");
        }
        if let Some(p) = self.patience_secs
            && (!p.is_finite() || p <= 0.0)
        {
            return bad("patience_secs", "must be finite and > 0");
        }
        if self.concurrency == 0 {
            return bad("concurrency", "must be at least 1");
        }
        Ok(())
    }

    fn servers(&self, agents: u32) -> Result<u64, StaffingError> {
        if agents == 0 {
            return Err(StaffingError::InvalidInput {
                field: "agents",
                problem: "must be at least 1".into(),
            });
        }
        Ok(u64::from(agents) * u64::from(self.concurrency))
    }

    /// Erlang C measures with `agents` agents (× concurrency servers).
    ///
    /// # Errors
    /// [`StaffingError::InvalidInput`] for bad traffic or 0 agents, [`StaffingError::Unstable`]
    /// when servers ≤ load.
    ///
    /// # Complexity
    /// O(servers).
    pub fn erlang_c(&self, agents: u32) -> Result<QueueMetrics, StaffingError> {
        self.validate()?;
        let n = self.servers(agents)?;
        let a = self.load_erlangs();
        #[allow(clippy::cast_precision_loss)]
        let nf = n as f64;
        if nf <= a {
            return Err(StaffingError::Unstable {
                servers: n,
                load: a,
            });
        }
        let c = erlang_c_servers(n, a);
        let mu = 1.0 / self.aht_secs;
        let drain = (nf - a) * mu; // nμ − λ
        Ok(QueueMetrics {
            model: Model::ErlangC,
            agents,
            servers: n,
            load_erlangs: a,
            occupancy: a / nf,
            p_wait: c,
            p_abandon: 0.0,
            asa_secs: c / drain,
            avg_wait_secs: c / drain,
            tail: Tail::Exponential { c, drain },
        })
    }

    /// Erlang A measures (needs [`Traffic::patience_secs`]).
    ///
    /// # Errors
    /// [`StaffingError::InvalidInput`] for bad traffic, 0 agents or no patience.
    ///
    /// # Complexity
    /// O(servers + queue terms + quadrature), about a thousand evaluations of `exp`.
    pub fn erlang_a(&self, agents: u32) -> Result<QueueMetrics, StaffingError> {
        self.validate()?;
        let Some(patience) = self.patience_secs else {
            return Err(StaffingError::InvalidInput {
                field: "patience_secs",
                problem: "Erlang A needs a mean patience".into(),
            });
        };
        let n = self.servers(agents)?;
        let a = self.load_erlangs();
        #[allow(clippy::cast_precision_loss)]
        let nf = n as f64;
        let mu = 1.0 / self.aht_secs;
        let theta = 1.0 / patience;
        let lambda = self.arrival_rate;
        let cap = nf * mu;
        if lambda == 0.0 {
            return Ok(QueueMetrics::idle(Model::ErlangA, agents, n));
        }
        // ln(1/B - 1) and ln S, S = Σ_{j≥0} Π_{i=1..j} λ/(nμ + iθ).
        let l_inv_b = ln_inv_erlang_b(n, a);
        let ln_r_minus_1 = l_inv_b + (-(-l_inv_b).exp_m1()).ln();
        let ln_s = ln_queue_series(lambda, cap, theta);
        // π_n = 1 / (1/B − 1 + S)
        let ln_pi_n = -log_add_exp(ln_r_minus_1, ln_s);
        let p_wait = (ln_pi_n + ln_s).exp().min(1.0);
        let tail = AbandonTail::new(lambda, cap, theta, ln_pi_n);
        let served_waiting = tail.integral(0.0, f64::INFINITY, Weight::Served);
        let p_abandon = (p_wait - served_waiting).max(0.0);
        let served_wait_sum = tail.integral(0.0, f64::INFINITY, Weight::ServedTimesS);
        let answered = 1.0 - p_abandon;
        let asa = if answered > 0.0 {
            served_wait_sum / answered
        } else {
            0.0
        };
        // Mean time to answer or abandon, over all offered: E[min(V, τ)] = P(Ab)/θ.
        let avg_wait = p_abandon / theta;
        Ok(QueueMetrics {
            model: Model::ErlangA,
            agents,
            servers: n,
            load_erlangs: a,
            occupancy: (a * answered / nf).min(1.0),
            p_wait,
            p_abandon,
            asa_secs: asa,
            avg_wait_secs: avg_wait,
            tail: Tail::Abandon(tail),
        })
    }

    /// Measures under `model`.
    ///
    /// # Errors
    /// As [`Traffic::erlang_c`] / [`Traffic::erlang_a`].
    pub fn metrics(&self, model: Model, agents: u32) -> Result<QueueMetrics, StaffingError> {
        match model {
            Model::ErlangC => self.erlang_c(agents),
            Model::ErlangA => self.erlang_a(agents),
        }
    }

    /// The fewest agents that meet `target` under `model`.
    ///
    /// # Errors
    /// [`StaffingError::InvalidInput`] for bad input, [`StaffingError::Unreachable`] when even
    /// [`Target::max_agents`] agents do not meet the target.
    ///
    /// # Complexity
    /// O(servers · log servers) model evaluations' worth of work (exponential then binary search).
    pub fn agents_for(&self, target: &Target, model: Model) -> Result<Staffing, StaffingError> {
        self.validate()?;
        target.validate()?;
        let meets = |agents: u32| -> Result<Option<QueueMetrics>, StaffingError> {
            match self.metrics(model, agents) {
                Ok(m) => Ok(target.met_by(&m).then_some(m)),
                Err(StaffingError::Unstable { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        };
        // Lower bound: enough servers to carry the load (at least one agent).
        let conc = f64::from(self.concurrency);
        let min_agents = (self.load_erlangs() / conc).floor();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let mut lo = if min_agents >= f64::from(target.max_agents) {
            target.max_agents
        } else {
            (min_agents as u32).max(1)
        };
        if let Some(m) = meets(lo)? {
            // Under Erlang A fewer agents than the load may still do: search below.
            let (mut bad, mut good, mut good_m) = (0u32, lo, m);
            while good - bad > 1 {
                let mid = bad + (good - bad) / 2;
                if let Some(m) = meets(mid)? {
                    good = mid;
                    good_m = m;
                } else {
                    bad = mid;
                }
            }
            return Ok(Staffing {
                agents: good,
                metrics: good_m,
            });
        }
        // Exponential search for an upper bound, then binary search in (lo, hi].
        let mut step = 1u32;
        let mut hi;
        let mut hi_m;
        loop {
            hi = lo.saturating_add(step).min(target.max_agents);
            if let Some(m) = meets(hi)? {
                hi_m = m;
                break;
            }
            if hi >= target.max_agents {
                return Err(StaffingError::Unreachable {
                    max_agents: target.max_agents,
                });
            }
            lo = hi;
            step = step.saturating_mul(2);
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if let Some(m) = meets(mid)? {
                hi = mid;
                hi_m = m;
            } else {
                lo = mid;
            }
        }
        Ok(Staffing {
            agents: hi,
            metrics: hi_m,
        })
    }
}

/// The shape of the waiting-time distribution, kept so that service levels can be asked for any
/// threshold after the fact.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Tail {
    /// Erlang C: `P(W > t) = c · e^{−drain·t}`.
    Exponential { c: f64, drain: f64 },
    /// Erlang A.
    Abandon(AbandonTail),
    /// No traffic.
    None,
}

/// Queue measures for one staffing level, as fractions of offered contacts.
///
/// # Example
/// ```
/// use switchboard::staffing::{Traffic, SlDefinition};
/// let m = Traffic::per_interval(100.0, 1800.0, 180.0).patience(60.0).erlang_a(10)?;
/// assert!(m.p_abandon > 0.0);
/// let strict = m.service_level_at(20.0, SlDefinition::AbandonsMissed);
/// let lenient = m.service_level_at(20.0, SlDefinition::AbandonsExcluded);
/// assert!(lenient >= strict);
/// # Ok::<(), switchboard::staffing::StaffingError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct QueueMetrics {
    /// The model.
    pub model: Model,
    /// Agents.
    pub agents: u32,
    /// Servers (agents × concurrency).
    pub servers: u64,
    /// Offered load in Erlangs.
    pub load_erlangs: f64,
    /// Share of server time busy (carried load ÷ servers).
    pub occupancy: f64,
    /// Probability an arrival has to wait.
    pub p_wait: f64,
    /// Probability an arrival abandons (0 under Erlang C).
    pub p_abandon: f64,
    /// Average speed of answer: mean wait of answered contacts (those answered at once count 0), s.
    pub asa_secs: f64,
    /// Mean time in queue over all offered contacts, until answer or abandonment, s.
    pub avg_wait_secs: f64,
    tail: Tail,
}

/// The shares of offered contacts behind every service-level definition, at one threshold.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlShares {
    /// Answered within the threshold.
    pub answered_within: f64,
    /// Abandoned within the threshold.
    pub abandoned_within: f64,
    /// Abandoned at all.
    pub abandoned: f64,
}

impl QueueMetrics {
    fn idle(model: Model, agents: u32, servers: u64) -> Self {
        QueueMetrics {
            model,
            agents,
            servers,
            load_erlangs: 0.0,
            occupancy: 0.0,
            p_wait: 0.0,
            p_abandon: 0.0,
            asa_secs: 0.0,
            avg_wait_secs: 0.0,
            tail: Tail::None,
        }
    }

    /// The shares of offered contacts answered / abandoned within `t` seconds.
    #[must_use]
    pub fn shares_at(&self, t: f64) -> SlShares {
        let t = if t.is_nan() { 0.0 } else { t.max(0.0) };
        match self.tail {
            Tail::None => SlShares {
                answered_within: 1.0,
                abandoned_within: 0.0,
                abandoned: 0.0,
            },
            Tail::Exponential { c, drain } => SlShares {
                answered_within: (1.0 - c * (-drain * t).exp()).clamp(0.0, 1.0),
                abandoned_within: 0.0,
                abandoned: 0.0,
            },
            Tail::Abandon(tail) => {
                let served = tail.integral(0.0, t, Weight::Served);
                let g_to_t = tail.integral(0.0, t, Weight::Plain);
                let g_after = tail.integral(t, f64::INFINITY, Weight::Plain);
                let ab_within = (g_to_t - served) + (-(-tail.theta * t).exp_m1()) * g_after;
                SlShares {
                    answered_within: (1.0 - self.p_wait + served).clamp(0.0, 1.0),
                    abandoned_within: ab_within.clamp(0.0, self.p_abandon),
                    abandoned: self.p_abandon,
                }
            }
        }
    }

    /// Service level at threshold `t` seconds under `definition`.
    #[must_use]
    pub fn service_level_at(&self, t: f64, definition: SlDefinition) -> f64 {
        let s = self.shares_at(t);
        definition
            .apply(s.answered_within, s.abandoned_within, s.abandoned, 1.0)
            .unwrap_or(1.0)
    }

    /// Probability that a contact waits longer than `t` seconds before being answered or
    /// abandoning (the complement of "handled within t"); for Erlang C simply `P(W > t)`.
    #[must_use]
    pub fn p_wait_longer(&self, t: f64) -> f64 {
        let s = self.shares_at(t);
        (1.0 - s.answered_within - s.abandoned_within).clamp(0.0, 1.0)
    }
}

/// A staffing target: answer `service_level` of contacts within `answer_within_secs`, measured by
/// `definition`, optionally with caps on ASA, abandonment and occupancy.
///
/// # Example
/// ```
/// use switchboard::staffing::{Target, SlDefinition};
/// let t = Target::new(30.0, 0.9).definition(SlDefinition::AbandonsExcluded).max_abandon(0.05);
/// assert_eq!(t.max_abandon, Some(0.05));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// The threshold T in seconds.
    pub answer_within_secs: f64,
    /// The share to answer within T (0..=1).
    pub service_level: f64,
    /// How abandons count.
    #[serde(default)]
    pub definition: SlDefinition,
    /// Cap on average speed of answer, s.
    #[serde(default)]
    pub max_asa_secs: Option<f64>,
    /// Cap on the abandonment probability.
    #[serde(default)]
    pub max_abandon: Option<f64>,
    /// Cap on occupancy (e.g. 0.85 to avoid burn-out).
    #[serde(default)]
    pub max_occupancy: Option<f64>,
    /// Search limit for [`Traffic::agents_for`].
    #[serde(default = "default_max_agents")]
    pub max_agents: u32,
}

fn default_max_agents() -> u32 {
    1_000_000
}

impl Target {
    /// `service_level` within `answer_within_secs`, abandons counted as missed.
    #[must_use]
    pub fn new(answer_within_secs: f64, service_level: f64) -> Self {
        Target {
            answer_within_secs,
            service_level,
            definition: SlDefinition::AbandonsMissed,
            max_asa_secs: None,
            max_abandon: None,
            max_occupancy: None,
            max_agents: default_max_agents(),
        }
    }
    /// Sets the service-level definition.
    #[must_use]
    pub fn definition(mut self, d: SlDefinition) -> Self {
        self.definition = d;
        self
    }
    /// Caps the ASA.
    #[must_use]
    pub fn max_asa(mut self, secs: f64) -> Self {
        self.max_asa_secs = Some(secs);
        self
    }
    /// Caps abandonment.
    #[must_use]
    pub fn max_abandon(mut self, p: f64) -> Self {
        self.max_abandon = Some(p);
        self
    }
    /// Caps occupancy.
    #[must_use]
    pub fn max_occupancy(mut self, p: f64) -> Self {
        self.max_occupancy = Some(p);
        self
    }

    fn validate(&self) -> Result<(), StaffingError> {
        let bad = |field, problem: &str| {
            Err(StaffingError::InvalidInput {
                field,
                problem: problem.to_owned(),
            })
        };
        if !self.answer_within_secs.is_finite() || self.answer_within_secs < 0.0 {
            return bad("answer_within_secs", "must be finite and ≥ 0");
        }
        if !(0.0..=1.0).contains(&self.service_level) {
            return bad("service_level", "must be in 0..=1");
        }
        if self.service_level >= 1.0 && self.max_abandon.is_none() {
            return bad("service_level", "must be below 1 (100% is never reached)");
        }
        for (field, v) in [
            ("max_asa_secs", self.max_asa_secs),
            ("max_abandon", self.max_abandon),
            ("max_occupancy", self.max_occupancy),
        ] {
            if let Some(v) = v
                && (!v.is_finite() || v <= 0.0)
            {
                return bad(field, "must be finite and > 0");
            }
        }
        if self.max_agents == 0 {
            return bad("max_agents", "must be at least 1");
        }
        Ok(())
    }

    /// Whether `m` meets this target.
    #[must_use]
    pub fn met_by(&self, m: &QueueMetrics) -> bool {
        m.service_level_at(self.answer_within_secs, self.definition) >= self.service_level
            && self.max_asa_secs.is_none_or(|x| m.asa_secs <= x)
            && self.max_abandon.is_none_or(|x| m.p_abandon <= x)
            && self.max_occupancy.is_none_or(|x| m.occupancy <= x)
    }
}

/// The answer of [`Traffic::agents_for`]: the agents needed and the measures they give.
#[derive(Clone, Debug, PartialEq)]
pub struct Staffing {
    /// Fewest agents meeting the target.
    pub agents: u32,
    /// The measures at that staffing.
    pub metrics: QueueMetrics,
}

// ------------------------------------------------------------------ the formulas

/// Erlang B blocking probability for `servers` servers and `load` Erlangs, by the stable
/// recursion (no factorials; underflows gracefully to 0 for very large `servers`).
///
/// # Example
/// ```
/// use switchboard::staffing::erlang_b;
/// assert!((erlang_b(1, 1.0) - 0.5).abs() < 1e-15);
/// assert!(erlang_b(5000, 4500.0) < 1e-3);
/// ```
#[must_use]
pub fn erlang_b(servers: u64, load: f64) -> f64 {
    if load <= 0.0 {
        return if servers == 0 { 1.0 } else { 0.0 };
    }
    (-ln_inv_erlang_b(servers, load)).exp()
}

/// Erlang C probability of waiting for `servers` servers and `load` Erlangs; 1 when
/// `servers ≤ load` (unstable).
///
/// # Example
/// ```
/// use switchboard::staffing::erlang_c;
/// // M/M/1: P(wait) = ρ.
/// assert!((erlang_c(1, 0.7) - 0.7).abs() < 1e-15);
/// ```
#[must_use]
pub fn erlang_c(servers: u64, load: f64) -> f64 {
    #[allow(clippy::cast_precision_loss)]
    if (servers as f64) <= load {
        return 1.0;
    }
    if load <= 0.0 {
        return 0.0;
    }
    erlang_c_servers(servers, load)
}

fn erlang_c_servers(n: u64, a: f64) -> f64 {
    if a <= 0.0 {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss)]
    let nf = n as f64;
    // 1/C = ((n − a)/n)·(1/B) + a/n
    let l = ln_inv_erlang_b(n, a);
    let ln_first = ((nf - a) / nf).ln() + l;
    let inv_c = log_add_exp(ln_first, (a / nf).ln());
    (-inv_c).exp().min(1.0)
}

/// `ln(1/B(n, a))`. Runs the classic recursion `B(k) = a·B(k−1)/(k + a·B(k−1))` (stable, one
/// division per step) while `B` stays well above the smallest normal float, then continues with
/// `1/B(k) = 1 + (k/a)/B(k−1)` in log space, so no value overflows or underflows.
fn ln_inv_erlang_b(n: u64, a: f64) -> f64 {
    let mut b = 1.0f64;
    let mut k = 0u64;
    while k < n {
        k += 1;
        #[allow(clippy::cast_precision_loss)]
        let kf = k as f64;
        b = a * b / (kf + a * b);
        if b < 1e-280 {
            break;
        }
    }
    let mut l = -b.ln();
    if k == n {
        return l;
    }
    let ln_a = a.ln();
    for k in k + 1..=n {
        #[allow(clippy::cast_precision_loss)]
        let x = (k as f64).ln() - ln_a + l;
        l = softplus(x);
    }
    l
}

/// ln(1 + e^x), stable.
fn softplus(x: f64) -> f64 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

/// ln(e^x + e^y), stable.
fn log_add_exp(x: f64, y: f64) -> f64 {
    if x == f64::NEG_INFINITY {
        return y;
    }
    if y == f64::NEG_INFINITY {
        return x;
    }
    let m = x.max(y);
    m + ((x - m).exp() + (y - m).exp()).ln()
}

/// ln Σ_{j≥0} Π_{i=1..j} λ/(cap + iθ), summed in log space until the terms are negligible.
fn ln_queue_series(lambda: f64, cap: f64, theta: f64) -> f64 {
    let ln_l = lambda.ln();
    let mut term = 0.0f64; // ln of the j-th term
    let mut max = 0.0f64;
    let mut acc = 1.0f64; // Σ exp(term − max)
    let mut j = 0u64;
    loop {
        j += 1;
        #[allow(clippy::cast_precision_loss)]
        let rate = cap + j as f64 * theta;
        term += ln_l - rate.ln();
        if term > max {
            acc = acc * (max - term).exp() + 1.0;
            max = term;
        } else {
            acc += (term - max).exp();
        }
        // Past the peak, terms fall at least geometrically: stop when negligible.
        if rate > lambda && term - max < -40.0 {
            break;
        }
        if j > 50_000_000 {
            break;
        }
    }
    max + acc.ln()
}

/// The waiting-time density of the Erlang A model and its integrals.
#[derive(Clone, Copy, Debug, PartialEq)]
struct AbandonTail {
    lambda: f64,
    cap: f64,
    theta: f64,
    ln_pi_n: f64,
    /// Window `[lo, hi]` outside of which the density is negligible (< e^-60 of its peak).
    lo: f64,
    hi: f64,
    peak: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Weight {
    /// g(s)
    Plain,
    /// e^{−θs} g(s): served at s.
    Served,
    /// s · e^{−θs} g(s)
    ServedTimesS,
}

impl AbandonTail {
    fn new(lambda: f64, cap: f64, theta: f64, ln_pi_n: f64) -> Self {
        let mut t = AbandonTail {
            lambda,
            cap,
            theta,
            ln_pi_n,
            lo: 0.0,
            hi: 0.0,
            peak: 0.0,
        };
        // φ(s) = −cap·s + (λ/θ)(1 − e^{−θs}) is concave; φ'(s) = −cap + λ e^{−θs}.
        let s_star = if lambda > cap {
            (lambda / cap).ln() / theta
        } else {
            0.0
        };
        let peak = t.phi(s_star);
        t.peak = peak;
        let drop = 60.0;
        // Right end: φ falls at least at rate... search by doubling then bisection.
        let mut step = (1.0 / cap).max(1e-12);
        let mut hi = s_star + step;
        while t.phi(hi) > peak - drop && hi < 1e15 {
            step *= 2.0;
            hi = s_star + step;
        }
        let mut a = s_star;
        let mut b = hi;
        for _ in 0..80 {
            let m = 0.5 * (a + b);
            if t.phi(m) > peak - drop {
                a = m;
            } else {
                b = m;
            }
        }
        t.hi = b * 1.05 + 1e-12;
        if s_star > 0.0 && t.phi(0.0) < peak - drop {
            let mut a = 0.0;
            let mut b = s_star;
            for _ in 0..80 {
                let m = 0.5 * (a + b);
                if t.phi(m) > peak - drop {
                    b = m;
                } else {
                    a = m;
                }
            }
            t.lo = a;
        }
        t
    }

    fn phi(&self, s: f64) -> f64 {
        -self.cap * s - (self.lambda / self.theta) * (-self.theta * s).exp_m1()
    }

    fn density(&self, s: f64, w: Weight) -> f64 {
        let base = self.phi(s) - self.peak;
        match w {
            Weight::Plain => base.exp(),
            Weight::Served => (base - self.theta * s).exp(),
            Weight::ServedTimesS => s * (base - self.theta * s).exp(),
        }
    }

    /// ∫_a^b weight·g(s) ds, a probability (share of all arrivals).
    fn integral(&self, a: f64, b: f64, w: Weight) -> f64 {
        let a = a.max(self.lo);
        let b = b.min(self.hi);
        if b <= a {
            return 0.0;
        }
        const PANELS: usize = 16;
        #[allow(clippy::cast_precision_loss)]
        let h = (b - a) / PANELS as f64;
        let mut sum = 0.0;
        for p in 0..PANELS {
            #[allow(clippy::cast_precision_loss)]
            let x0 = a + h * p as f64;
            let mid = x0 + 0.5 * h;
            for (x, wt) in GL_NODES.iter().zip(GL_WEIGHTS.iter()) {
                sum += wt * self.density(mid + 0.5 * h * x, w);
                sum += wt * self.density(mid - 0.5 * h * x, w);
            }
        }
        let integral = sum * 0.5 * h;
        // g(s) = π_n · cap · e^{φ(s)}
        (self.ln_pi_n + self.cap.ln() + self.peak).exp() * integral
    }
}

/// Positive nodes of 16-point Gauss–Legendre quadrature on [-1, 1].
const GL_NODES: [f64; 8] = [
    0.095_012_509_837_637_44,
    0.281_603_550_779_258_9,
    0.458_016_777_657_227_4,
    0.617_876_244_402_643_7,
    0.755_404_408_355_003,
    0.865_631_202_387_831_8,
    0.944_575_023_073_232_6,
    0.989_400_934_991_649_9,
];
/// Their weights.
const GL_WEIGHTS: [f64; 8] = [
    0.189_450_610_455_068_5,
    0.182_603_415_044_923_6,
    0.169_156_519_395_002_5,
    0.149_595_988_816_576_7,
    0.124_628_971_255_533_9,
    0.095_158_511_682_492_78,
    0.062_253_523_938_647_89,
    0.027_152_459_411_754_095,
];

// ------------------------------------------------------------------ planner

/// One line of an interval forecast: the contacts expected for one tenant and skill group in one
/// interval.
///
/// # Example
/// ```
/// use switchboard::staffing::ForecastRow;
/// let row: ForecastRow = serde_json::from_str(r#"{"interval": 0, "group": "acme/sizing",
///     "contacts": 120, "aht_secs": 240}"#).unwrap();
/// assert_eq!(row.concurrency, 1);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForecastRow {
    /// Interval index (0 = the first interval of the plan).
    pub interval: u32,
    /// The tenant / skill group (e.g. `"acme/sizing"`); each group is staffed on its own.
    pub group: String,
    /// Contacts expected in the interval.
    pub contacts: f64,
    /// Mean handling time, s.
    pub aht_secs: f64,
    /// Mean patience, s (used with [`Model::ErlangA`]).
    #[serde(default)]
    pub patience_secs: Option<f64>,
    /// Chat concurrency.
    #[serde(default = "one")]
    pub concurrency: u32,
}

/// Planner settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanSettings {
    /// Interval length, s (900, 1800 or 3600 typically).
    pub interval_secs: f64,
    /// The target every group must meet in every interval.
    pub target: Target,
    /// The model.
    #[serde(default)]
    pub model: Model,
    /// Share of paid time lost to breaks, training, absence (0..1): call-in = agents / (1 − s).
    #[serde(default)]
    pub shrinkage: f64,
}

/// One cell of a [`Plan`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlanCell {
    /// Interval index.
    pub interval: u32,
    /// Group.
    pub group: String,
    /// Agents on the phones/chats needed.
    pub agents: u32,
    /// Service level expected at that staffing (under the target's definition).
    pub service_level: f64,
    /// Abandonment expected.
    pub p_abandon: f64,
    /// ASA expected, s.
    pub asa_secs: f64,
    /// Occupancy expected.
    pub occupancy: f64,
}

/// A call-in plan: agents per group and interval, and the totals to call in.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The service-level definition every figure uses.
    pub definition: SlDefinition,
    /// Every (interval, group), sorted.
    pub cells: Vec<PlanCell>,
    /// Per interval: agents needed in total (sum over groups, i.e. every group staffed as a silo)
    /// and agents to call in after shrinkage.
    pub totals: BTreeMap<u32, (u32, u32)>,
}

/// Turns an interval forecast into a call-in plan: each (interval, group) is staffed on its own
/// with the smallest agent count meeting the target; totals add the groups up (an upper bound
/// when agents can serve several groups — pooling needs fewer, see docs/SIMULATION.md) and
/// gross up for shrinkage.
///
/// Where agents' skills overlap, the router can pull a group's agents into another group's
/// queue: [`verify_plan`](crate::sim::verify_plan) simulates the plan with the real router and
/// adds agents to the cells that miss the target.
///
/// # Errors
/// [`StaffingError`] from any cell, or [`StaffingError::InvalidInput`] for bad settings.
///
/// # Example
/// ```
/// use switchboard::staffing::{plan, ForecastRow, PlanSettings, Target, Model};
/// let rows = vec![
///     ForecastRow { interval: 0, group: "a".into(), contacts: 100.0, aht_secs: 180.0,
///                   patience_secs: None, concurrency: 1 },
///     ForecastRow { interval: 1, group: "a".into(), contacts: 300.0, aht_secs: 180.0,
///                   patience_secs: None, concurrency: 1 },
/// ];
/// let settings = PlanSettings { interval_secs: 1800.0, target: Target::new(20.0, 0.8),
///     model: Model::ErlangC, shrinkage: 0.3 };
/// let p = plan(&rows, &settings)?;
/// assert!(p.totals[&1].0 > p.totals[&0].0);
/// assert!(p.totals[&0].1 >= p.totals[&0].0);
/// # Ok::<(), switchboard::staffing::StaffingError>(())
/// ```
pub fn plan(rows: &[ForecastRow], settings: &PlanSettings) -> Result<Plan, StaffingError> {
    if !settings.interval_secs.is_finite() || settings.interval_secs <= 0.0 {
        return Err(StaffingError::InvalidInput {
            field: "interval_secs",
            problem: "must be finite and > 0".into(),
        });
    }
    if !(0.0..1.0).contains(&settings.shrinkage) {
        return Err(StaffingError::InvalidInput {
            field: "shrinkage",
            problem: "must be in 0..1".into(),
        });
    }
    let mut cells = Vec::with_capacity(rows.len());
    for row in rows {
        let mut traffic = Traffic::per_interval(row.contacts, settings.interval_secs, row.aht_secs)
            .concurrency(row.concurrency);
        traffic.patience_secs = row.patience_secs;
        let cell = if row.contacts <= 0.0 {
            PlanCell {
                interval: row.interval,
                group: row.group.clone(),
                agents: 0,
                service_level: 1.0,
                p_abandon: 0.0,
                asa_secs: 0.0,
                occupancy: 0.0,
            }
        } else {
            let s = traffic.agents_for(&settings.target, settings.model)?;
            PlanCell {
                interval: row.interval,
                group: row.group.clone(),
                agents: s.agents,
                service_level: s.metrics.service_level_at(
                    settings.target.answer_within_secs,
                    settings.target.definition,
                ),
                p_abandon: s.metrics.p_abandon,
                asa_secs: s.metrics.asa_secs,
                occupancy: s.metrics.occupancy,
            }
        };
        cells.push(cell);
    }
    cells.sort_by(|a, b| a.interval.cmp(&b.interval).then(a.group.cmp(&b.group)));
    Ok(Plan {
        definition: settings.target.definition,
        totals: totals(&cells, settings.shrinkage),
        cells,
    })
}

/// Per interval: agents over every group, and agents to call in after `shrinkage`.
pub(crate) fn totals(cells: &[PlanCell], shrinkage: f64) -> BTreeMap<u32, (u32, u32)> {
    let mut totals: BTreeMap<u32, (u32, u32)> = BTreeMap::new();
    for c in cells {
        let t = totals.entry(c.interval).or_default();
        t.0 = t.0.saturating_add(c.agents);
    }
    for (need, call_in) in totals.values_mut() {
        let gross = f64::from(*need) / (1.0 - shrinkage);
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        {
            *call_in = (gross - 1e-9).ceil().max(0.0) as u32;
        }
    }
    totals
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erlang_b_small() {
        // B(2, 1) = (1/2)/(1 + 1 + 1/2) = 0.2
        assert!((erlang_b(2, 1.0) - 0.2).abs() < 1e-15);
    }

    #[test]
    fn mm1_closed_forms() {
        let t = Traffic::new(0.5, 1.0);
        let m = t.erlang_c(1).unwrap();
        assert!((m.p_wait - 0.5).abs() < 1e-14);
        assert!((m.asa_secs - 1.0).abs() < 1e-12); // ρ/(μ−λ) = 0.5/0.5
    }

    #[test]
    fn erlang_a_tends_to_erlang_c() {
        let t = Traffic::per_interval(100.0, 1800.0, 180.0);
        let c = t.erlang_c(12).unwrap();
        let a = t.patience(1e9).erlang_a(12).unwrap();
        assert!(
            (c.p_wait - a.p_wait).abs() < 1e-5,
            "{} {}",
            c.p_wait,
            a.p_wait
        );
        assert!((c.asa_secs - a.asa_secs).abs() < 1e-3);
        let (sc, sa) = (
            c.service_level_at(20.0, SlDefinition::AbandonsMissed),
            a.service_level_at(20.0, SlDefinition::AbandonsMissed),
        );
        assert!((sc - sa).abs() < 1e-5, "{sc} {sa}");
    }

    #[test]
    fn erlang_a_overloaded_is_finite() {
        let t = Traffic::new(10.0, 10.0).patience(60.0);
        let m = t.erlang_a(50).unwrap(); // load 100 on 50 servers
        assert!(m.p_abandon > 0.45 && m.p_abandon < 0.55, "{}", m.p_abandon);
        assert!(m.p_wait > 0.99);
    }
}
