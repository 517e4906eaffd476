//! Python bindings (the `python` feature), built with maturin as `switchboard._native`.
//!
//! Everything pyo3 lives in this module. The native layer is deliberately thin: every structured
//! value crosses the boundary as the JSON its Rust type already (de)serialises with serde, and the
//! pure-Python package in `python/switchboard/` turns that into a Pythonic API (names instead of
//! interned ids, dataclasses for effects, float seconds or `datetime` for time). Errors are raised
//! as the classes of `switchboard.errors`, with the Rust message unchanged. Long calls (simulation,
//! planning) release the GIL.

use crate::escalation::{ConversationId, Load, Signal, Speaker};
use crate::ledger::{Arrival, Guarantee, Ledger, LedgerConfig, Outcome};
use crate::sim::{self, Scenario, SimError};
use crate::staffing::{self, ForecastRow, Model, PlanSettings, QueueMetrics, Target, Traffic};
use crate::{
    AgentId, AgentState, DefaultPolicy, EscalationEngine, EscalationError, EscalationPolicy, Event,
    Guardrail, GuardrailConfig, GuardrailError, OfferId, PolicyConfig, Router, RouterConfig,
    RouterError, RouterState, TaskId, TenantId, Time,
};
use pyo3::prelude::*;
use pyo3::types::PyModule;
use serde::Serialize;
use serde::de::DeserializeOwned;

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
    inner: Router<DefaultPolicy>,
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
        let inner = Router::from_state(state, DefaultPolicy).map_err(|e| router_err(py, &e))?;
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
            .map_err(|e| raise(py, "SwitchboardError", e))
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

/// Runs a simulation scenario (JSON) to the end, without the GIL; returns the report as JSON.
#[pyfunction]
fn simulate(py: Python<'_>, scenario_json: &str) -> PyResult<String> {
    let scenario: Scenario = parse(py, "scenario", scenario_json)?;
    let out = py.detach(|| sim::run(&scenario).map(|r| serde_json::to_string(&r.report)));
    match out {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(raise(py, "SwitchboardError", e.to_string())),
        Err(e @ SimError::Scenario(_)) => Err(raise(py, "ConfigError", e.to_string())),
        Err(e) => Err(raise(py, "SimulationError", e.to_string())),
    }
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

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<NativeRouter>()?;
    m.add_class::<NativeEscalation>()?;
    m.add_class::<NativeGuardrail>()?;
    m.add_class::<NativeLedger>()?;
    m.add_function(wrap_pyfunction!(simulate, m)?)?;
    m.add_function(wrap_pyfunction!(queue_metrics, m)?)?;
    m.add_function(wrap_pyfunction!(agents_for, m)?)?;
    m.add_function(wrap_pyfunction!(plan, m)?)?;
    m.add_function(wrap_pyfunction!(erlang_b, m)?)?;
    m.add_function(wrap_pyfunction!(erlang_c_wait, m)?)?;
    m.add_function(wrap_pyfunction!(validate_router_config, m)?)?;
    m.add("STATE_VERSION", crate::STATE_VERSION)?;
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

    #[test]
    fn parity_sim_scenario() {
        let text = std::fs::read_to_string(fixture("sim_scenario.json")).unwrap();
        let sc: Scenario = serde_json::from_str(&text).unwrap();
        let report = sim::run(&sc).unwrap().report;
        check("sim_expected.json", &json!(report));
    }
}
