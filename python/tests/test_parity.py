"""The same scenarios through Python as through Rust (src/python.rs tests wrote *_expected.json
from the Rust API; `cargo test --features python parity` checks Rust still agrees)."""

import json

import switchboard as sb
from conftest import ROOT, load

CHANNELS = sb.CHANNELS


def _agent(ev, names):
    skill = names["skill"]
    return sb.Agent(
        ev["id"], kind=ev["kind"], state=ev["state"],
        skills={skill[s]: lvl for s, lvl in ev["skills"]},
        tags=[names["tag"][t] for t in ev["tags"]],
        certified=[names["tenant"][t] for t in ev["certifications"]],
        capacity={CHANNELS[i]: n for i, n in enumerate(ev["capacity"]) if n},
    )


def _reqs(req, names):
    return dict(skills={names["skill"][r["skill"]]: r["min_level"] for r in req.get("skills", [])},
                tags=[names["tag"][t] for t in req.get("tags", [])],
                certified=req.get("certification", False))


def _task(ev, names):
    prefs = ev.get("preferences", {})
    pr = ev.get("priority", {})
    cu = ev.get("customer", {})
    return sb.Task(
        ev["id"], names["tenant"][ev["tenant"]], ev["channel"],
        **_reqs(ev.get("requirements", {}), names),
        preferred_skills={names["skill"][s]: w for s, w in prefs.get("skills", [])},
        preferred_tags={names["tag"][t]: w for t, w in prefs.get("tags", [])},
        preferred_agent=prefs.get("preferred_agent"),
        priority=pr.get("class", 0), base_priority=pr.get("base", 0.0),
        value_tier=cu.get("value_tier", 0), sentiment=cu.get("sentiment", 0.0),
        sla=None if ev.get("sla_ms") is None else ev["sla_ms"] / 1000,
        max_wait=None if ev.get("max_wait_ms") is None else ev["max_wait_ms"] / 1000,
    )


def _apply(r: sb.Router, now: float, ev, names):
    t = ev["type"]
    if t == "add_agent":
        return r.add_agent(_agent(ev, names), now)
    if t == "update_agent":
        return r.update_agent(_agent(ev, names), now)
    if t == "remove_agent":
        return r.remove_agent(ev["agent"], now)
    if t == "set_agent_state":
        return r.set_agent_state(ev["agent"], ev["state"], now)
    if t == "arrive":
        return r.arrive(_task(ev, names), now)
    if t == "accept":
        return r.accept(ev["offer"], ev["agent"], now)
    if t == "reject":
        return r.reject(ev["offer"], ev["agent"], now)
    if t in ("complete", "finish_wrap_up", "cancel", "abandon"):
        return getattr(r, t)(ev["task"], now)
    if t == "transfer":
        return r.transfer(ev["task"], ev["channel"], now, **_reqs(ev["requirements"], names))
    if t == "reprioritize":
        return r.reprioritize(ev["task"], now, priority=ev["priority"]["class"],
                              base_priority=ev["priority"]["base"],
                              value_tier=ev["customer"]["value_tier"],
                              sentiment=ev["customer"]["sentiment"])
    if t == "tick":
        return r.handle_timeout(now)
    raise AssertionError(t)


def test_router_scenario_matches_rust():
    sc, want = load("router_scenario.json"), load("router_expected.json")
    names = sc["names"]
    r = sb.Router(sc["config"])
    for kind in ("tenant", "skill", "tag"):
        for n in names[kind]:
            getattr(r, kind)(n)
    got = []
    for step in sc["steps"]:
        try:
            effects = _apply(r, step["at_ms"] / 1000, step["event"], names)
            got.append({"effects": [e.to_dict() for e in effects]})
        except sb.SwitchboardError as e:
            got.append({"error": str(e)})
    got.append({"counters": r.counters, "snapshot": r.snapshot(r.now)})
    # Compare step by step for readable failures, then the whole.
    for i, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"step {i}: {sc['steps'][i] if i < len(sc['steps']) else 'final'}"
    assert got == want
    assert any("error" in s for s in got), "the fixture exercises error paths"


def test_escalation_scenario_matches_rust():
    sc, want = load("escalation_scenario.json"), load("escalation_expected.json")
    r = sb.Router()
    for n in sc["names"]["tenant"]:
        r.tenant(n)
    e = sb.EscalationEngine(r)
    got = []
    for step in sc["steps"]:
        now, op = step["at_ms"] / 1000, step["op"]
        try:
            if op["type"] == "open":
                got.append({"ok": e.open(op["conversation"], op["tenant"], now)})
            elif op["type"] == "turn":
                got.append({"ok": e.turn(op["conversation"], op["text"], now,
                                         speaker=op["speaker"])})
            elif op["type"] == "timeout":
                got.append({"ok": e.handle_timeout(now)})
            else:
                got.append({"ok": e.close(op["conversation"])})
        except sb.SwitchboardError as err:
            got.append({"error": str(err)})
    got.append({"metrics": e.metrics})
    assert got == want


def test_workflow_scenario_matches_rust():
    sc, want = load("workflow_scenario.json"), load("workflow_expected.json")
    policy = sb.PolicySet(ROOT / sc["policy"])
    r = sb.Router.from_policy(policy, first_agent_id=sc["first_agent_id"])
    flows = sb.Workflows(r, policy)
    offers: dict[int, sb.Offer] = {}  # the latest offer seen per task

    def record(effects):
        offers.update({e.task: e for e in effects if isinstance(e, sb.Offer)})
        return {"effects": [e.to_dict() for e in effects], "flow": flows.poll_effects()}

    got = []
    for step in sc["steps"]:
        now, op, task = step["at_ms"] / 1000, step["op"], step.get("task")
        try:
            if op == "arrive":
                t = sb.Task(task["id"], task["tenant"], "chat",
                            preferred_agent=task.get("preferred_agent"),
                            value_tier=task.get("value_tier", 0))
                got.append(record(flows.arrive(t, step["type"], now, attrs=step["attrs"])))
            elif op == "accept":
                o = offers[task]
                got.append(record(r.accept(o.offer, o.agent, now)))
            elif op == "complete":
                effects = r.complete(task, now)
                flows.forget(task)
                got.append(record(effects))
            else:  # run_until: fire every timer due by then (late ones at once)
                ticks = []
                while (t := flows.poll_timeout()) is not None and t <= now:
                    t = max(t, r.now)
                    tick = record(flows.handle_timeout(t))
                    ticks.append(tick | {"at_ms": sb.to_millis(t)})
                got.append({"ticks": ticks})
        except sb.SwitchboardError as e:
            got.append({"error": str(e)})
    got.append({"tracked": flows.tracked, "state": json.loads(flows.export_state()),
                "counters": r.counters})
    for i, (g, w) in enumerate(zip(got, want)):
        assert g == w, f"step {i}: {sc['steps'][i] if i < len(sc['steps']) else 'final'}"
    assert got == want
    assert any("ticks" in s and any(t["flow"] for t in s["ticks"]) for s in got), "widens"


def test_simulation_matches_rust():
    report = sb.simulate(load("sim_scenario.json"), arrays=False)
    assert report == load("sim_expected.json")
    # Floats survive the JSON round trip bit for bit.
    assert json.dumps(report, sort_keys=True) == json.dumps(load("sim_expected.json"), sort_keys=True)
