//! The scenario file: pool, policies and traffic. Loads from JSON or TOML (see
//! `docs/SIMULATION.md` for the format and a full example).

use crate::escalation::PolicyConfig as EscalationConfig;
use crate::expr::AttrValue;
use crate::ledger::{Guarantee, LedgerConfig};
use crate::policy::PolicySet;
use crate::staffing::SlDefinition;
use crate::{AgentKind, Channel, RouterConfig, Strategy};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// Why a scenario could not be read or was refused. The message names the file and, for an
/// invalid field, its path.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ScenarioError {
    /// The file could not be read.
    #[error("{}: {source}", path.display())]
    Read {
        /// The scenario file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not a scenario: the parser's message, with line and column.
    #[error("{0}")]
    Parse(String),
    /// A scenario file is not a scenario: the parser's message, with line and column.
    #[error("{}: {message}", path.display())]
    ParseFile {
        /// The scenario file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// The policy file the scenario names could not be loaded.
    #[error("{}: policy {}: {source}", path.display(), policy.display())]
    Policy {
        /// The scenario file.
        path: PathBuf,
        /// The policy file, relative to the scenario's directory.
        policy: PathBuf,
        /// Why the policy could not be loaded.
        source: crate::policy::PolicyError,
    },
    /// A field is invalid: a message like `traffic[2].per_hour: must be finite and ≥ 0`.
    #[error("{0}")]
    Invalid(String),
}

/// A whole simulation: the router configuration, the agent pool, the traffic and the settings.
///
/// # Example
/// ```
/// use switchboard::sim::Scenario;
/// let s: Scenario = serde_json::from_str(r#"{
///   "name": "one queue", "duration_hours": 2,
///   "pool": [{"name": "team", "count": 10, "skills": {"support": 5}, "channels": {"voice": 1}}],
///   "traffic": [{"tenant": "acme", "name": "calls", "channel": "voice", "per_hour": 100,
///                "requires": {"support": 3}, "service": {"exponential": {"mean_secs": 300}}}]
/// }"#).unwrap();
/// s.validate().unwrap();
/// assert_eq!(s.pool[0].count, 10);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A label for reports.
    #[serde(default)]
    pub name: String,
    /// Seed of every random draw.
    #[serde(default)]
    pub seed: u64,
    /// Simulated time, hours.
    pub duration_hours: f64,
    /// Tasks created before this many hours are simulated but left out of the report.
    #[serde(default)]
    pub warmup_hours: f64,
    /// The router's configuration (policies).
    #[serde(default)]
    pub router: RouterConfig,
    /// Ledger settings (interval, service-level definition).
    #[serde(default)]
    pub ledger: LedgerConfig,
    /// Time from an offer to the agent's acceptance.
    #[serde(default = "default_accept")]
    pub accept_delay: Dist,
    /// Agent groups.
    pub pool: Vec<AgentGroup>,
    /// Arrival streams.
    pub traffic: Vec<Stream>,
    /// Guarantees to evaluate, per tenant name.
    #[serde(default)]
    pub guarantees: BTreeMap<String, Vec<Guarantee>>,
    /// Width of the time-series buckets in the report and the chart, minutes.
    #[serde(default = "default_bucket")]
    pub bucket_minutes: u32,
    /// A routing policy (docs/CONFIG.md): router settings, brand shares, declared skills and
    /// tags, and the workflows that streams with a [`workflow`](Stream::workflow) run through.
    /// Inline, or a path to a TOML / JSON policy file that [`Scenario::from_path`] reads
    /// (relative to the scenario file). With a policy, the router settings come from it (leave
    /// `router` out), the pool's skills and tags must be declared there (and are expanded
    /// through its taxonomy), and an empty `pool` means the policy's own pool, on duty all run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicySource>,
    /// The AI front line's escalation policy (docs/ESCALATION.md). Streams with a
    /// [`bot`](Stream::bot) model run every conversation turn by turn through the real
    /// escalation engine under this policy, which decides whether, when and how urgently each
    /// one goes to a human, seeing the live load of the simulated pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation: Option<EscalationConfig>,
}

/// Where a scenario's routing policy comes from.
///
/// # Example
/// ```
/// use switchboard::sim::PolicySource;
/// let p: PolicySource = serde_json::from_str(r#""policies/peak.toml""#).unwrap();
/// assert!(matches!(p, PolicySource::Path(_)));
/// let p: PolicySource = serde_json::from_str(r#"{"version": "1"}"#).unwrap();
/// assert!(matches!(p, PolicySource::Inline(_)));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PolicySource {
    /// A policy file (TOML if it ends in `.toml`, JSON otherwise), read by
    /// [`Scenario::from_path`] relative to the scenario file.
    Path(PathBuf),
    /// The policy itself.
    Inline(Box<PolicySet>),
}

/// One hour with no pool and no traffic: fill in what you need (`..Default::default()`).
impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            name: String::new(),
            seed: 0,
            duration_hours: 1.0,
            warmup_hours: 0.0,
            router: RouterConfig::default(),
            ledger: LedgerConfig::default(),
            accept_delay: default_accept(),
            pool: Vec::new(),
            traffic: Vec::new(),
            guarantees: BTreeMap::new(),
            bucket_minutes: default_bucket(),
            policy: None,
            escalation: None,
        }
    }
}

/// No agents, one chat at a time: fill in what you need (`..Default::default()`).
impl Default for AgentGroup {
    fn default() -> Self {
        AgentGroup {
            name: String::new(),
            count: 0,
            skills: BTreeMap::new(),
            tags: Vec::new(),
            certified: Vec::new(),
            kind: AgentKind::Human,
            channels: [(Channel::Chat, 1)].into_iter().collect(),
            shifts: Vec::new(),
            breaks: None,
        }
    }
}

/// A silent chat stream (rate 0, 5-minute exponential handling): fill in what you need
/// (`..Default::default()`).
impl Default for Stream {
    fn default() -> Self {
        Stream {
            tenant: String::new(),
            name: String::new(),
            channel: default_channel(),
            per_hour: 0.0,
            profile: Profile::Flat,
            requires: BTreeMap::new(),
            tags: Vec::new(),
            certified: false,
            service: Dist::Exponential { mean_secs: 300.0 },
            patience: None,
            sla_secs: default_sla(),
            priority: 0,
            strategy: None,
            ai_containment: 0.0,
            csat: CsatModel::default(),
            outreach: false,
            conversion: 0.0,
            workflow: None,
            attributes: BTreeMap::new(),
            tiers: Vec::new(),
            bot: None,
        }
    }
}

fn is_human(k: &AgentKind) -> bool {
    *k == AgentKind::Human
}

fn default_accept() -> Dist {
    Dist::Fixed { secs: 2.0 }
}
fn default_bucket() -> u32 {
    30
}

/// A group of identical agents.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentGroup {
    /// Label.
    pub name: String,
    /// How many agents.
    pub count: u32,
    /// Skills and levels.
    #[serde(default)]
    pub skills: BTreeMap<String, u8>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Tenants certified for.
    #[serde(default)]
    pub certified: Vec<String>,
    /// Human agents or AI bots (bots take the tasks a workflow's `to_bot` rule pins to
    /// `agent.kind == "bot"`).
    #[serde(default, skip_serializing_if = "is_human")]
    pub kind: AgentKind,
    /// Capacity per channel (chat concurrency here).
    pub channels: BTreeMap<Channel, u16>,
    /// Shifts, in hours from the start; none = the whole run.
    #[serde(default)]
    pub shifts: Vec<Shift>,
    /// Breaks within shifts.
    #[serde(default)]
    pub breaks: Option<Breaks>,
}

/// A working period.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Shift {
    /// Start, hours from the start of the run.
    pub start_hour: f64,
    /// End, hours.
    pub end_hour: f64,
}

/// Recurring breaks: each agent goes `Away` for `minutes` every `every_minutes` of its shift,
/// agents staggered evenly so the group is never all on break.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Breaks {
    /// Time between break starts, minutes.
    pub every_minutes: f64,
    /// Break length, minutes.
    pub minutes: f64,
}

/// A stream of tasks of one type for one tenant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stream {
    /// Tenant (brand) name.
    pub tenant: String,
    /// Task type.
    pub name: String,
    /// Channel.
    #[serde(default = "default_channel")]
    pub channel: Channel,
    /// Base arrival rate, per hour (multiplied by the profile).
    pub per_hour: f64,
    /// Shape of the rate over time.
    #[serde(default)]
    pub profile: Profile,
    /// Required skills and minimum levels.
    #[serde(default)]
    pub requires: BTreeMap<String, u8>,
    /// Required tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Requires certification for the tenant.
    #[serde(default)]
    pub certified: bool,
    /// Handling time.
    pub service: Dist,
    /// Customer patience; none = waits forever.
    #[serde(default)]
    pub patience: Option<Dist>,
    /// SLA target, seconds.
    #[serde(default = "default_sla")]
    pub sla_secs: f64,
    /// Priority class.
    #[serde(default)]
    pub priority: u8,
    /// Strategy override.
    #[serde(default)]
    pub strategy: Option<Strategy>,
    /// Share of conversations the AI front line resolves without a human (0..1). The rest are
    /// escalated to the router.
    #[serde(default)]
    pub ai_containment: f64,
    /// Satisfaction model.
    #[serde(default)]
    pub csat: CsatModel,
    /// Proactive outreach (billed on conversion).
    #[serde(default)]
    pub outreach: bool,
    /// Conversion probability of an answered outreach task.
    #[serde(default)]
    pub conversion: f64,
    /// Task type whose workflow (from the scenario's [`policy`](Scenario::policy), for this
    /// tenant or the defaults) routes the stream's tasks: targets, widening steps, exception
    /// rules. Replaces `requires`, `tags` and `certified`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// Host attributes of each task, for workflow targets (`task.lang == "zh"`): a fixed value
    /// or weighted choices (`{"zh": 0.7, "en": 0.3}`), drawn per task.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, AttrChoice>,
    /// Customer value tiers: the weight of tier 0, 1, 2, … (empty: everyone tier 0). The tier
    /// feeds the router's priority and `task.value_tier` in targets, and the bot model's
    /// customer evidence.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<f64>,
    /// The AI front line, conversation by conversation through the escalation engine (needs
    /// the scenario's [`escalation`](Scenario::escalation) policy). Replaces `ai_containment`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot: Option<BotModel>,
}

/// A task attribute's value: fixed, or drawn from weighted choices.
///
/// # Example
/// ```
/// use switchboard::sim::AttrChoice;
/// let c: AttrChoice = serde_json::from_str(r#"{"zh": 0.7, "en": 0.3}"#).unwrap();
/// assert!(matches!(c, AttrChoice::Weighted(_)));
/// let f: AttrChoice = serde_json::from_str(r#""zh""#).unwrap();
/// assert!(matches!(f, AttrChoice::Fixed(_)));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttrChoice {
    /// Always this value.
    Fixed(AttrValue),
    /// A string value with probability proportional to its weight.
    Weighted(BTreeMap<String, f64>),
}

/// How simulated customers talk to the bot. Each conversation is a series of customer turns
/// `turn_gap` apart; each turn carries evidence drawn from this model (sentiment as a random
/// walk, the bot's intent confidence, fallbacks, explicit requests for a human, the customer's
/// tier), and the real [`EscalationEngine`](crate::escalation::EscalationEngine) decides after
/// each turn. A conversation the engine keeps is resolved by the bot after its drawn number of
/// turns (contained); one it escalates becomes a router task with the hand-over's priority.
///
/// # Example
/// ```
/// use switchboard::sim::BotModel;
/// let b: BotModel = serde_json::from_str(r#"{"mean_turns": 5, "ask_human": 0.08}"#).unwrap();
/// assert_eq!(b.fallback, 0.1);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BotModel {
    /// Mean customer turns a conversation needs to be resolved by the bot (geometric, ≥ 1).
    pub mean_turns: f64,
    /// Time between customer turns.
    pub turn_gap: Dist,
    /// Probability per turn that a customer who has not asked yet asks for a human.
    pub ask_human: f64,
    /// Probability per turn that a customer who asked before asks again (insistence).
    pub ask_again: f64,
    /// Probability per turn that the bot answers with a fallback.
    pub fallback: f64,
    /// Sentiment at the first turn, in −1..=1.
    pub sentiment_start: f64,
    /// Mean change of sentiment per turn (negative: customers grow unhappy).
    pub sentiment_drift: f64,
    /// Standard deviation of the per-turn change.
    pub sentiment_noise: f64,
    /// Mean intent confidence of the bot's answers (drawn uniformly ±0.2 around it).
    pub intent_confidence: f64,
}

impl Default for BotModel {
    fn default() -> Self {
        BotModel {
            mean_turns: 4.0,
            turn_gap: Dist::Fixed { secs: 20.0 },
            ask_human: 0.05,
            ask_again: 0.8,
            fallback: 0.1,
            sentiment_start: 0.0,
            sentiment_drift: -0.05,
            sentiment_noise: 0.15,
            intent_confidence: 0.75,
        }
    }
}

fn default_channel() -> Channel {
    Channel::Chat
}
fn default_sla() -> f64 {
    20.0
}

/// Probability that a served customer is satisfied: `base − per_minute_wait × wait minutes`,
/// clamped to [0, 1]. Reports show CSAT as the share satisfied.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CsatModel {
    /// Satisfaction when answered at once.
    pub base: f64,
    /// Loss per minute of waiting.
    pub per_minute_wait: f64,
}

impl Default for CsatModel {
    fn default() -> Self {
        CsatModel {
            base: 0.96,
            per_minute_wait: 0.03,
        }
    }
}

/// A distribution of durations, seconds.
#[derive(Copy, Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Dist {
    /// Always the same.
    Fixed {
        /// Seconds.
        secs: f64,
    },
    /// Exponential.
    Exponential {
        /// Mean, seconds.
        mean_secs: f64,
    },
    /// Lognormal with this mean and coefficient of variation (std / mean).
    Lognormal {
        /// Mean, seconds.
        mean_secs: f64,
        /// Coefficient of variation.
        cv: f64,
    },
}

impl Dist {
    /// The mean, seconds.
    #[must_use]
    pub fn mean_secs(&self) -> f64 {
        match *self {
            Dist::Fixed { secs } => secs,
            Dist::Exponential { mean_secs } | Dist::Lognormal { mean_secs, .. } => mean_secs,
        }
    }
    fn check(&self, path: &str) -> Result<(), String> {
        let ok = |x: f64| x.is_finite() && x >= 0.0;
        let fine = match *self {
            Dist::Fixed { secs } => ok(secs),
            Dist::Exponential { mean_secs } => ok(mean_secs) && mean_secs > 0.0,
            Dist::Lognormal { mean_secs, cv } => {
                ok(mean_secs) && mean_secs > 0.0 && ok(cv) && cv > 0.0
            }
        };
        if fine {
            Ok(())
        } else {
            Err(format!("{path}: durations must be finite and positive"))
        }
    }
}

/// The shape of an arrival rate over the run: a multiplier of [`Stream::per_hour`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Profile {
    /// Multiplier 1 throughout.
    #[default]
    Flat,
    /// A sales day: a diurnal curve (0.25 at night, 1 at the busiest daytime hour) plus a
    /// Gaussian spike of height `peak_factor − 1` centred on `peak_hour`, `width_minutes`
    /// wide (standard deviation). With `peak_factor = 100` the peak carries 100× the normal-day
    /// rate.
    SalesDay {
        /// Hour of the peak (e.g. 20.0 for the evening launch, 0.0 for midnight).
        peak_hour: f64,
        /// Peak multiplier.
        peak_factor: f64,
        /// Spread of the peak, minutes.
        width_minutes: f64,
    },
    /// One multiplier per hour, repeating.
    Hourly(Vec<f64>),
    /// One multiplier per step of `minutes` from the start of the run, then 0 after the last
    /// step (not repeating): an interval forecast, e.g. `per_hour: 1` and each factor the
    /// interval's contacts per hour.
    Steps {
        /// Step length, minutes.
        minutes: f64,
        /// Multiplier of each step.
        factors: Vec<f64>,
    },
}

/// The most arrivals per hour a stream may ask for at its peak (`per_hour ×` the profile's
/// largest multiplier): far beyond any contact centre, and small enough that a typo in a
/// multiplier is an error rather than a simulation that never advances.
pub const MAX_ARRIVALS_PER_HOUR: f64 = 1e8;

impl Profile {
    /// The largest multiplier the profile reaches.
    ///
    /// # Example
    /// ```
    /// use switchboard::sim::Profile;
    /// let p = Profile::SalesDay { peak_hour: 20.0, peak_factor: 100.0, width_minutes: 40.0 };
    /// assert_eq!(p.max(), 100.0);
    /// assert_eq!(Profile::Hourly(vec![0.5, 2.0]).max(), 2.0);
    /// ```
    #[must_use]
    pub fn max(&self) -> f64 {
        match self {
            Profile::Flat => 1.0,
            Profile::SalesDay { peak_factor, .. } => 1.0 + (peak_factor - 1.0).max(0.0),
            Profile::Hourly(v) if v.is_empty() => 1.0,
            Profile::Hourly(v) | Profile::Steps { factors: v, .. } => {
                v.iter().copied().fold(0.0, f64::max)
            }
        }
    }

    /// The multiplier at `hour` (hours from the start of the run).
    #[must_use]
    pub fn at(&self, hour: f64) -> f64 {
        match self {
            Profile::Flat => 1.0,
            Profile::SalesDay {
                peak_hour,
                peak_factor,
                width_minutes,
            } => {
                let h = hour.rem_euclid(24.0);
                let diurnal = if (7.0..24.0).contains(&h) {
                    0.25 + 0.75 * (std::f64::consts::PI * (h - 7.0) / 17.0).sin()
                } else {
                    0.25
                };
                // Distance to the peak on the 24-hour circle.
                let d = (h - peak_hour).rem_euclid(24.0);
                let d = d.min(24.0 - d) * 60.0;
                let z = d / width_minutes.max(1e-9);
                diurnal + (peak_factor - 1.0).max(0.0) * (-0.5 * z * z).exp()
            }
            Profile::Hourly(v) => {
                if v.is_empty() {
                    return 1.0;
                }
                // hour ≥ 0 and the modulo keeps the index in range.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let i = (hour.max(0.0).floor() as usize) % v.len();
                v[i]
            }
            Profile::Steps { minutes, factors } => {
                let step = (hour.max(0.0) * 60.0 / minutes.max(1e-9)).floor();
                // Saturating float-to-int cast; `get` handles the end.
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                factors.get(step as usize).copied().unwrap_or(0.0)
            }
        }
    }
}

impl Scenario {
    /// Parses a JSON scenario.
    ///
    /// # Errors
    /// The parser's message, with line and column.
    pub fn from_json(text: &str) -> Result<Self, ScenarioError> {
        serde_json::from_str(text).map_err(|e| ScenarioError::Parse(e.to_string()))
    }

    /// Parses a TOML scenario.
    ///
    /// # Errors
    /// The parser's message, with line and column.
    #[cfg(feature = "toml")]
    pub fn from_toml(text: &str) -> Result<Self, ScenarioError> {
        toml::from_str(text).map_err(|e| ScenarioError::Parse(e.to_string()))
    }

    /// Reads a scenario file (TOML if the name ends in `.toml`, JSON otherwise) and the policy
    /// file it names, if any ([`PolicySource::Path`], relative to the scenario's directory),
    /// which it inlines.
    ///
    /// # Errors
    /// The file that could not be read or parsed, and why.
    ///
    /// # Example
    /// ```
    /// use switchboard::sim::{PolicySource, Scenario};
    /// let s = Scenario::from_path("examples/scenarios/workflow_day.json").unwrap();
    /// assert!(matches!(s.policy, Some(PolicySource::Inline(_))));
    /// ```
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, ScenarioError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError::Read {
            path: path.to_path_buf(),
            source: e,
        })?;
        let is_toml = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
        let mut s = if is_toml {
            #[cfg(feature = "toml")]
            let parsed = Self::from_toml(&text);
            #[cfg(not(feature = "toml"))]
            let parsed = Err(ScenarioError::Parse(
                "TOML support is not compiled in (enable the `toml` feature)".into(),
            ));
            parsed
        } else {
            Self::from_json(&text)
        }
        .map_err(|e| ScenarioError::ParseFile {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if let Some(PolicySource::Path(p)) = &s.policy {
            let full = path.parent().unwrap_or(Path::new("")).join(p);
            let set = PolicySet::from_path(&full).map_err(|e| ScenarioError::Policy {
                path: path.to_path_buf(),
                policy: full.clone(),
                source: e,
            })?;
            s.policy = Some(PolicySource::Inline(Box::new(set)));
        }
        Ok(s)
    }

    /// Checks every field; the error names the path and the problem.
    ///
    /// # Errors
    /// [`ScenarioError::Invalid`], with a message like `traffic[2].per_hour: must be finite and ≥ 0`.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        self.check_fields().map_err(ScenarioError::Invalid)
    }

    /// [`Scenario::validate`], with the message as text.
    pub(crate) fn check_fields(&self) -> Result<(), String> {
        let pos = |x: f64| x.is_finite() && x > 0.0;
        if !pos(self.duration_hours) {
            return Err("duration_hours: must be finite and > 0".into());
        }
        if !self.warmup_hours.is_finite()
            || self.warmup_hours < 0.0
            || self.warmup_hours >= self.duration_hours
        {
            return Err("warmup_hours: must be in 0..duration_hours".into());
        }
        self.router.validate().map_err(|e| format!("router.{e}"))?;
        self.ledger
            .interval_ms()
            .map_err(|e| format!("ledger.{e}"))?;
        self.accept_delay.check("accept_delay")?;
        if self.bucket_minutes == 0 {
            return Err("bucket_minutes: must be at least 1".into());
        }
        for (i, g) in self.pool.iter().enumerate() {
            if g.channels.values().all(|&c| c == 0) {
                return Err(format!("pool[{i}].channels: needs a non-zero capacity"));
            }
            for (s, &l) in &g.skills {
                if l == 0 || l > crate::MAX_LEVEL {
                    return Err(format!("pool[{i}].skills.{s}: level must be 1..=10"));
                }
            }
            for (j, s) in g.shifts.iter().enumerate() {
                if !(s.start_hour.is_finite() && s.end_hour.is_finite())
                    || s.start_hour < 0.0
                    || s.end_hour <= s.start_hour
                {
                    return Err(format!("pool[{i}].shifts[{j}]: needs 0 ≤ start < end"));
                }
            }
            if let Some(b) = g.breaks
                && !(pos(b.every_minutes) && pos(b.minutes) && b.minutes < b.every_minutes)
            {
                return Err(format!(
                    "pool[{i}].breaks: needs 0 < minutes < every_minutes"
                ));
            }
        }
        for (i, s) in self.traffic.iter().enumerate() {
            if !s.per_hour.is_finite() || s.per_hour < 0.0 {
                return Err(format!("traffic[{i}].per_hour: must be finite and ≥ 0"));
            }
            s.service.check(&format!("traffic[{i}].service"))?;
            if let Some(p) = &s.patience {
                p.check(&format!("traffic[{i}].patience"))?;
            }
            if !s.sla_secs.is_finite() || s.sla_secs < 0.0 {
                return Err(format!("traffic[{i}].sla_secs: must be finite and ≥ 0"));
            }
            for (name, x) in [
                ("ai_containment", s.ai_containment),
                ("conversion", s.conversion),
                ("csat.base", s.csat.base),
            ] {
                if !(0.0..=1.0).contains(&x) {
                    return Err(format!("traffic[{i}].{name}: must be in 0..=1"));
                }
            }
            for (r, &l) in &s.requires {
                if l == 0 || l > crate::MAX_LEVEL {
                    return Err(format!("traffic[{i}].requires.{r}: level must be 1..=10"));
                }
            }
            match &s.profile {
                Profile::Flat => {}
                Profile::SalesDay {
                    peak_hour,
                    peak_factor,
                    width_minutes,
                } => {
                    if !(peak_hour.is_finite() && pos(*peak_factor) && pos(*width_minutes)) {
                        return Err(format!("traffic[{i}].profile: bad sales_day parameters"));
                    }
                }
                Profile::Hourly(v) => {
                    if v.iter().any(|x| !x.is_finite() || *x < 0.0) {
                        return Err(format!("traffic[{i}].profile: multipliers must be ≥ 0"));
                    }
                }
                Profile::Steps { minutes, factors } => {
                    if !pos(*minutes) {
                        return Err(format!("traffic[{i}].profile.minutes: must be > 0"));
                    }
                    if factors.iter().any(|x| !x.is_finite() || *x < 0.0) {
                        return Err(format!("traffic[{i}].profile: multipliers must be ≥ 0"));
                    }
                }
            }
        }
        self.validate_extensions()?;
        for (i, s) in self.traffic.iter().enumerate() {
            // Rates and multipliers are finite by now (checked above); an infinite product is
            // refused too.
            if s.per_hour * s.profile.max() > MAX_ARRIVALS_PER_HOUR {
                return Err(format!(
                    "traffic[{i}]: per_hour × the profile's largest multiplier asks for more than {MAX_ARRIVALS_PER_HOUR:e} arrivals per hour"
                ));
            }
        }
        for (t, gs) in &self.guarantees {
            if !self.traffic.iter().any(|s| &s.tenant == t) {
                return Err(format!("guarantees.{t}: no traffic for this tenant"));
            }
            for g in gs {
                if let Guarantee::AnswerRate { min_rate, .. } = g
                    && !(0.0..=1.0).contains(min_rate)
                {
                    return Err(format!("guarantees.{t}: min_rate must be in 0..=1"));
                }
            }
        }
        Ok(())
    }

    /// Checks the policy, workflow, attribute, tier and bot-model fields.
    fn validate_extensions(&self) -> Result<(), String> {
        let prob = |x: f64| (0.0..=1.0).contains(&x);
        if self.policy.is_some() && self.router != RouterConfig::default() {
            return Err(
                "router: with a policy, the router settings come from it (move them to the policy's [router])"
                    .into(),
            );
        }
        for (i, s) in self.traffic.iter().enumerate() {
            if let Some(w) = &s.workflow {
                if self.policy.is_none() {
                    return Err(format!(
                        "traffic[{i}].workflow: \"{w}\" needs a scenario `policy` that defines it"
                    ));
                }
                if !s.requires.is_empty() || !s.tags.is_empty() || s.certified {
                    return Err(format!(
                        "traffic[{i}]: `workflow` gives the target; leave out requires, tags and certified"
                    ));
                }
            }
            for (name, a) in &s.attributes {
                if let AttrChoice::Weighted(w) = a
                    && (w.values().any(|x| !x.is_finite() || *x < 0.0)
                        || w.values().sum::<f64>() <= 0.0)
                {
                    return Err(format!(
                        "traffic[{i}].attributes.{name}: weights must be finite, ≥ 0, and not all 0"
                    ));
                }
            }
            if !s.tiers.is_empty()
                && (s.tiers.len() > 256
                    || s.tiers.iter().any(|x| !x.is_finite() || *x < 0.0)
                    || s.tiers.iter().sum::<f64>() <= 0.0)
            {
                return Err(format!(
                    "traffic[{i}].tiers: at most 256 weights, finite, ≥ 0, and not all 0"
                ));
            }
            if let Some(b) = &s.bot {
                if self.escalation.is_none() {
                    return Err(format!(
                        "traffic[{i}].bot: needs the scenario's `escalation` policy"
                    ));
                }
                if s.ai_containment > 0.0 {
                    return Err(format!(
                        "traffic[{i}]: with a `bot` model the escalation engine decides containment; leave out ai_containment"
                    ));
                }
                let p = format!("traffic[{i}].bot");
                if !(b.mean_turns.is_finite() && b.mean_turns >= 1.0) {
                    return Err(format!("{p}.mean_turns: must be finite and ≥ 1"));
                }
                b.turn_gap.check(&format!("{p}.turn_gap"))?;
                for (name, x) in [
                    ("ask_human", b.ask_human),
                    ("ask_again", b.ask_again),
                    ("fallback", b.fallback),
                    ("intent_confidence", b.intent_confidence),
                ] {
                    if !prob(x) {
                        return Err(format!("{p}.{name}: must be in 0..=1"));
                    }
                }
                if !(-1.0..=1.0).contains(&b.sentiment_start) {
                    return Err(format!("{p}.sentiment_start: must be in -1..=1"));
                }
                if !b.sentiment_drift.is_finite()
                    || !b.sentiment_noise.is_finite()
                    || b.sentiment_noise < 0.0
                {
                    return Err(format!(
                        "{p}: sentiment_drift must be finite, sentiment_noise finite and ≥ 0"
                    ));
                }
            }
        }
        Ok(())
    }

    /// The service-level definition the report uses.
    #[must_use]
    pub fn definition(&self) -> SlDefinition {
        self.ledger.definition
    }
}
