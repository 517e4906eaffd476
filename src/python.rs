//! Python bindings (the `python` feature), built with maturin as `switchboard._native`.
//!
//! Everything pyo3 lives in this module. The native layer is deliberately thin: every structured
//! value crosses the boundary as the JSON its Rust type already (de)serialises with serde, and the
//! pure-Python package in `python/switchboard/` turns that into a Pythonic API (names instead of
//! interned ids, dataclasses for effects, float seconds or `datetime` for time). Errors are raised
//! as the classes of `switchboard.errors`, with the Rust message unchanged. Long calls (simulation,
//! planning, plan verification, escalation replay) release the GIL.

use crate::escalation::replay::{DEMO as REPLAY_DEMO, Replay, ReplayError};
use crate::escalation::{ConversationId, Load, Signal, Speaker};
use crate::expr::AttrValue;
use crate::ledger::{Arrival, Guarantee, Ledger, LedgerConfig, Outcome};
use crate::operation::{Input, Operation, OperationConfig, OperationError, OperationState, Output};
use crate::policy::{PolicySet, ValidPolicy};
use crate::sim::{self, Scenario, SimError, VerifySettings};
use crate::staffing::{self, ForecastRow, Model, PlanSettings, QueueMetrics, Target, Traffic};
use crate::workflow::{
    WorkflowEngine, WorkflowError, WorkflowSet, WorkflowState, drive_arrive, drive_reload,
    drive_timeout,
};
use crate::{
    AgentId, AgentState, DefaultScoring, EscalationEngine, EscalationError, EscalationPolicy,
    Event, Guardrail, GuardrailConfig, GuardrailError, OfferId, PolicyConfig, Router, RouterConfig,
    RouterError, RouterState, TaskId, TaskSpec, TenantId, Time,
};
use pyo3::prelude::*;
use pyo3::types::PyModule;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Raises `switchboard.errors.<class>(message)`.
fn raise(py: Python<'_>, class: &str, message: String) -> PyErr {
    match py
        .import("switchboard.errors")
        .and_then(|m| m.getattr(class))
        .and_then(|c| c.call1((message.clone(),)))
    {
        Ok(e) => PyErr::from_value(e),
        Err(_) => pyo3::exceptions::PyRuntimeError::new_err(message),
    }
}

fn router_err(py: Python<'_>, e: &RouterError) -> PyErr {
    let class = match e {
        RouterError::UnknownAgent(_)
        | RouterError::UnknownTask(_)
        | RouterError::UnknownOffer(_)
        | RouterError::UnknownName { .. } => "NotFoundError",
        RouterError::DuplicateAgent(_)
        | RouterError::DuplicateTask(_)
        | RouterError::WrongAgent { .. }
        | RouterError::OfferExpired { .. }
        | RouterError::CapacityBelowLoad { .. }
        | RouterError::InvalidTaskState { .. } => "ConflictError",
        RouterError::TimeWentBackwards { .. } => "TimeWentBackwardsError",
        RouterError::InvalidConfig { .. }
        | RouterError::CorruptState(_)
        | RouterError::IncompatibleState { .. } => "ConfigError",
        _ => "RouterError",
    };
    raise(py, class, e.to_string())
}

fn escalation_err(py: Python<'_>, e: &EscalationError) -> PyErr {
    let class = match e {
        EscalationError::InvalidConfig { .. } => "ConfigError",
        EscalationError::UnknownConversation(_) | EscalationError::UnknownRequest(_) => {
            "NotFoundError"
        }
        EscalationError::DuplicateConversation(_) => "ConflictError",
        EscalationError::TimeWentBackwards { .. } => "TimeWentBackwardsError",
        _ => "EscalationError",
    };
    raise(py, class, e.to_string())
}

fn guardrail_err(py: Python<'_>, e: &GuardrailError) -> PyErr {
    raise(py, "ConfigError", e.to_string())
}

/// Parses JSON into a Rust value; a malformed document is a `ConfigError` naming `what`.
fn parse<T: DeserializeOwned>(py: Python<'_>, what: &str, json: &str) -> PyResult<T> {
    serde_json::from_str(json).map_err(|e| raise(py, "ConfigError", format!("invalid {what}: {e}")))
}

fn to_json<T: Serialize>(py: Python<'_>, value: &T) -> PyResult<String> {
    serde_json::to_string(value).map_err(|e| raise(py, "SwitchboardError", e.to_string()))
}

fn metrics_json(m: &QueueMetrics, target: Option<&Target>) -> serde_json::Value {
    let mut v = serde_json::json!({
        "model": m.model,
        "agents": m.agents,
        "servers": m.servers,
        "load_erlangs": m.load_erlangs,
        "occupancy": m.occupancy,
        "p_wait": m.p_wait,
        "p_abandon": m.p_abandon,
        "asa_secs": m.asa_secs,
        "avg_wait_secs": m.avg_wait_secs,
    });
    if let (Some(t), Some(obj)) = (target, v.as_object_mut()) {
        let s = m.shares_at(t.answer_within_secs);
        obj.insert(
            "service_level".into(),
            m.service_level_at(t.answer_within_secs, t.definition)
                .into(),
        );
        obj.insert("answered_within".into(), s.answered_within.into());
        obj.insert("abandoned_within".into(), s.abandoned_within.into());
    }
    v
}

/// The router, holding its catalog of names.
#[pyclass(module = "switchboard._native", name = "NativeRouter")]
struct NativeRouter {
    inner: Router<DefaultScoring>,
}

impl NativeRouter {
    fn drain(&mut self, py: Python<'_>) -> PyResult<String> {
        let effects: Vec<_> = self.inner.drain_effects().collect();
        to_json(py, &effects)
    }
}

#[pymethods]
impl NativeRouter {
    #[new]
    fn new(py: Python<'_>, config_json: &str) -> PyResult<Self> {
        let config: RouterConfig = parse(py, "router configuration", config_json)?;
        let inner = Router::new(config).map_err(|e| router_err(py, &e))?;
        Ok(NativeRouter { inner })
    }

    /// Rebuilds a router from `export_state()` JSON.
    #[staticmethod]
    fn from_state(py: Python<'_>, state_json: &str) -> PyResult<Self> {
        let state: RouterState = parse(py, "router state", state_json)?;
        let inner = Router::from_state(state, DefaultScoring).map_err(|e| router_err(py, &e))?;
        Ok(NativeRouter { inner })
    }

    /// Interns a name: `kind` is "tenant", "skill" or "tag".
    fn intern(&mut self, py: Python<'_>, kind: &str, name: &str) -> PyResult<u32> {
        let c = self.inner.catalog_mut();
        Ok(match kind {
            "tenant" => c.tenant(name).0,
            "skill" => c.skill(name).0,
            "tag" => c.tag(name).0,
            _ => {
                return Err(raise(
                    py,
                    "ConfigError",
                    format!("unknown name kind {kind}"),
                ));
            }
        })
    }

    /// The name of an interned id, if any.
    fn name_of(&self, kind: &str, id: u32) -> Option<String> {
        let c = self.inner.catalog();
        match kind {
            "tenant" => c.tenant_name(crate::TenantId(id)).map(str::to_owned),
            "skill" => c.skill_name(crate::SkillId(id)).map(str::to_owned),
            "tag" => c.tag_name(crate::TagId(id)).map(str::to_owned),
            _ => None,
        }
    }

    /// Applies one event (JSON of `switchboard::Event`) and returns the effects as JSON.
    fn handle(&mut self, py: Python<'_>, now_ms: u64, event_json: &str) -> PyResult<String> {
        let event: Event = parse(py, "event", event_json)?;
        self.inner
            .handle(Time(now_ms), event)
            .map_err(|e| router_err(py, &e))?;
        self.drain(py)
    }

    /// Accepts an offer (fast path, no JSON in).
    fn accept(&mut self, py: Python<'_>, now_ms: u64, offer: u64, agent: u64) -> PyResult<String> {
        self.inner
            .accept(Time(now_ms), OfferId(offer), AgentId(agent))
            .map_err(|e| router_err(py, &e))?;
        self.drain(py)
    }

    /// Completes a task (fast path).
    fn complete(&mut self, py: Python<'_>, now_ms: u64, task: u64) -> PyResult<String> {
        self.inner
            .complete(Time(now_ms), TaskId(task))
            .map_err(|e| router_err(py, &e))?;
        self.drain(py)
    }

    /// Fires the timers due at `now_ms`.
    fn handle_timeout(&mut self, py: Python<'_>, now_ms: u64) -> PyResult<String> {
        self.inner
            .handle_timeout(Time(now_ms))
            .map_err(|e| router_err(py, &e))?;
        self.drain(py)
    }

    /// Runs batch assignment; returns `(report_json, effects_json)`.
    fn dispatch_batch(&mut self, py: Python<'_>, now_ms: u64) -> PyResult<(String, String)> {
        let report = self
            .inner
            .dispatch_batch(Time(now_ms))
            .map_err(|e| router_err(py, &e))?;
        Ok((to_json(py, &report)?, self.drain(py)?))
    }

    /// When to call `handle_timeout` next, in ms.
    fn poll_timeout(&self) -> Option<u64> {
        self.inner.poll_timeout().map(Time::as_millis)
    }

    /// The latest time seen, in ms.
    fn now(&self) -> u64 {
        self.inner.now().as_millis()
    }

    fn snapshot(&self, py: Python<'_>, now_ms: u64) -> PyResult<String> {
        to_json(py, &self.inner.snapshot(Time(now_ms)))
    }

    fn counters(&self, py: Python<'_>) -> PyResult<String> {
        to_json(py, self.inner.counters())
    }

    fn explain(&self, py: Python<'_>, task: u64, agent: u64) -> PyResult<String> {
        let x = self
            .inner
            .explain(TaskId(task), AgentId(agent))
            .map_err(|e| router_err(py, &e))?;
        to_json(py, &x)
    }

    fn explain_offer(&self, py: Python<'_>, offer: u64) -> PyResult<Option<String>> {
        self.inner
            .explain_offer(OfferId(offer))
            .map(|r| to_json(py, r))
            .transpose()
    }

    fn export_state(&self, py: Python<'_>) -> PyResult<String> {
        to_json(py, &self.inner.export_state())
    }

    fn task_state(&self, task: u64) -> Option<&'static str> {
        self.inner.task_state(TaskId(task)).map(|s| s.name())
    }

    fn agent_state(&self, py: Python<'_>, agent: u64) -> PyResult<Option<String>> {
        match self.inner.agent_state(AgentId(agent)) {
            None => Ok(None),
            Some(s) => Ok(Some(to_json(py, &s)?)),
        }
    }

    fn sizes(&self) -> (usize, usize, usize, usize) {
        (
            self.inner.agent_count(),
            self.inner.live_tasks(),
            self.inner.waiting_tasks(),
            self.inner.outstanding_offers(),
        )
    }

    fn config(&self, py: Python<'_>) -> PyResult<String> {
        to_json(py, self.inner.config())
    }

    fn check_invariants(&self, py: Python<'_>) -> PyResult<()> {
        self.inner
            .check_invariants()
            .map_err(|e| raise(py, "SwitchboardError", e.to_string()))
    }
}

/// The escalation engine (built-in classifier, a load the host sets, no capacity signal).
#[pyclass(module = "switchboard._native", name = "NativeEscalation")]
struct NativeEscalation {
    inner: EscalationEngine,
}

#[pymethods]
impl NativeEscalation {
    /// Compiles `policy_json` (and optionally `guardrail_json`) against the router's catalog.
    #[new]
    #[pyo3(signature = (policy_json, router, guardrail_json=None))]
    fn new(
        py: Python<'_>,
        policy_json: &str,
        router: &mut NativeRouter,
        guardrail_json: Option<&str>,
    ) -> PyResult<Self> {
        let cfg: PolicyConfig = parse(py, "escalation policy", policy_json)?;
        let catalog = router.inner.catalog_mut();
        let policy = EscalationPolicy::compile(cfg, catalog).map_err(|e| escalation_err(py, &e))?;
        let mut inner =
            EscalationEngine::with_defaults(policy).map_err(|e| guardrail_err(py, &e))?;
        if let Some(g) = guardrail_json {
            let gcfg: GuardrailConfig = parse(py, "guardrail configuration", g)?;
            let guard = Guardrail::new(&gcfg, catalog).map_err(|e| guardrail_err(py, &e))?;
            inner = inner.with_guardrail(guard);
        }
        Ok(NativeEscalation { inner })
    }

    fn open(&mut self, py: Python<'_>, now_ms: u64, id: u64, tenant: u32) -> PyResult<()> {
        self.inner
            .open(Time(now_ms), ConversationId(id), TenantId(tenant))
            .map_err(|e| escalation_err(py, &e))
    }

    /// Feeds a signal (JSON of `escalation::Signal`); returns the decision as JSON.
    fn observe(
        &mut self,
        py: Python<'_>,
        now_ms: u64,
        id: u64,
        signal_json: &str,
    ) -> PyResult<String> {
        let signal: Signal = parse(py, "signal", signal_json)?;
        let d = self
            .inner
            .observe(Time(now_ms), ConversationId(id), signal)
            .map_err(|e| escalation_err(py, &e))?;
        to_json(py, &d)
    }

    fn poll_timeout(&self) -> Option<u64> {
        self.inner.poll_timeout().map(Time::as_millis)
    }

    fn handle_timeout(&mut self, py: Python<'_>, now_ms: u64) -> PyResult<String> {
        to_json(py, &self.inner.handle_timeout(Time(now_ms)))
    }

    fn close(&mut self, py: Python<'_>, id: u64) -> PyResult<String> {
        let c = self
            .inner
            .close(ConversationId(id))
            .map_err(|e| escalation_err(py, &e))?;
        to_json(py, &c)
    }

    fn conversation(&self, py: Python<'_>, id: u64) -> PyResult<Option<String>> {
        self.inner
            .conversation(ConversationId(id))
            .map(|c| to_json(py, c))
            .transpose()
    }

    fn metrics(&self, py: Python<'_>) -> PyResult<String> {
        to_json(py, self.inner.metrics())
    }

    fn set_load(&mut self, py: Python<'_>, load_json: &str) -> PyResult<()> {
        let load: Load = parse(py, "load", load_json)?;
        *self.inner.load_source_mut() = load;
        Ok(())
    }

    fn policy_version(&self) -> String {
        self.inner.policy().version().to_owned()
    }
}

/// A stand-alone guardrail scanner.
#[pyclass(module = "switchboard._native", name = "NativeGuardrail")]
struct NativeGuardrail {
    inner: Guardrail,
}

#[pymethods]
impl NativeGuardrail {
    #[new]
    fn new(py: Python<'_>, config_json: &str, router: &mut NativeRouter) -> PyResult<Self> {
        let cfg: GuardrailConfig = parse(py, "guardrail configuration", config_json)?;
        let inner =
            Guardrail::new(&cfg, router.inner.catalog_mut()).map_err(|e| guardrail_err(py, &e))?;
        Ok(NativeGuardrail { inner })
    }

    fn scan(&self, py: Python<'_>, tenant: u32, speaker: &str, text: &str) -> PyResult<String> {
        let speaker: Speaker = parse(py, "speaker", &format!("\"{speaker}\""))?;
        to_json(py, &self.inner.scan(TenantId(tenant), speaker, text))
    }

    fn version(&self) -> String {
        self.inner.version().to_owned()
    }

    fn phrase_count(&self) -> usize {
        self.inner.phrase_count()
    }
}

/// The SLA ledger.
#[pyclass(module = "switchboard._native", name = "NativeLedger")]
struct NativeLedger {
    inner: Ledger,
}

#[pymethods]
impl NativeLedger {
    #[new]
    fn new(py: Python<'_>, config_json: &str) -> PyResult<Self> {
        let cfg: LedgerConfig = parse(py, "ledger configuration", config_json)?;
        cfg.interval_ms()
            .map_err(|e| raise(py, "ConfigError", e.to_string()))?;
        Ok(NativeLedger {
            inner: Ledger::new(cfg),
        })
    }

    fn arrival(&mut self, py: Python<'_>, now_ms: u64, arrival_json: &str) -> PyResult<()> {
        let a: Arrival = parse(py, "arrival", arrival_json)?;
        self.inner.arrival(Time(now_ms), a);
        Ok(())
    }

    /// Records every effect of a JSON list (as returned by the router).
    fn observe(&mut self, py: Python<'_>, now_ms: u64, effects_json: &str) -> PyResult<()> {
        let effects: Vec<crate::Effect> = parse(py, "effects", effects_json)?;
        for e in &effects {
            self.inner.observe(Time(now_ms), e);
        }
        Ok(())
    }

    fn agent_state(
        &mut self,
        py: Python<'_>,
        now_ms: u64,
        agent: u64,
        state_json: &str,
    ) -> PyResult<()> {
        let s: AgentState = parse(py, "agent state", state_json)?;
        self.inner.agent_state(Time(now_ms), AgentId(agent), s);
        Ok(())
    }

    fn outcome(&mut self, py: Python<'_>, task: u64, outcome_json: &str) -> PyResult<()> {
        let o: Outcome = parse(py, "outcome", outcome_json)?;
        self.inner.outcome(TaskId(task), o);
        Ok(())
    }

    fn report(&self, py: Python<'_>, now_ms: u64) -> PyResult<String> {
        to_json(py, &self.inner.report(Time(now_ms)))
    }

    fn evaluate(&self, py: Python<'_>, tenant: u32, guarantee_json: &str) -> PyResult<String> {
        let g: Guarantee = parse(py, "guarantee", guarantee_json)?;
        to_json(py, &self.inner.evaluate(TenantId(tenant), &g))
    }

    fn records(&self, py: Python<'_>) -> PyResult<String> {
        to_json(py, &self.inner.records())
    }

    fn unknown_effects(&self) -> u64 {
        self.inner.unknown_effects()
    }
}

/// An invalid scenario (or verification input) is a `ConfigError`; a failure while running, a
/// `SimulationError`.
fn sim_err(py: Python<'_>, e: &SimError) -> PyErr {
    match e {
        SimError::Scenario(_) => raise(py, "ConfigError", e.to_string()),
        _ => raise(py, "SimulationError", e.to_string()),
    }
}

/// Runs a scenario to the end, without the GIL; the report as JSON.
fn run_scenario(py: Python<'_>, scenario: &Scenario) -> PyResult<String> {
    let out = py.detach(|| sim::run(scenario).map(|r| serde_json::to_string(&r.report)));
    match out {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(raise(py, "SwitchboardError", e.to_string())),
        Err(e) => Err(sim_err(py, &e)),
    }
}

/// Runs a simulation scenario (JSON) to the end, without the GIL; returns the report as JSON.
#[pyfunction]
fn simulate(py: Python<'_>, scenario_json: &str) -> PyResult<String> {
    let scenario: Scenario = parse(py, "scenario", scenario_json)?;
    run_scenario(py, &scenario)
}

/// Reads a scenario file and the policy file it names (relative to the scenario, as
/// `Scenario::from_path` and `switchboard simulate` do) and runs it without the GIL; `seed`
/// overrides the scenario's. Returns the report as JSON.
#[pyfunction]
#[pyo3(signature = (path, seed=None))]
fn simulate_file(py: Python<'_>, path: PathBuf, seed: Option<u64>) -> PyResult<String> {
    let mut scenario = py
        .detach(|| Scenario::from_path(&path))
        .map_err(|e| raise(py, "ConfigError", format!("invalid scenario: {e}")))?;
    if let Some(s) = seed {
        scenario.seed = s;
    }
    run_scenario(py, &scenario)
}

fn staffing_err(py: Python<'_>, e: &staffing::StaffingError) -> PyErr {
    raise(py, "StaffingError", e.to_string())
}

/// Queue measures for `agents` under `model` ("erlang_c" or "erlang_a"); target optional.
#[pyfunction]
#[pyo3(signature = (traffic_json, model_json, agents, target_json=None))]
fn queue_metrics(
    py: Python<'_>,
    traffic_json: &str,
    model_json: &str,
    agents: u32,
    target_json: Option<&str>,
) -> PyResult<String> {
    let traffic: Traffic = parse(py, "traffic", traffic_json)?;
    let model: Model = parse(py, "model", model_json)?;
    let target: Option<Target> = target_json.map(|t| parse(py, "target", t)).transpose()?;
    let m = traffic
        .metrics(model, agents)
        .map_err(|e| staffing_err(py, &e))?;
    to_json(py, &metrics_json(&m, target.as_ref()))
}

/// The fewest agents meeting a target; returns the measures at that staffing.
#[pyfunction]
fn agents_for(
    py: Python<'_>,
    traffic_json: &str,
    target_json: &str,
    model_json: &str,
) -> PyResult<String> {
    let traffic: Traffic = parse(py, "traffic", traffic_json)?;
    let target: Target = parse(py, "target", target_json)?;
    let model: Model = parse(py, "model", model_json)?;
    let s = py
        .detach(|| traffic.agents_for(&target, model))
        .map_err(|e| staffing_err(py, &e))?;
    to_json(py, &metrics_json(&s.metrics, Some(&target)))
}

/// The interval planner, without the GIL.
#[pyfunction]
fn plan(py: Python<'_>, rows_json: &str, settings_json: &str) -> PyResult<String> {
    let rows: Vec<ForecastRow> = parse(py, "forecast rows", rows_json)?;
    let settings: PlanSettings = parse(py, "plan settings", settings_json)?;
    let p = py
        .detach(|| staffing::plan(&rows, &settings))
        .map_err(|e| staffing_err(py, &e))?;
    to_json(py, &p)
}

/// Erlang B blocking probability.
#[pyfunction]
fn erlang_b(servers: u64, load: f64) -> f64 {
    staffing::erlang_b(servers, load)
}

/// Erlang C probability of waiting.
#[pyfunction]
fn erlang_c_wait(servers: u64, load: f64) -> f64 {
    staffing::erlang_c(servers, load)
}

/// Validates a router configuration (JSON); raises `ConfigError` if invalid.
#[pyfunction]
fn validate_router_config(py: Python<'_>, config_json: &str) -> PyResult<String> {
    let c: RouterConfig = parse(py, "router configuration", config_json)?;
    c.validate().map_err(|e| router_err(py, &e))?;
    to_json(py, &c)
}

/// The interval planner followed by the simulator's check (`sim::verify_plan`, as
/// `switchboard staff plan --verify`): agents are added to the (interval, group) cells that miss
/// the target in simulation. Runs without the GIL; returns the verified plan as JSON.
#[pyfunction]
#[pyo3(signature = (rows_json, settings_json, verify_json=None))]
fn verify_plan(
    py: Python<'_>,
    rows_json: &str,
    settings_json: &str,
    verify_json: Option<&str>,
) -> PyResult<String> {
    let rows: Vec<ForecastRow> = parse(py, "forecast rows", rows_json)?;
    let settings: PlanSettings = parse(py, "plan settings", settings_json)?;
    let opts: VerifySettings = match verify_json {
        Some(v) => parse(py, "verify settings", v)?,
        None => VerifySettings::default(),
    };
    let out = py.detach(|| {
        staffing::plan(&rows, &settings).map(|p| sim::verify_plan(&rows, &settings, &p, &opts))
    });
    match out {
        Ok(Ok(v)) => to_json(py, &v),
        Ok(Err(e)) => Err(sim_err(py, &e)),
        Err(e) => Err(staffing_err(py, &e)),
    }
}

// ----------------------------------------------------------------------------- escalation replay

/// Replays escalation transcripts (JSON lines, the format of `escalation::replay`) through a
/// policy under a fixed load, without the GIL, as `switchboard replay --json` does. Returns
/// `{"decisions": [...], "summary": {...}, "errors": [...]}` as JSON: the decisions `show` asks
/// for (`"all"`, `"actions"` — those other than `continue` — or `"summary"`: none), the summary
/// (confusion counts against the labels, precision, recall, offsets, the engine's metrics) and
/// the lines or events that could not be replayed (skipped, counted in `summary.errors`).
#[pyfunction]
#[pyo3(signature = (transcripts, policy_json=None, load_json=None, guardrail_json=None, show="actions"))]
fn replay(
    py: Python<'_>,
    transcripts: &str,
    policy_json: Option<&str>,
    load_json: Option<&str>,
    guardrail_json: Option<&str>,
    show: &str,
) -> PyResult<String> {
    let (keep_any, keep_all) = match show {
        "all" => (true, true),
        "actions" => (true, false),
        "summary" => (false, false),
        _ => {
            return Err(raise(
                py,
                "ConfigError",
                format!("invalid show {show:?}: expected \"all\", \"actions\" or \"summary\""),
            ));
        }
    };
    // The CLI's defaults: the built-in policy labelled "default", a 60 s wait against a 60 s SLA.
    let cfg: PolicyConfig = match policy_json {
        Some(p) => parse(py, "escalation policy", p)?,
        None => PolicyConfig {
            version: "default".into(),
            ..PolicyConfig::default()
        },
    };
    let load: Load = match load_json {
        Some(l) => parse(py, "load", l)?,
        None => Load {
            projected_wait_ms: 60_000,
            sla_ms: 60_000,
            staffed: true,
            in_hours: true,
        },
    };
    let guard: Option<GuardrailConfig> = guardrail_json
        .map(|g| parse(py, "guardrail configuration", g))
        .transpose()?;
    let out = py.detach(|| -> Result<serde_json::Value, ReplayError> {
        let mut r = Replay::new(cfg, load)?;
        if let Some(g) = &guard {
            r = r.with_guardrail(g)?;
        }
        let mut decisions = Vec::new();
        let mut errors = Vec::new();
        for line in transcripts.lines() {
            let errs = r.replay_line(line, |d| {
                if keep_any && (keep_all || !d.is_continue()) {
                    decisions.push(d.clone());
                }
            });
            errors.extend(errs.iter().map(ToString::to_string));
        }
        Ok(serde_json::json!({
            "decisions": decisions,
            "summary": r.summary(),
            "errors": errors,
        }))
    });
    match out {
        Ok(v) => to_json(py, &v),
        Err(ReplayError::Policy(e)) => Err(escalation_err(py, &e)),
        Err(e) => Err(raise(py, "ConfigError", e.to_string())),
    }
}

// ----------------------------------------------------------------------------- policies

/// Reads a policy set from `text` in `format` ("toml" or "json"); a document that is not a
/// policy set (bad syntax, unknown field) is a `ConfigError`.
fn parse_policy(py: Python<'_>, text: &str, format: &str) -> PyResult<PolicySet> {
    let set = match format {
        "toml" => PolicySet::from_toml_str(text),
        "json" => PolicySet::from_json_str(text),
        _ => {
            return Err(raise(
                py,
                "ConfigError",
                format!("unknown policy format {format:?}: expected \"toml\" or \"json\""),
            ));
        }
    };
    set.map_err(|e| raise(py, "ConfigError", format!("invalid policy: {e}")))
}

/// Validates and analyses a policy set (`format` "toml" or "json") without the GIL; returns the
/// JSON of `switchboard check --json` plus a summary. Raises `ConfigError` only when the text is
/// not a policy set at all (the CLI prints no JSON then either).
#[pyfunction]
#[pyo3(signature = (text, format="toml"))]
fn check_policy(py: Python<'_>, text: &str, format: &str) -> PyResult<String> {
    let policy = parse_policy(py, text, format)?;
    let report = py.detach(|| policy.check());
    to_json(py, &report)
}

/// A validated policy set: router settings and shares, names, workflows, tenants, pool.
#[pyclass(module = "switchboard._native", name = "NativePolicy")]
struct NativePolicy {
    set: PolicySet,
    inner: ValidPolicy,
}

#[pymethods]
impl NativePolicy {
    /// Reads and validates a policy set; every problem (one per line, with its path) is in the
    /// one `ConfigError` raised.
    #[new]
    #[pyo3(signature = (text, format="toml"))]
    fn new(py: Python<'_>, text: &str, format: &str) -> PyResult<Self> {
        let set = parse_policy(py, text, format)?;
        let inner = set
            .validate()
            .map_err(|e| raise(py, "ConfigError", format!("invalid policy:\n{e}")))?;
        Ok(NativePolicy { set, inner })
    }

    fn version(&self) -> String {
        self.inner.version().to_owned()
    }

    /// A new router with the policy's settings, names (same ids as the policy's catalog) and
    /// shares; with `add_pool`, the declared pool's agents are registered `Available` at `now_ms`
    /// with ids from `first_agent_id` on, group by group.
    #[pyo3(signature = (add_pool=true, first_agent_id=1, now_ms=0))]
    fn router(
        &self,
        py: Python<'_>,
        add_pool: bool,
        first_agent_id: u64,
        now_ms: u64,
    ) -> PyResult<NativeRouter> {
        let mut inner = self.inner.router().map_err(|e| router_err(py, &e))?;
        if add_pool {
            let count: u64 = self.set.pool.as_ref().map_or(0, |p| {
                p.groups.iter().map(|g| u64::from(g.count)).sum::<u64>()
            });
            if first_agent_id.checked_add(count).is_none() {
                return Err(raise(
                    py,
                    "ConfigError",
                    format!("first_agent_id {first_agent_id}: {count} pool agents overflow u64"),
                ));
            }
            for a in self
                .inner
                .pool_agents(first_agent_id, AgentState::Available)
            {
                inner
                    .add_agent(Time(now_ms), a)
                    .map_err(|e| router_err(py, &e))?;
            }
            inner.drain_effects().for_each(drop);
        }
        Ok(NativeRouter { inner })
    }

    /// The resolved `WorkflowSet` as JSON (certified-only tenants' targets extended).
    fn workflows(&self, py: Python<'_>) -> PyResult<String> {
        to_json(py, self.inner.workflows())
    }

    /// The policy set as read (the document, as JSON), e.g. for an operation's configuration.
    fn document(&self, py: Python<'_>) -> PyResult<String> {
        to_json(py, &self.set)
    }

    /// The tenants, in declaration order, as JSON: id, name, sla_ms, answer_target,
    /// certified_only, share (percentages resolved).
    fn tenants(&self, py: Python<'_>) -> PyResult<String> {
        let v: Vec<serde_json::Value> = self
            .inner
            .tenants()
            .iter()
            .map(|t| {
                serde_json::json!({
                    "id": t.id,
                    "name": t.name,
                    "sla_ms": t.sla_ms,
                    "answer_target": t.answer_target,
                    "certified_only": t.certified_only,
                    "share": t.share,
                })
            })
            .collect();
        to_json(py, &v)
    }

    /// Swaps this policy into a running router and workflow engine (`ValidPolicy::apply_to`):
    /// names interned, shares set by tenant name, workflows reloaded. Returns the reload report.
    fn apply_to(
        &self,
        py: Python<'_>,
        router: &mut NativeRouter,
        flows: &mut NativeWorkflows,
        now_ms: u64,
    ) -> PyResult<String> {
        let report = self
            .inner
            .apply_to(&mut router.inner, &mut flows.inner, Time(now_ms))
            .map_err(|e| workflow_err(py, &e, true))?;
        to_json(py, &report)
    }
}

// ----------------------------------------------------------------------------- workflows

/// A workflow that does not compile (or, when `loading` a set or state, names a task type the
/// set lacks) is a `ConfigError`; a task the engine refuses is a `WorkflowError`; a router
/// refusal keeps its router class.
fn workflow_err(py: Python<'_>, e: &WorkflowError, loading: bool) -> PyErr {
    match e {
        WorkflowError::Router(r) => router_err(py, r),
        _ if loading => raise(py, "ConfigError", e.to_string()),
        _ => raise(py, "WorkflowError", e.to_string()),
    }
}

/// The workflow engine; every call that routes is handed the router it runs next to.
#[pyclass(module = "switchboard._native", name = "NativeWorkflows")]
struct NativeWorkflows {
    inner: WorkflowEngine,
}

#[pymethods]
impl NativeWorkflows {
    /// Compiles a `WorkflowSet` (JSON) against the router's names.
    #[new]
    fn new(py: Python<'_>, set_json: &str, router: &NativeRouter) -> PyResult<Self> {
        let set: WorkflowSet = parse(py, "workflow set", set_json)?;
        let inner = WorkflowEngine::new(set, router.inner.catalog())
            .map_err(|e| workflow_err(py, &e, true))?;
        Ok(NativeWorkflows { inner })
    }

    /// Resumes the tasks of `export_state()` JSON under `set_json`.
    #[staticmethod]
    fn from_state(
        py: Python<'_>,
        set_json: &str,
        router: &NativeRouter,
        state_json: &str,
    ) -> PyResult<Self> {
        let set: WorkflowSet = parse(py, "workflow set", set_json)?;
        let state: WorkflowState = parse(py, "workflow state", state_json)?;
        let inner = WorkflowEngine::from_state(set, router.inner.catalog(), state)
            .map_err(|e| workflow_err(py, &e, true))?;
        Ok(NativeWorkflows { inner })
    }

    /// Routes a new task (JSON `TaskSpec`) through its tenant's workflow for `task_type`, with
    /// host attributes (a JSON object); returns the router's effects as JSON.
    fn arrive(
        &mut self,
        py: Python<'_>,
        router: &mut NativeRouter,
        now_ms: u64,
        spec_json: &str,
        task_type: &str,
        attrs_json: &str,
    ) -> PyResult<String> {
        let spec: TaskSpec = parse(py, "task", spec_json)?;
        let attrs: BTreeMap<String, AttrValue> = parse(py, "task attributes", attrs_json)?;
        drive_arrive(
            &mut self.inner,
            &mut router.inner,
            Time(now_ms),
            spec,
            task_type,
            attrs,
        )
        .map_err(|e| workflow_err(py, &e, false))?;
        router.drain(py)
    }

    /// When to call `handle_timeout` next (the router's timers and the engine's), in ms.
    fn poll_timeout(&self, router: &NativeRouter) -> Option<u64> {
        self.inner.poll_timeout(&router.inner).map(Time::as_millis)
    }

    /// Fires the router's due timers and the due widenings and exception rules; returns the
    /// router's effects as JSON.
    fn handle_timeout(
        &mut self,
        py: Python<'_>,
        router: &mut NativeRouter,
        now_ms: u64,
    ) -> PyResult<String> {
        drive_timeout(&mut self.inner, &mut router.inner, Time(now_ms))
            .map_err(|e| workflow_err(py, &e, false))?;
        router.drain(py)
    }

    /// Drains the engine's effects (step entered, exception fired, callback) as a JSON list.
    fn poll_effects(&mut self, py: Python<'_>) -> PyResult<String> {
        let effects: Vec<_> = std::iter::from_fn(|| self.inner.poll_effect()).collect();
        to_json(py, &effects)
    }

    fn forget(&mut self, task: u64) {
        self.inner.forget(TaskId(task));
    }

    /// Swaps in a new `WorkflowSet` (JSON); returns the reload report as JSON.
    fn reload(
        &mut self,
        py: Python<'_>,
        router: &mut NativeRouter,
        now_ms: u64,
        set_json: &str,
    ) -> PyResult<String> {
        let set: WorkflowSet = parse(py, "workflow set", set_json)?;
        let report = drive_reload(&mut self.inner, &mut router.inner, Time(now_ms), set)
            .map_err(|e| workflow_err(py, &e, true))?;
        to_json(py, &report)
    }

    fn export_state(&self, py: Python<'_>) -> PyResult<String> {
        to_json(py, &self.inner.export_state())
    }

    fn task(&self, py: Python<'_>, task: u64) -> PyResult<Option<String>> {
        self.inner
            .task(TaskId(task))
            .map(|t| to_json(py, t))
            .transpose()
    }

    fn tracked(&self) -> usize {
        self.inner.tracked()
    }

    fn workflows(&self, py: Python<'_>) -> PyResult<String> {
        to_json(py, self.inner.workflows())
    }
}

// ----------------------------------------------------------------------------- operation

/// Maps an `OperationError` to the package's classes: router, escalation and workflow refusals
/// keep their own mapping; an invalid policy, guardrail, ledger configuration or snapshot version
/// is a `ConfigError` (so is a workflow that does not compile when `loading` a policy or state);
/// inputs out of time order are `TimeWentBackwardsError`; the rest (`NoBots`, `NoWorkflows`,
/// `ReservedSignal`) the base `SwitchboardError`.
fn operation_err(py: Python<'_>, e: &OperationError, loading: bool) -> PyErr {
    match e {
        OperationError::Router(r) => router_err(py, r),
        OperationError::Escalation(x) => escalation_err(py, x),
        OperationError::Workflow(w) => workflow_err(py, w, loading),
        OperationError::Guardrail(g) => guardrail_err(py, g),
        OperationError::Policy(_) => raise(py, "ConfigError", format!("invalid {e}")),
        OperationError::Ledger(_) | OperationError::Version { .. } => {
            raise(py, "ConfigError", e.to_string())
        }
        OperationError::TimeWentBackwards { .. } => {
            raise(py, "TimeWentBackwardsError", e.to_string())
        }
        _ => raise(py, "SwitchboardError", e.to_string()),
    }
}

/// The composed engine (`switchboard::operation::Operation`): bot front line, escalation,
/// workflows, router and ledger behind one input type and one output type, both crossing as
/// the JSON of `operation::Input` / `operation::Output` (tagged `"input"` / `"output"`).
#[pyclass(module = "switchboard._native", name = "NativeOperation")]
struct NativeOperation {
    inner: Operation<DefaultScoring>,
}

impl NativeOperation {
    fn drain(&mut self, py: Python<'_>) -> PyResult<String> {
        let outputs: Vec<Output> = self.inner.drain_outputs().collect();
        to_json(py, &outputs)
    }
}

#[pymethods]
impl NativeOperation {
    /// Builds the operation from `OperationConfig` JSON.
    #[new]
    fn new(py: Python<'_>, config_json: &str) -> PyResult<Self> {
        let config: OperationConfig = parse(py, "operation configuration", config_json)?;
        let inner = Operation::new(config).map_err(|e| operation_err(py, &e, true))?;
        Ok(NativeOperation { inner })
    }

    /// Rebuilds an operation from `export_state()` JSON (parsed without the GIL).
    #[staticmethod]
    fn from_state(py: Python<'_>, state_json: &str) -> PyResult<Self> {
        let state: OperationState = py
            .detach(|| serde_json::from_str(state_json))
            .map_err(|e| raise(py, "ConfigError", format!("invalid operation state: {e}")))?;
        let inner = Operation::from_state(state, DefaultScoring)
            .map_err(|e| operation_err(py, &e, true))?;
        Ok(NativeOperation { inner })
    }

    /// Interns a name into the router's catalog: `kind` is "tenant", "skill" or "tag".
    fn intern(&mut self, py: Python<'_>, kind: &str, name: &str) -> PyResult<u32> {
        let c = self.inner.router_mut().catalog_mut();
        Ok(match kind {
            "tenant" => c.tenant(name).0,
            "skill" => c.skill(name).0,
            "tag" => c.tag(name).0,
            _ => {
                return Err(raise(
                    py,
                    "ConfigError",
                    format!("unknown name kind {kind}"),
                ));
            }
        })
    }

    /// The name of an interned id, if any.
    fn name_of(&self, kind: &str, id: u32) -> Option<String> {
        let c = self.inner.router().catalog();
        match kind {
            "tenant" => c.tenant_name(crate::TenantId(id)).map(str::to_owned),
            "skill" => c.skill_name(crate::SkillId(id)).map(str::to_owned),
            "tag" => c.tag_name(crate::TagId(id)).map(str::to_owned),
            _ => None,
        }
    }

    /// Applies one input (JSON of `operation::Input`) at `now_ms`; returns the outputs it
    /// produced as a JSON list. Nothing changes when it is refused.
    fn handle(&mut self, py: Python<'_>, now_ms: u64, input_json: &str) -> PyResult<String> {
        let input: Input = parse(py, "input", input_json)?;
        let loading = matches!(input, Input::SwapPolicy { .. });
        self.inner
            .handle(Time(now_ms), input)
            .map_err(|e| operation_err(py, &e, loading))?;
        self.drain(py)
    }

    /// Applies a JSON list of inputs, in order, all at `now_ms`, without the GIL; returns the
    /// outputs of all of them as one JSON list. The whole list is parsed first (also without
    /// the GIL): a malformed input is a `ConfigError` and nothing is applied. The first input
    /// the operation refuses stops the batch: the inputs before it stay applied, and the error
    /// raised carries `index` (the refused input's position) and `outputs` (the JSON list of
    /// the outputs the applied inputs produced).
    fn handle_many(&mut self, py: Python<'_>, now_ms: u64, inputs_json: &str) -> PyResult<String> {
        type Failed = Option<(usize, OperationError, bool)>;
        let inner = &mut self.inner;
        let res = py.detach(|| -> Result<(serde_json::Result<String>, Failed), String> {
            let raw: Vec<serde_json::Value> = serde_json::from_str(inputs_json)
                .map_err(|e| format!("invalid input list: {e}"))?;
            let mut inputs = Vec::with_capacity(raw.len());
            for (i, v) in raw.into_iter().enumerate() {
                let input: Input =
                    serde_json::from_value(v).map_err(|e| format!("invalid input [{i}]: {e}"))?;
                inputs.push(input);
            }
            let mut outputs: Vec<Output> = Vec::new();
            let mut failed = None;
            for (i, input) in inputs.into_iter().enumerate() {
                let loading = matches!(input, Input::SwapPolicy { .. });
                let res = inner.handle(Time(now_ms), input);
                outputs.extend(inner.drain_outputs());
                if let Err(e) = res {
                    failed = Some((i, e, loading));
                    break;
                }
            }
            Ok((serde_json::to_string(&outputs), failed))
        });
        let (json, failed) = res.map_err(|m| raise(py, "ConfigError", m))?;
        let json = json.map_err(|e| raise(py, "SwitchboardError", e.to_string()))?;
        match failed {
            None => Ok(json),
            Some((i, e, loading)) => {
                let err = operation_err(py, &e, loading);
                let value = err.value(py);
                value.setattr("index", i)?;
                value.setattr("outputs", json)?;
                Err(err)
            }
        }
    }

    /// Fires every timer due by `now_ms`; returns the outputs as a JSON list.
    fn handle_timeout(&mut self, py: Python<'_>, now_ms: u64) -> PyResult<String> {
        self.inner
            .handle_timeout(Time(now_ms))
            .map_err(|e| operation_err(py, &e, false))?;
        self.drain(py)
    }

    /// When the next timer of any engine is due, in ms.
    fn poll_timeout(&self) -> Option<u64> {
        self.inner.poll_timeout().map(Time::as_millis)
    }

    /// The time of the last input, in ms.
    fn now(&self) -> u64 {
        self.inner.now().as_millis()
    }

    /// Every engine's state and the configuration as JSON (serialised without the GIL).
    fn export_state(&self, py: Python<'_>) -> PyResult<String> {
        let inner = &self.inner;
        py.detach(|| serde_json::to_string(&inner.export_state()))
            .map_err(|e| raise(py, "SwitchboardError", e.to_string()))
    }

    /// The configuration in force (with the policy last swapped in) as JSON.
    fn config(&self, py: Python<'_>) -> PyResult<String> {
        to_json(py, self.inner.config())
    }

    /// An open conversation as JSON, if any.
    fn conversation(&self, py: Python<'_>, id: u64) -> PyResult<Option<String>> {
        self.inner
            .conversation(ConversationId(id))
            .map(|c| to_json(py, c))
            .transpose()
    }

    /// The ledger's report at `now_ms` as JSON.
    fn ledger_report(&self, py: Python<'_>, now_ms: u64) -> PyResult<String> {
        to_json(py, &self.inner.ledger().report(Time(now_ms)))
    }

    /// The router's state of a task, if it is live.
    fn task_state(&self, task: u64) -> Option<&'static str> {
        self.inner
            .router()
            .task_state(TaskId(task))
            .map(|s| s.name())
    }

    /// The conversation a router task serves, if any.
    fn link(&self, task: u64) -> Option<u64> {
        self.inner.link(TaskId(task)).map(|c| c.0)
    }

    /// The router's lifetime counters as JSON.
    fn counters(&self, py: Python<'_>) -> PyResult<String> {
        to_json(py, self.inner.router().counters())
    }

    /// The router's queues and agents at `now_ms` as JSON.
    fn snapshot(&self, py: Python<'_>, now_ms: u64) -> PyResult<String> {
        to_json(py, &self.inner.router().snapshot(Time(now_ms)))
    }

    /// The escalation engine's counters as JSON, with a bot front line.
    fn escalation_metrics(&self, py: Python<'_>) -> PyResult<Option<String>> {
        self.inner
            .escalation()
            .map(|b| to_json(py, b.metrics()))
            .transpose()
    }

    /// Agents, live tasks, waiting tasks, outstanding offers.
    fn sizes(&self) -> (usize, usize, usize, usize) {
        let r = self.inner.router();
        (
            r.agent_count(),
            r.live_tasks(),
            r.waiting_tasks(),
            r.outstanding_offers(),
        )
    }
}

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeRouter>()?;
    m.add_class::<NativeEscalation>()?;
    m.add_class::<NativeGuardrail>()?;
    m.add_class::<NativeLedger>()?;
    m.add_class::<NativeOperation>()?;
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    m.add_function(wrap_pyfunction!(queue_metrics, m)?)?;
    m.add_function(wrap_pyfunction!(agents_for, m)?)?;
    m.add_function(wrap_pyfunction!(plan, m)?)?;
    m.add_function(wrap_pyfunction!(erlang_b, m)?)?;
    m.add_function(wrap_pyfunction!(erlang_c_wait, m)?)?;
    m.add_function(wrap_pyfunction!(validate_router_config, m)?)?;
    m.add_class::<NativePolicy>()?;
    m.add_class::<NativeWorkflows>()?;
    m.add_function(wrap_pyfunction!(check_policy, m)?)?;
    m.add_function(wrap_pyfunction!(simulate_file, m)?)?;
    m.add_function(wrap_pyfunction!(verify_plan, m)?)?;
    m.add_function(wrap_pyfunction!(replay, m)?)?;
    m.add("STATE_VERSION", crate::STATE_VERSION)?;
    m.add("REPLAY_DEMO", REPLAY_DEMO)?;
    Ok(())
}

/// Rust side of the parity tests: replays the scenarios in `python/tests/fixtures/` through the
/// Rust API and compares with the checked-in `*_expected.json`, which the pytest suite compares
/// with the Python side. `SWITCHBOARD_BLESS=1 cargo test --features python parity` rewrites them.
#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::path::PathBuf;

    fn fixture(name: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("python/tests/fixtures")
            .join(name)
    }

    fn read(name: &str) -> Value {
        let text = std::fs::read_to_string(fixture(name)).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn check(name: &str, got: &Value) {
        let path = fixture(name);
        if std::env::var_os("SWITCHBOARD_BLESS").is_some() {
            let text = serde_json::to_string_pretty(got).unwrap();
            std::fs::write(&path, text + "\n").unwrap();
            return;
        }
        let want: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(
            &want, got,
            "{name} differs: rerun with SWITCHBOARD_BLESS=1 if intended"
        );
    }

    #[test]
    fn parity_router_scenario() {
        let sc = read("router_scenario.json");
        let config: RouterConfig = serde_json::from_value(sc["config"].clone()).unwrap();
        let mut r = Router::new(config).unwrap();
        for name in sc["names"]["tenant"].as_array().unwrap() {
            r.catalog_mut().tenant(name.as_str().unwrap());
        }
        for name in sc["names"]["skill"].as_array().unwrap() {
            r.catalog_mut().skill(name.as_str().unwrap());
        }
        for name in sc["names"]["tag"].as_array().unwrap() {
            r.catalog_mut().tag(name.as_str().unwrap());
        }
        let mut out = Vec::new();
        for step in sc["steps"].as_array().unwrap() {
            let now = Time(step["at_ms"].as_u64().unwrap());
            let event: Event = serde_json::from_value(step["event"].clone()).unwrap();
            let res = match r.handle(now, event) {
                Ok(()) => json!({"effects": r.drain_effects().collect::<Vec<_>>()}),
                Err(e) => json!({"error": e.to_string()}),
            };
            out.push(res);
        }
        out.push(json!({"counters": r.counters(), "snapshot": r.snapshot(r.now())}));
        check("router_expected.json", &Value::Array(out));
    }

    #[test]
    fn parity_escalation_scenario() {
        let sc = read("escalation_scenario.json");
        let mut r = Router::new(RouterConfig::default()).unwrap();
        let mut tenants = std::collections::HashMap::new();
        for name in sc["names"]["tenant"].as_array().unwrap() {
            let n = name.as_str().unwrap();
            tenants.insert(n.to_owned(), r.catalog_mut().tenant(n));
        }
        let policy = EscalationPolicy::compile(PolicyConfig::default(), r.catalog_mut()).unwrap();
        let mut e = EscalationEngine::with_defaults(policy).unwrap();
        let mut out = Vec::new();
        for step in sc["steps"].as_array().unwrap() {
            let now = Time(step["at_ms"].as_u64().unwrap());
            let op = &step["op"];
            let id = ConversationId(op["conversation"].as_u64().unwrap_or(0));
            let res = match op["type"].as_str().unwrap() {
                "open" => e
                    .open(now, id, tenants[op["tenant"].as_str().unwrap()])
                    .map(|()| Value::Null),
                "turn" => {
                    let signal: Signal = serde_json::from_value(op.clone()).unwrap();
                    e.observe(now, id, signal).map(|d| json!(d))
                }
                "timeout" => Ok(json!(e.handle_timeout(now))),
                "close" => e.close(id).map(|c| json!(c)),
                other => panic!("unknown op {other}"),
            };
            out.push(match res {
                Ok(v) => json!({"ok": v}),
                Err(err) => json!({"error": err.to_string()}),
            });
        }
        out.push(json!({"metrics": e.metrics()}));
        check("escalation_expected.json", &Value::Array(out));
    }

    /// The host loop of `python/tests/test_parity.py::test_workflow_scenario_matches_rust`: a
    /// router and workflow engine from a policy file (pool registered), tasks arriving through
    /// workflows with attributes, offers accepted, timers fired up to a time; every step's router
    /// effects and workflow effects (or its error).
    #[test]
    fn parity_workflow_scenario() {
        use crate::workflow::WorkflowEffect;
        use crate::{Channel, CustomerProfile, Effect, Preferences};
        let sc = read("workflow_scenario.json");
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let policy = PolicySet::from_path(root.join(sc["policy"].as_str().unwrap()))
            .unwrap()
            .validate()
            .unwrap();
        let mut r = policy.router().unwrap();
        let first = sc["first_agent_id"].as_u64().unwrap();
        for a in policy.pool_agents(first, AgentState::Available) {
            r.add_agent(Time::ZERO, a).unwrap();
        }
        r.drain_effects().for_each(drop);
        let mut flows = WorkflowEngine::new(policy.workflows().clone(), r.catalog()).unwrap();
        // The latest offer seen per task, as the host would keep it.
        let mut offers: BTreeMap<u64, (OfferId, AgentId)> = BTreeMap::new();
        let record = |r: &mut Router,
                      flows: &mut WorkflowEngine,
                      offers: &mut BTreeMap<u64, (OfferId, AgentId)>| {
            let effects: Vec<Effect> = r.drain_effects().collect();
            for e in &effects {
                if let Effect::Offer {
                    offer, task, agent, ..
                } = e
                {
                    offers.insert(task.0, (*offer, *agent));
                }
            }
            let flow: Vec<WorkflowEffect> = std::iter::from_fn(|| flows.poll_effect()).collect();
            json!({"effects": effects, "flow": flow})
        };
        let mut out = Vec::new();
        for step in sc["steps"].as_array().unwrap() {
            let now = Time(step["at_ms"].as_u64().unwrap());
            let task = &step["task"];
            let res: Result<Value, WorkflowError> = match step["op"].as_str().unwrap() {
                "arrive" => {
                    let tenant = r.catalog_mut().tenant(task["tenant"].as_str().unwrap());
                    let mut spec =
                        TaskSpec::new(TaskId(task["id"].as_u64().unwrap()), tenant, Channel::Chat)
                            .customer(CustomerProfile {
                                value_tier: u8::try_from(task["value_tier"].as_u64().unwrap_or(0))
                                    .unwrap(),
                                sentiment: 0.0,
                            });
                    if let Some(a) = task["preferred_agent"].as_u64() {
                        spec = spec.prefers(Preferences::default().agent(AgentId(a)));
                    }
                    let attrs: BTreeMap<String, AttrValue> =
                        serde_json::from_value(step["attrs"].clone()).unwrap();
                    let ty = step["type"].as_str().unwrap();
                    drive_arrive(&mut flows, &mut r, now, spec, ty, attrs)
                        .map(|()| record(&mut r, &mut flows, &mut offers))
                }
                "accept" => {
                    let (offer, agent) = offers[&task.as_u64().unwrap()];
                    r.accept(now, offer, agent)
                        .map_err(WorkflowError::from)
                        .map(|()| record(&mut r, &mut flows, &mut offers))
                }
                "complete" => {
                    let id = TaskId(task.as_u64().unwrap());
                    r.complete(now, id).map_err(WorkflowError::from).map(|()| {
                        flows.forget(id);
                        record(&mut r, &mut flows, &mut offers)
                    })
                }
                "run_until" => {
                    let mut ticks = Vec::new();
                    // Timers due before the last call fire at once (a host loop's catch-up).
                    while let Some(t) = flows.poll_timeout(&r).filter(|&t| t <= now) {
                        let t = t.max(r.now());
                        drive_timeout(&mut flows, &mut r, t).unwrap();
                        let mut tick = record(&mut r, &mut flows, &mut offers);
                        tick["at_ms"] = json!(t);
                        ticks.push(tick);
                    }
                    Ok(json!({"ticks": ticks}))
                }
                other => panic!("unknown op {other}"),
            };
            out.push(match res {
                Ok(v) => v,
                Err(e) => json!({"error": e.to_string()}),
            });
        }
        out.push(json!({
            "tracked": flows.tracked(),
            "state": flows.export_state(),
            "counters": r.counters(),
        }));
        check("workflow_expected.json", &Value::Array(out));
    }

    #[test]
    fn check_report_has_the_cli_shape() {
        let text = std::fs::read_to_string(fixture("policy_invalid.toml")).unwrap();
        let report =
            serde_json::to_value(PolicySet::from_toml_str(&text).unwrap().check()).unwrap();
        let first_workflow_error = report["errors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| {
                e["path"]
                    .as_str()
                    .unwrap()
                    .starts_with("tenants[0].workflows")
            })
            .unwrap();
        assert_eq!(
            first_workflow_error["message"],
            r#"unknown skill "aparel" (did you mean "apparel"?)"#
        );
        assert_eq!(report["summary"]["valid"], false);
        assert_eq!(report["summary"]["text"], "8 errors, 1 warning");
        assert_eq!(report["warnings"][0]["kind"], "unreachable_step");
        let ok = std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/configs/multibrand.toml"),
        )
        .unwrap();
        let report = serde_json::to_value(PolicySet::from_toml_str(&ok).unwrap().check()).unwrap();
        assert_eq!(report["errors"], json!([]));
        assert!(
            report["summary"]["text"]
                .as_str()
                .unwrap()
                .starts_with("ok: policy \"2025-06-01.3\", 6 tenants, 14 skills, 7 tags")
        );
    }

    #[test]
    fn parity_sim_scenario() {
        let text = std::fs::read_to_string(fixture("sim_scenario.json")).unwrap();
        let sc: Scenario = serde_json::from_str(&text).unwrap();
        let report = sim::run(&sc).unwrap().report;
        check("sim_expected.json", &json!(report));
    }
}
