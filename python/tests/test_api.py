"""Every public class and function of the Python package, and bad input raising the right class."""

import dataclasses
import json
import threading
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

import switchboard as sb
from conftest import load


def make_router(**cfg):
    r = sb.Router(cfg or None)
    r.add_agent(sb.Agent(1, skills={"sizing": 8}, capacity={"chat": 3}, certified=["acme"],
                         tags=["zh"], state="available"), now=0.0)
    r.add_agent(sb.Agent(2, skills={"sizing": 4}, capacity={"chat": 3}, state="available"), 0.0)
    return r


def test_quickstart_flow_and_effects():
    r = make_router()
    effects = r.arrive(sb.Task(100, "acme", "chat", skills={"sizing": 6}, certified=True), now=5.0)
    assert [type(e) for e in effects] == [sb.Queued, sb.Offer]
    offer = effects[-1]
    assert (offer.agent, offer.channel, offer.expires_at) == (1, "chat", 25.0)
    assert repr(offer) == "Offer(offer=1, task=100, agent=1, channel='chat', expires_at=25.0)"
    assert offer.to_dict()["expires_at"] == 25_000
    assert sb.effect_from_dict(offer.to_dict()) == offer
    with pytest.raises(dataclasses.FrozenInstanceError):
        offer.agent = 2  # type: ignore[misc]
    assert r.task_state(100) == "offered"
    assert r.explain_offer(offer.offer)["strategy"] == "longest_idle"
    why = r.explain(100, 2)
    assert why["reasons"][0]["reason"] == "level_too_low"
    assert r.accept(offer.offer, 1, now=7.0) == [sb.Assigned(task=100, agent=1, offer=1)]
    with pytest.raises(sb.NotFoundError, match="unknown or already settled offer o1"):
        r.accept(offer.offer, 1, now=7.0)
    assert r.complete(100, now=300.0) == [sb.Completed(task=100, agent=1)]
    assert r.counters["completed"] == 1
    assert (r.agent_count, r.live_tasks, r.waiting_tasks, r.outstanding_offers) == (2, 0, 0, 0)
    assert r.now == 300.0
    assert "Router(agents=2" in repr(r)
    r.check_invariants()


def test_every_router_call():
    r = make_router(wrap_up_ms=5000, offer_timeout_ms=10_000)
    assert r.tenant("acme") == r.tenant("acme")
    assert r.name_of("tenant", r.tenant("acme")) == "acme"
    assert r.name_of("skill", 999) is None
    assert r.config["wrap_up_ms"] == 5000
    r.set_agent_state(2, "away", 1.0)
    assert r.agent_state(2) == "away"
    assert r.agent_state(99) is None
    e = r.arrive(sb.Task(1, "acme", "chat", preferred_skills={"sizing": 1.0}, sla=30,
                         max_wait=600, priority=1, value_tier=2, sentiment=-0.5), 2.0)
    offer = e[-1]
    r.reject(offer.offer, offer.agent, 3.0)
    assert r.task_state(1) == "waiting"
    r.reprioritize(1, 4.0, priority=2, base_priority=1.0)
    r.transfer(1, "chat", 5.0, skills={"sizing": 1})
    r.update_agent(sb.Agent(2, skills={"sizing": 9}, capacity={"chat": 1}, state="available"), 6.0)
    r.arrive(sb.Task(2, "acme", "chat"), 7.0)
    r.arrive(sb.Task(3, "acme", "chat"), 7.0)
    r.cancel(3, 8.0)
    r.abandon(2, 8.5) if r.task_state(2) in ("waiting", "offered") else None
    t = r.poll_timeout()
    assert t is not None and t > 8.5
    r.handle_timeout(t)
    state = r.export_state()
    r2 = sb.Router.from_state(state)
    assert r2.export_state() == state
    assert sb.Router.from_state(json.loads(state)).counters == r.counters
    snap = r.snapshot(r.now)
    assert {"queues", "agents"} <= set(snap)
    r.remove_agent(2, t + 1)
    assert r.agent_count == 1


def test_wrap_up_and_finish():
    r = make_router(wrap_up_ms=5000)
    o = r.arrive(sb.Task(9, "acme"), 1.0)[-1]
    r.accept(o.offer, o.agent, 2.0)
    effects = r.complete(9, 3.0)
    assert any(isinstance(e, sb.WrapUpStarted) and e.until == 8.0 for e in effects)
    r.finish_wrap_up(9, 4.0)


def test_batch_dispatch():
    r = make_router(dispatch="batched")
    r.arrive(sb.Task(1, "acme"), 1.0)
    report, effects = r.dispatch_batch(2.0)
    assert isinstance(report, dict) and any(isinstance(e, sb.Offer) for e in effects)


def test_time_forms():
    assert sb.to_millis(1.5) == 1500
    assert sb.to_millis(2) == 2000
    assert sb.to_millis(timedelta(seconds=3)) == 3000
    dt = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert sb.to_millis(dt) == int(dt.timestamp() * 1000)
    assert sb.to_millis(dt.replace(tzinfo=None)) == sb.to_millis(dt)
    r = make_router()
    e = r.arrive(sb.Task(1, "acme"), dt)
    assert e[-1].expires_at == dt.timestamp() + 20
    for bad in (-1.0, float("nan"), float("inf"), "soon", None, True):
        with pytest.raises(sb.ConfigError):
            sb.to_millis(bad)  # type: ignore[arg-type]


def test_configs_dict_json_toml_path(tmp_path):
    assert sb.Router({"offer_timeout_ms": 5}).config["offer_timeout_ms"] == 5
    assert sb.Router('{"offer_timeout_ms": 6}').config["offer_timeout_ms"] == 6
    assert sb.Router('offer_timeout_ms = 7\ndefault_strategy = "best_score"').config[
        "default_strategy"] == "best_score"
    p = tmp_path / "router.toml"
    p.write_text("offer_timeout_ms = 8\n")
    assert sb.Router(p).config["offer_timeout_ms"] == 8
    assert sb.Router(str(p)).config["offer_timeout_ms"] == 8
    j = tmp_path / "router.json"
    j.write_text('{"offer_timeout_ms": 9}')
    assert sb.load_config(j) == {"offer_timeout_ms": 9}
    assert sb.load_config(None) == {}


@pytest.mark.parametrize("cfg, match", [
    ({"offer_timeout_ms": 0}, "invalid configuration: offer_timeout_ms: must be at least 1"),
    ({"offer_timeout_ms": -1}, "invalid router configuration"),
    ({"default_strategy": "fastest"}, "invalid router configuration"),
    ("{not json", "invalid JSON"),
    ("a = = 1", "invalid TOML"),
    ("/nonexistent/router.toml", "cannot read"),
    ([1, 2], "invalid configuration"),
])
def test_bad_configs(cfg, match):
    with pytest.raises(sb.ConfigError, match=match):
        sb.Router(cfg)


def test_router_errors_hierarchy():
    r = make_router()
    with pytest.raises(sb.ConflictError, match="agent 1 is already registered"):
        r.add_agent(sb.Agent(1, capacity={"chat": 1}))
    with pytest.raises(sb.RouterError, match="zero capacity"):
        r.add_agent(sb.Agent(5))
    with pytest.raises(sb.RouterError, match="skill level 11 out of range"):
        r.add_agent(sb.Agent(6, skills={"x": 11}, capacity={"chat": 1}))
    with pytest.raises(sb.NotFoundError, match="unknown task 77") as ei:
        r.complete(77, 1.0)
    assert isinstance(ei.value, KeyError) and isinstance(ei.value, sb.SwitchboardError)
    r.arrive(sb.Task(1, "acme"), 10.0)
    with pytest.raises(sb.TimeWentBackwardsError, match="time went backwards"):
        r.arrive(sb.Task(2, "acme"), 1.0)
    with pytest.raises(sb.ConflictError, match="task 1 already exists"):
        r.arrive(sb.Task(1, "acme"), 11.0)
    with pytest.raises(sb.ConfigError, match="unknown channel"):
        r.arrive(sb.Task(3, "acme", "pigeon"), 11.0)
    with pytest.raises(sb.ConfigError, match="invalid task id"):
        r.arrive(sb.Task(-3, "acme"), 11.0)
    with pytest.raises(sb.ConfigError, match="invalid agent id"):
        r.remove_agent(2**64, 11.0)
    with pytest.raises(sb.ConfigError):
        r.arrive(sb.Task(4, "acme", sentiment=float("nan")), 11.0)
    with pytest.raises(sb.ConfigError, match="invalid event"):
        r.set_agent_state(1, "sleeping", 11.0)
    with pytest.raises(sb.ConfigError, match="invalid router state"):
        sb.Router.from_state("{}")
    assert issubclass(sb.ConfigError, ValueError)
    for cls in (sb.ConfigError, sb.RouterError, sb.EscalationError, sb.StaffingError,
                sb.SimulationError):
        assert issubclass(cls, sb.SwitchboardError)
    r.check_invariants()


def test_escalation_engine_and_policy(tmp_path):
    r = make_router()
    policy = sb.EscalationPolicy({"hysteresis": {"k_turns": 2}})
    assert "k_turns" in repr(policy)
    e = sb.EscalationEngine(r, policy)
    assert "EscalationEngine" in repr(e)
    e.set_load(projected_wait=30, sla=60)
    e.open(1, "acme", 0.0)
    d = e.turn(1, "where is my parcel?", 1.0)
    assert d["action"]["action"] in ("continue", "hold_back", "clarify") or d["action"]
    d = e.turn(1, "I want to speak to a human agent", 2.0)
    assert d["action"] == {"action": "escalate", "layer": "hard", "route": "human"}
    route = next(x for x in d["effects"] if x["effect"] == "route")
    effects = r.arrive(route["task"], 2.0)  # the hand-over task goes to the router unchanged
    assert effects and r.task_state(route["task"]["id"]) is not None
    d2 = e.observe(1, {"type": "queued", "task": route["task"]["id"]}, 2.5)
    assert "action" in d2
    assert e.conversation(1)["id"] == 1
    assert e.conversation(42) is None
    t = e.poll_timeout()
    assert t is None or t > 2.5
    assert isinstance(e.handle_timeout(1e6), list)
    closed = e.close(1)
    assert closed["id"] == 1
    assert e.metrics["closed"] == 1
    with pytest.raises(sb.NotFoundError, match="unknown conversation conv#1"):
        e.close(1)
    e.open(2, "acme", 1e6)
    with pytest.raises(sb.ConflictError, match="already open"):
        e.open(2, "acme", 1e6)
    with pytest.raises(sb.TimeWentBackwardsError):
        e.turn(2, "hi", 1.0)
    with pytest.raises(sb.ConfigError, match="invalid escalation policy"):
        sb.EscalationEngine(r, {"hysteresis": {"k_turns": 0}})
    with pytest.raises(sb.ConfigError, match="invalid escalation policy|unknown field"):
        sb.EscalationEngine(r, {"no_such_field": 1})
    p = tmp_path / "policy.toml"
    p.write_text("[hysteresis]\nk_turns = 3\n")
    sb.EscalationEngine(r, str(p))


def test_guardrail():
    r = make_router()
    g = sb.Guardrail(r, {})
    assert "Guardrail(" in repr(g)
    assert isinstance(g.version, str)
    scan = g.scan("acme", "my card is 4111 1111 1111 1111")
    assert isinstance(scan, dict)
    e = sb.EscalationEngine(r, None, guardrail={})
    e.open(1, "acme")
    assert "action" in e.turn(1, "hello", 1.0)
    with pytest.raises(sb.ConfigError):
        sb.Guardrail(r, {"bogus": True})
    with pytest.raises(sb.ConfigError, match="invalid speaker"):
        g.scan("acme", "hi", speaker="robot")


def test_ledger():
    r = make_router()
    led = sb.Ledger(r, {"interval_minutes": 15})
    task = sb.Task(1, "acme", sla=20)
    led.arrival(task, 1.0)
    effects = r.arrive(task, 1.0)
    led.observe(effects, 1.0)
    o = effects[-1]
    led.observe(r.accept(o.offer, o.agent, 4.0), 4.0)
    led.observe(r.complete(1, 100.0), 100.0)
    led.agent_state(1, "available", 0.0)
    led.outcome(1, csat=4.5, converted=True)
    rep = led.report(3600.0)
    assert rep["intervals"][0]["answered"] == 1 or rep["intervals"]
    assert led.records()[0]["task"] == 1
    assert led.evaluate("acme", {"type": "answer_rate", "min_rate": 0.8, "within_ms": 20000}) == []
    assert "Ledger(records=1)" == repr(led)
    with pytest.raises(sb.ConfigError, match="interval_minutes"):
        sb.Ledger(r, {"interval_minutes": 7})
    with pytest.raises(sb.ConfigError, match="invalid guarantee"):
        led.evaluate("acme", {"type": "nope"})


def test_simulate_arrays_and_errors():
    rep = sb.simulate(load("sim_scenario.json"))
    arr = rep["series_arrays"]
    assert isinstance(arr["offered"], np.ndarray) and len(arr["offered"]) == len(rep["series"])
    assert rep["total"]["offered"] > 0
    with pytest.raises(sb.ConfigError, match="invalid scenario"):
        sb.simulate({"duration_hours": 1.0, "pool": [], "traffic": []} | {"duration_hours": -1})
    with pytest.raises(sb.ConfigError):
        sb.simulate({"pool": []})


def test_simulate_releases_the_gil():
    sc = load("sim_scenario.json") | {"duration_hours": 24.0 * 30}
    for g in sc["pool"]:
        g["count"] *= 10
    for s in sc["traffic"]:
        s["per_hour"] *= 10
    ticks = []
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            ticks.append(1)
            stop.wait(0.001)

    t = threading.Thread(target=spin)
    t.start()
    sb.simulate(sc, arrays=False)
    stop.set()
    t.join()
    assert len(ticks) > 20  # the other thread ran while Rust simulated


def test_staffing():
    c = sb.erlang_c(arrival_rate=0.1, aht=300, agents=35, answer_within=20)
    assert c["model"] == "erlang_c" and c["agents"] == 35 and 0 < c["p_wait"] < 1
    assert c["p_abandon"] == 0.0
    a = sb.erlang_a(0.1, 300, patience=120, agents=32)
    assert a["p_abandon"] > 0
    curve = sb.erlang_c(0.1, 300, np.arange(31, 40))
    assert isinstance(curve["p_wait"], np.ndarray) and np.all(np.diff(curve["p_wait"]) < 0)
    need = sb.agents_for(0.1, 300, answer_within=20, service_level=0.8)
    assert need["agents"] == 36 and need["service_level"] >= 0.8
    need_a = sb.agents_for(0.1, 300, 20, 0.8, patience=120, max_abandon=0.05)
    assert need_a["model"] == "erlang_a" and need_a["p_abandon"] <= 0.05
    p = sb.plan([{"interval": 0, "group": "chat", "contacts": 180, "aht_secs": 300},
                 {"interval": 1, "group": "chat", "contacts": 360, "aht_secs": 300}],
                interval=1800, shrinkage=0.3)
    assert [c["agents"] for c in p["cells"]][1] > p["cells"][0]["agents"]
    assert 0.0 < sb.erlang_b(10, 8.0) < 1.0
    with pytest.raises(sb.StaffingError, match="unstable"):
        sb.erlang_c(1.0, 100, 50)
    with pytest.raises(sb.StaffingError):
        sb.erlang_a(0.1, 300, patience=-5, agents=30)
    with pytest.raises(sb.StaffingError, match="shrinkage"):
        sb.plan([], shrinkage=2.0)
    with pytest.raises(sb.ConfigError):
        sb.agents_for(float("nan"), 300, 20, 0.8)
    with pytest.raises(sb.StaffingError, match="invalid max_asa_secs"):
        sb.agents_for(0.1, 300, 20, 0.8, max_asa=0.0)


def test_public_api_documented_and_exported():
    for name in sb.__all__:
        obj = getattr(sb, name)
        if callable(obj) and not isinstance(obj, type(sb.errors)):
            assert obj.__doc__, name
    assert sb.STATE_VERSION >= 1
    assert set(sb.EFFECT_TYPES) >= {"offer", "assigned", "queued"}
