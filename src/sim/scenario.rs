//! The scenario file: pool, policies and traffic. Loads from JSON or TOML (see
//! `docs/SIMULATION.md` for the format and a full example).

use crate::ledger::{Guarantee, LedgerConfig};
use crate::staffing::SlDefinition;
use crate::{Channel, RouterConfig, Strategy};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

impl Profile {
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
    /// Parses JSON or TOML (TOML needs the `cli` feature's `toml` dependency; JSON always works).
    ///
    /// # Errors
    /// The parser's message, with line and column.
    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    /// Checks every field; the error names the path and the problem.
    ///
    /// # Errors
    /// A message like `traffic[2].per_hour: must be finite and ≥ 0`.
    pub fn validate(&self) -> Result<(), String> {
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
                if l > crate::MAX_LEVEL {
                    return Err(format!("traffic[{i}].requires.{r}: level must be 0..=10"));
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

    /// The service-level definition the report uses.
    #[must_use]
    pub fn definition(&self) -> SlDefinition {
        self.ledger.definition
    }
}
