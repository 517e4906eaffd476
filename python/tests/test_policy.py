"""Policies, workflows, scenario files, escalation replay and plan verification from Python."""

import json
import re
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

import switchboard as sb
from conftest import FIXTURES, ROOT

MULTIBRAND = ROOT / "examples" / "configs" / "multibrand.toml"
WORKFLOW_DAY = ROOT / "examples" / "scenarios" / "workflow_day.json"

# Two widening steps: nobody is at level 8, so a task waits in step 0 until it is 30 s old.
SMALL = """
version = "1"
skills = [{ name = "sizing" }]
tags = ["lang:zh"]
[[tenants]]
name = "acme"
[[pool.groups]]
count = 2
skills = { sizing = 5 }
tags = ["lang:zh"]
capacity = { chat = 1 }
[[workflows.presale.steps]]
name = "experts"
target = 'skill("sizing") >= 8'
timeout_ms = 30000
[[workflows.presale.steps]]
name = "anyone"
target = 'skill("sizing") >= 3 and lang == task.lang'
"""


# ----------------------------------------------------------------------------- check_policy


def test_check_policy_valid():
    out = sb.check_policy(MULTIBRAND)
    assert out["errors"] == [] and out["warnings"] == []
    s = out["summary"]
    assert s["valid"] and (s["tenants"], s["skills"], s["tags"]) == (6, 14, 7)
    assert (s["default_workflows"], s["tenant_workflows"]) == (3, 7)
    assert s["text"].startswith('ok: policy "2025-06-01.3", 6 tenants, 14 skills, 7 tags')
    # The same from a string, a str path, and a dict (as JSON).
    text = MULTIBRAND.read_text()
    assert sb.check_policy(text) == out == sb.check_policy(str(MULTIBRAND))
    assert sb.check_policy(json.loads(json.dumps(_toml(text))))["summary"] == s
    assert sb.check_policy(SMALL, format="toml")["summary"]["valid"]


def _toml(text):
    import tomllib

    return tomllib.loads(text)


def test_check_policy_invalid_reports_every_error_with_its_path():
    out = sb.check_policy(FIXTURES / "policy_invalid.toml")
    paths = [e["path"] for e in out["errors"]]
    assert paths == [
        "router.default_fanout",
        "skills[1].name",
        "skills[1].discount",
        "tenants[0].share",
        "tenants[0].workflows.presale.steps[0].target",
        "tenants[0].workflows.presale.steps[1].target",
        "tenants[0].workflows.presale.steps[1].timeout_ms",
        "tenants[0].workflows.presale.exceptions[0].action.overflow.tenant",
    ]
    assert out["errors"][4]["message"] == 'unknown skill "aparel" (did you mean "apparel"?)'
    assert [w["kind"] for w in out["warnings"]] == ["unreachable_step"]
    assert out["warnings"][0]["path"] == "tenants[0].workflows.presale.steps[1]"
    assert out["summary"] | {"text": ""} == {
        "valid": False, "version": "2024-06", "tenants": 1, "skills": 2, "tags": 1,
        "default_workflows": 0, "tenant_workflows": 1, "errors": 8, "warnings": 1, "text": ""}
    assert out["summary"]["text"] == "8 errors, 1 warning"
    # Warnings without errors: a step nobody in the pool can take.
    lonely = SMALL.replace('skill("sizing") >= 3', 'skill("sizing") >= 9')
    out = sb.check_policy(lonely)
    assert out["errors"] == [] and out["summary"]["valid"]
    assert {w["kind"] for w in out["warnings"]} >= {"no_matching_agent"}


@pytest.mark.parametrize("doc, fmt, match", [
    ("version = = 1", None, "invalid policy: TOML"),
    ('{"version": "1", "tenant": []}', None, "unknown field `tenant`"),
    ('version = "1"\n[router]\noffer_timeout = 5\n', None, "router.offer_timeout: unknown field"),
    ('version = "1"', "yaml", "unknown policy format"),
    ('version = "1"', "json", "invalid policy: JSON"),
    ("/nonexistent/policy.toml", None, "cannot read"),
    (42, None, "invalid policy"),
])
def test_check_policy_unreadable_documents_raise(doc, fmt, match):
    with pytest.raises(sb.ConfigError, match=match):
        sb.check_policy(doc, fmt)


# ----------------------------------------------------------------------------- PolicySet, Router


def test_router_from_policy_with_its_pool():
    policy = sb.PolicySet(MULTIBRAND)
    assert repr(policy) == "PolicySet(version='2025-06-01.3', tenants=6)"
    names = [t["name"] for t in policy.tenants]
    assert names[:3] == ["northwind-outdoor", "summit-gear", "maison-lumiere"]
    maison = policy.tenants[2]
    assert maison["certified_only"] and maison["share"] == {"tenant": 2, "reserved": 50, "cap": 150}
    # Certified-only tenants get certification added to their targets.
    vip = policy.workflows["tenants"]["maison-lumiere"]["vip"]["steps"][1]["target"]
    assert "task.tenant in agent.certified" in vip

    r = sb.Router.from_policy(MULTIBRAND)
    assert r.agent_count == 337 and r.agent_state(1) == "available"
    assert r.agent_state(337) == "available" and r.agent_state(338) is None
    for t in policy.tenants:  # names interned with the policy's ids
        assert r.tenant(t["name"]) == t["id"]
    assert r.name_of("skill", 0) == "apparel"
    assert r.config["offer_timeout_ms"] == 15000
    assert {s["tenant"]: (s["reserved"], s["cap"]) for s in r.config["shares"]}[2] == (50, 150)
    # A task for a certified brand goes to a certified agent of the pool.
    effects = r.arrive(sb.Task(1, "maison-lumiere", certified=True), now=1.0)
    assert isinstance(effects[-1], sb.Offer) and 191 <= effects[-1].agent <= 216
    r.check_invariants()

    bare = sb.Router.from_policy(policy, add_pool=False)
    assert bare.agent_count == 0 and bare.config["offer_timeout_ms"] == 15000
    shifted = policy.router(first_agent_id=1000, now=5.0)
    assert shifted.agent_state(1000) == "available" and shifted.agent_state(1) is None
    assert shifted.now == 5.0
    with pytest.raises(sb.ConfigError, match="overflow"):
        policy.router(first_agent_id=2**64 - 10)


def test_invalid_policy_raises_with_every_path():
    with pytest.raises(sb.ConfigError) as ei:
        sb.PolicySet(FIXTURES / "policy_invalid.toml")
    msg = str(ei.value)
    assert msg.startswith("invalid policy:\n")
    assert "tenants[0].workflows.presale.steps[0].target: unknown skill" in msg
    assert len(msg.splitlines()) == 9
    with pytest.raises(sb.ConfigError, match="tenants\\[0\\].workflows"):
        sb.Router.from_policy((FIXTURES / "policy_invalid.toml").read_text())


# ----------------------------------------------------------------------------- workflows


def test_workflow_host_loop_widens_after_the_timeout():
    r = sb.Router.from_policy(SMALL)
    flows = sb.Workflows.from_policy(r, SMALL)
    assert repr(flows) == "Workflows(tracked=0, task_types=['presale'])"
    effects = flows.arrive(sb.Task(7, "acme"), "presale", 0.0, attrs={"lang": "zh"})
    assert effects == [sb.Queued(task=7, queue=0, reason="arrived")]  # nobody at level 8
    assert flows.poll_effects() == [
        {"type": "step_entered", "task": 7, "workflow": "presale", "step": 0, "skipped": []}]
    assert flows.task(7)["step"] == 0 and flows.task(7)["attrs"] == {"lang": "zh"}
    assert flows.tracked == 1 and flows.task(8) is None

    # The host loop: sleep until poll_timeout, then handle_timeout.
    due = flows.poll_timeout()
    assert due == 30.0
    assert flows.handle_timeout(29.0) == [] and flows.task(7)["step"] == 0
    effects = flows.handle_timeout(due)
    assert [type(e) for e in effects] == [sb.Queued, sb.Offer]
    assert flows.poll_effects() == [
        {"type": "step_entered", "task": 7, "workflow": "presale", "step": 1, "skipped": []}]
    assert flows.task(7)["step"] == 1 and r.task_state(7) == "offered"
    offer = effects[-1]
    r.accept(offer.offer, offer.agent, 31.0)
    r.complete(7, 90.0)
    flows.forget(7)
    assert flows.tracked == 0 and flows.poll_effects() == []
    r.check_invariants()


def test_workflows_state_reload_and_errors():
    r = sb.Router.from_policy(SMALL)
    policy = sb.PolicySet(SMALL)
    flows = sb.Workflows(r, policy)
    flows.arrive(sb.Task(1, "acme"), "presale", 0.0, attrs={"lang": "zh"})
    # Save both, restore both: the deadline comes back.
    saved_router, saved_flows = r.export_state(), flows.export_state()
    r2 = sb.Router.from_state(saved_router)
    back = sb.Workflows.from_state(r2, policy, json.loads(saved_flows))
    assert back.poll_timeout() == 30.0 and back.task(1)["step"] == 0
    with pytest.raises(sb.ConfigError, match="no workflow"):
        sb.Workflows.from_state(r2, {"default": {}}, saved_flows)
    # A WorkflowSet given directly (dict / JSON / TOML), and a reload.
    assert sb.Workflows(r2, policy.workflows).workflows == policy.workflows
    report = back.reload({"default": {"presale": {"steps": [{"target": "true"}]}}}, 1.0)
    assert report == {"moved": 1, "orphaned": 0, "deferred": 0, "dropped": 0}
    assert back.poll_effects()[-1]["step"] == 0 and r2.task_state(1) == "offered"

    with pytest.raises(sb.WorkflowError, match='no workflow for tenant "acme" and task type "x"'):
        flows.arrive(sb.Task(2, "acme"), "x", 1.0)
    with pytest.raises(sb.ConflictError, match="task 1 already exists"):
        flows.arrive(sb.Task(1, "acme"), "presale", 1.0)
    flows.handle_timeout(40.0)
    with pytest.raises(sb.TimeWentBackwardsError):
        flows.arrive(sb.Task(3, "acme"), "presale", 1.0)
    with pytest.raises(sb.ConfigError, match="invalid task attributes"):
        flows.arrive(sb.Task(4, "acme"), "presale", 50.0, attrs={"lang": {"nested": 1}})
    unknown = 'workflows.x.steps\\[0\\].target: unknown skill "nope"'
    with pytest.raises(sb.ConfigError, match=unknown):
        sb.Workflows(r, {"default": {"x": {"steps": [{"target": 'skill("nope") > 1'}]}}})
    with pytest.raises(sb.ConfigError, match="unknown field"):
        flows.reload({"defaults": {}}, 50.0)
    # A target bound to the task's attributes that does not compile refuses that task only.
    bound = sb.Workflows(r, {"default": {"t": {"steps": [{"target": "has_tag(task.want)"}]}}})
    with pytest.raises(sb.WorkflowError, match="unknown tag"):
        bound.arrive(sb.Task(5, "acme"), "t", 50.0, attrs={"want": "lang:fr"})
    assert bound.arrive(sb.Task(6, "acme"), "t", 50.0, attrs={"want": "lang:zh"})
    assert issubclass(sb.WorkflowError, sb.SwitchboardError)


def test_policy_hot_swap_keeps_waiting_tasks():
    r = sb.Router.from_policy(SMALL, add_pool=False)
    flows = sb.Workflows.from_policy(r, SMALL)
    flows.arrive(sb.Task(1, "acme"), "presale", 0.0, attrs={"lang": "zh"})
    v2 = SMALL.replace('version = "1"', 'version = "2"').replace(
        'name = "acme"', 'name = "acme"\nshare = { reserved = 5 }') + """
[[tenants]]
name = "bolt"
"""
    report = sb.PolicySet(v2).apply_to(r, flows, 10.0)
    assert report["moved"] == 1
    assert r.config["shares"] == [{"tenant": r.tenant("acme"), "reserved": 5, "cap": None}]
    assert r.name_of("tenant", 1) == "bolt"
    assert flows.task(1)["step"] == 0 and flows.poll_timeout() == 30.0


# ----------------------------------------------------------------------------- simulate_file


def test_simulate_file_runs_workflows_and_bots():
    rep = sb.simulate_file(WORKFLOW_DAY)
    total = rep["total"]
    assert rep["name"].startswith("flash-sale evening")
    assert total["offered"] > 1000 and total["conversations"] > total["offered"]
    assert total["contained"] > 0 and "escalation" in rep
    assert isinstance(rep["series_arrays"]["offered"], np.ndarray)
    assert {t["tenant"] for t in rep["tenants"]} >= {"northwind-outdoor", "maison-lumiere"}
    # Deterministic; the seed can be overridden.
    again = sb.simulate_file(str(WORKFLOW_DAY), arrays=False)
    assert again["total"] == total
    other = sb.simulate_file(WORKFLOW_DAY, seed=12, arrays=False)
    assert other["seed"] == 12 and other["total"] != total


def test_simulate_file_reads_the_policy_relative_to_the_scenario(tmp_path):
    sc = json.loads(WORKFLOW_DAY.read_text())
    sc["duration_hours"] = 0.5
    sc["policy"] = "policies/brands.toml"
    (tmp_path / "policies").mkdir()
    shutil.copy(MULTIBRAND, tmp_path / "policies" / "brands.toml")
    (tmp_path / "day.json").write_text(json.dumps(sc))
    rep = sb.simulate_file(tmp_path / "day.json", arrays=False)
    assert rep["total"]["offered"] > 0
    # A path policy cannot be resolved by simulate(), which has no file to start from.
    (tmp_path / "policies" / "brands.toml").unlink()
    with pytest.raises(sb.ConfigError, match="brands.toml"):
        sb.simulate_file(tmp_path / "day.json")
    with pytest.raises(sb.ConfigError, match="invalid scenario"):
        sb.simulate_file(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text('{"duration_hours": -1, "pool": [], "traffic": []}')
    with pytest.raises(sb.ConfigError, match="duration_hours"):
        sb.simulate_file(tmp_path / "bad.json")
    with pytest.raises(sb.ConfigError, match="invalid scenario path"):
        sb.simulate_file(3)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- replay

# The transcripts of tests/sim_cli.rs `replay_prints_decisions_and_summary`: conversation 1 asks
# for a human at its second customer turn (labelled 2), conversation 2 is routine, line 4 is not
# JSON.
HISTORY = "\n".join([
    json.dumps({"id": 1, "tenant": "acme", "needs_human_at": 2, "events": [
        {"at_ms": 0, "signal": {"type": "turn", "speaker": "customer",
                                "text": "where is my refund"}},
        {"at_ms": 3000, "signal": {"type": "turn", "speaker": "customer", "text": "转人工"}}]},
        ensure_ascii=False),
    json.dumps({"id": 2, "events": [
        {"at_ms": 0, "signal": {"type": "turn", "speaker": "customer", "text": "thanks"}}]}),
    "",
    "not json",
]) + "\n"


def test_replay_transcripts(tmp_path):
    out = sb.replay(HISTORY)
    assert out["decisions"] == [{
        "conversation": 1, "at_ms": 3000, "turn": 2, "action": "escalate_hard_human",
        "owner": "pending_human", "fired": ["explicit_request"],
        "score": out["decisions"][0]["score"], "threshold": 0.5}]
    s = out["summary"]
    assert (s["conversations"], s["true_positive"], s["on_time"]) == (2, 1, 1)
    assert s["true_negative"] == 1
    assert (s["precision"], s["recall"], s["errors"]) == (1.0, 1.0, 1)
    assert s["metrics"]["contained"] == 1
    assert len(out["errors"]) == 1 and out["errors"][0].startswith("line 4:")
    # The same from a file, and from dicts.
    path = tmp_path / "history.jsonl"
    path.write_text(HISTORY, encoding="utf-8")
    assert sb.replay(path) == out == sb.replay(str(path))
    dicts = [json.loads(line) for line in HISTORY.splitlines()[:2]]
    assert sb.replay(dicts)["summary"] == s | {"errors": 0}


def test_replay_demo_and_load_gating():
    out = sb.replay(sb.REPLAY_DEMO)
    s = out["summary"]
    assert (s["conversations"], s["precision"], s["recall"]) == (6, 1.0, 1.0)
    assert {"conversation": 3, "at_ms": 9000, "turn": 2, "action": "escalate_soft_human"}.items() \
        <= next(d for d in out["decisions"] if d["conversation"] == 3).items()
    assert all(d["action"] != "continue" for d in out["decisions"])
    # At 15x the SLA the soft escalations are held back; the hard ones stay.
    peak = sb.replay(sb.REPLAY_DEMO, projected_wait=900, sla=60, show="all")
    at = {(d["conversation"], d["at_ms"]): d["action"] for d in peak["decisions"]}
    assert at[(3, 9000)] == "hold_back" and at[(1, 9000)] == "escalate_hard_human"
    assert at[(2, 0)] == "continue" and peak["summary"]["recall"] == 0.5
    assert sb.replay(sb.REPLAY_DEMO, show="summary")["decisions"] == []
    # A policy (dict or EscalationPolicy) and a guardrail.
    strict = sb.replay(sb.REPLAY_DEMO, sb.EscalationPolicy({"hysteresis": {"k_turns": 3}}),
                       guardrail={})
    assert strict["summary"]["conversations"] == 6
    with pytest.raises(sb.ConfigError, match="invalid escalation policy"):
        sb.replay(sb.REPLAY_DEMO, {"hysteresis": {"k_turns": 0}})
    with pytest.raises(sb.ConfigError, match="invalid show"):
        sb.replay(sb.REPLAY_DEMO, show="some")
    with pytest.raises(sb.ConfigError, match="cannot read"):
        sb.replay("/nonexistent/history.jsonl")


# ----------------------------------------------------------------------------- verify_plan

FORECAST = [row for i in range(2) for row in (
    {"interval": i, "group": "refund", "contacts": 120 if i == 0 else 240, "aht_secs": 300},
    {"interval": i, "group": "sizing", "contacts": 60, "aht_secs": 300})]


def test_verify_plan_small_forecast():
    planned = sb.plan(FORECAST, shrinkage=0.2)
    v = sb.verify_plan(FORECAST, shrinkage=0.2,
                       verify={"overlap": {"sizing": ["refund"]}, "replications": 3})
    assert v["met"] and len(v["cells"]) == 4
    assert all(c["verdict"] != "missed" for c in v["cells"])
    for c, before in zip(v["plan"]["cells"], planned["cells"]):
        assert c["agents"] >= before["agents"]
    assert v["rounds"] and v["rounds"][0]["replications"] == 3
    assert 0.0 <= v["cells"][0]["simulated_service_level"] <= 1.0
    # Defaults (10 replications) and a TOML overlap file, as the CLI takes.
    again = sb.verify_plan(FORECAST, shrinkage=0.2, verify='overlap = { sizing = ["refund"] }')
    assert again["rounds"][0]["replications"] == 10
    with pytest.raises(sb.ConfigError, match="whole number of minutes"):
        sb.verify_plan(FORECAST, interval=1234.5)
    with pytest.raises(sb.ConfigError, match="replications: must be at least 1"):
        sb.verify_plan(FORECAST, verify={"replications": 0})
    with pytest.raises(sb.ConfigError, match="invalid verify settings"):
        sb.verify_plan(FORECAST, verify={"replicas": 3})
    with pytest.raises(sb.StaffingError, match="shrinkage"):
        sb.verify_plan(FORECAST, shrinkage=2.0)


# ----------------------------------------------------------------------------- the GIL


def _ticks_while(call):
    """How often another Python thread ran (about every ms) during ``call()``."""
    ticks = []
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            ticks.append(1)
            stop.wait(0.001)

    t = threading.Thread(target=spin)
    t.start()
    try:
        call()
    finally:
        stop.set()
        t.join()
    return len(ticks)


def test_long_calls_release_the_gil(tmp_path):
    sc = json.loads(WORKFLOW_DAY.read_text()) | {"duration_hours": 16}
    sc["policy"] = str(MULTIBRAND)
    (tmp_path / "long_day.json").write_text(json.dumps(sc))
    rows = [{"interval": i, "group": g, "contacts": c, "aht_secs": 300}
            for i in range(48) for g, c in (("refund", 240), ("sizing", 120))]
    history = "\n".join(json.dumps(json.loads(line) | {"id": i * 10 + k})
                         for i in range(10_000)
                         for k, line in enumerate(sb.REPLAY_DEMO.splitlines()))
    calls = {
        "simulate_file": lambda: sb.simulate_file(tmp_path / "long_day.json", arrays=False),
        "verify_plan": lambda: sb.verify_plan(rows, verify={
            "replications": 20, "max_replications": 20, "max_rounds": 2}),
        "replay": lambda: sb.replay(history, show="summary"),
    }
    for name, call in calls.items():
        assert _ticks_while(call) > 20, f"{name} held the GIL"


# ----------------------------------------------------------------------------- stubs


def test_stubs_cover_the_public_names():
    stubs = (Path(sb.__file__).parent / "__init__.pyi").read_text()
    declared = set(re.findall(r"^(?:class|def) (\w+)|^(\w+):", stubs, re.M))
    names = {a or b for a, b in declared} | set(re.findall(r"(\w+) as \1", stubs))
    missing = [n for n in sb.__all__ if n not in names and n != "errors"]
    assert missing == []
