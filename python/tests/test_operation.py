"""The composed engine (``switchboard.Operation``): a bot conversation escalated to a human and
handed back, requests through workflows, the ledger, errors, and snapshots."""

import json

import pytest

import switchboard as sb

SMALL = """
version = "1"
skills = [{ name = "sizing" }]
tags = ["lang:zh"]
[[tenants]]
name = "acme"
[[workflows.presale.steps]]
name = "experts"
target = 'skill("sizing") >= 8'
timeout_ms = 30000
[[workflows.presale.steps]]
name = "anyone"
target = 'skill("sizing") >= 3'
"""


def bot_op(**kw):
    op = sb.Operation(escalation=True, **kw)
    assert op.add_agent(sb.Agent(1, capacity={"chat": 2}, state="available"), 0.0) == []
    return op


def kinds(outputs):
    return [o.kind for o in outputs]


def router_effects(outputs):
    return [o.effect for o in outputs if o.kind == "router"]


def offer_of(outputs):
    offers = [e for e in router_effects(outputs) if isinstance(e, sb.Offer)]
    assert len(offers) == 1, outputs
    return offers[0]


def escalate(op, conversation=1, now=2.0):
    """Opens a conversation and asks for a human: returns the outputs of the request."""
    assert op.open(conversation, "acme", now - 1.0) == []
    return op.turn(conversation, "转人工", now)


def test_explicit_request_becomes_an_offer_then_human_then_hand_back():
    op = bot_op()
    assert op.owner(1) is None
    out = escalate(op)
    ks = kinds(out)
    assert "decision" in ks and "handover" in ks and "router" in ks
    decision = next(o for o in out if o.kind == "decision")
    assert decision.conversation == 1 and decision["action"]["action"] == "escalate"
    handover = next(o for o in out if o.kind == "handover")
    task = handover["task"]
    assert handover.conversation == 1 and handover["handover"]["task"]["id"] == task
    offer = offer_of(out)
    assert (offer.task, offer.agent) == (task, 1)
    assert op.link(task) == 1 and op.task_state(task) == "offered"
    assert op.owner(1) == "pending_human"

    # The agent accepts: the conversation is the human's.
    out = op.accept(offer.offer, offer.agent, 5.0)
    assert sb.Assigned(task=task, agent=1, offer=offer.offer) in router_effects(out)
    assert op.owner(1) == "human"
    assert op.conversation(1)["owner"]["agent"] == 1
    assert op.task_state(task) == "in_service"

    # The human is done: the bot has the conversation again, with a summary.
    out = op.complete(task, 60.0)
    assert sb.Completed(task=task, agent=1) in router_effects(out)
    back = [o for o in out if o.kind == "hand_back"]
    assert len(back) == 1 and back[0].conversation == 1 and "summary" in back[0].data
    assert op.owner(1) == "bot" and op.link(task) is None

    assert op.outcome(task, 61.0, csat=5.0) == []
    out = op.close(1, 70.0)
    assert kinds(out) == ["closed"] and out[0].conversation == 1
    assert op.conversation(1) is None
    report = op.ledger_report(70.0)
    assert isinstance(report, dict) and report
    assert op.counters["completed"] == 1
    assert op.metrics["hard_escalations"] == 1 and op.metrics["closed"] == 1
    assert op.snapshot(70.0)["agents"]
    assert sb.Operation().metrics is None
    assert op.now == 70.0
    assert repr(op).startswith("Operation(now=70.0, agents=1")


def test_outputs_round_trip_to_the_rust_form():
    op = bot_op()
    out = escalate(op)
    for o in out:
        d = o.to_dict()
        assert d["output"] == o.kind
        assert sb.output_from_dict(d) == o
    offer = offer_of(out)
    raw = next(o.to_dict() for o in out if o.effect == offer)
    assert raw["effect"]["type"] == "offer"
    assert raw["effect"]["expires_at"] == offer.expires_at * 1000


def test_request_through_a_workflow_and_timers():
    op = sb.Operation(policy=SMALL)
    assert op.config["policy"]["version"] == "1"
    op.add_agent(sb.Agent(1, skills={"sizing": 5}, capacity={"chat": 1}, state="available"), 0.0)
    out = op.request(sb.Task(7, "acme"), 1.0, workflow="presale")
    assert kinds(out) == ["workflow", "router"]
    assert out[0]["effect"]["type"] == "step_entered" and out[0]["effect"]["step"] == 0
    assert out[1].effect == sb.Queued(task=7, queue=0, reason="arrived")  # nobody at level 8
    assert op.poll_timeout() == 31.0
    assert op.tick(30.0) == []
    out = op.tick(31.0)
    assert out[0].kind == "workflow" and out[0]["effect"]["step"] == 1
    offer = offer_of(out)
    assert op.task_state(7) == "offered" and op.link(7) is None
    op.accept(offer.offer, 1, 32.0)
    # A plain request straight to the router, and a raw router event.
    out = op.request(sb.Task(8, "acme"), 33.0)
    queued = router_effects(out)[0]
    assert isinstance(queued, sb.Queued) and queued.task == 8
    assert router_effects(op.router_event({"type": "cancel", "task": 8}, 34.0)) == [
        sb.Cancelled(task=8)]
    # Swapping the policy keeps the tasks; an invalid one changes nothing.
    assert op.swap_policy(sb.PolicySet(SMALL.replace('version = "1"', 'version = "2"')), 35.0) == []
    assert op.config["policy"]["version"] == "2"
    with pytest.raises(sb.ConfigError):
        op.swap_policy(SMALL.replace("sizing\") >= 3", "nope\") >= 3"), 36.0)
    assert op.config["policy"]["version"] == "2" and op.task_state(7) == "in_service"


def test_handle_many_stops_at_the_first_refusal():
    op = bot_op()
    inputs = [
        {"input": "open", "conversation": 1, "tenant": op.tenant("acme")},
        {"input": "open", "conversation": 1, "tenant": op.tenant("acme")},
        {"input": "open", "conversation": 2, "tenant": op.tenant("acme")},
    ]
    with pytest.raises(sb.ConflictError) as e:
        op.handle_many(inputs, 1.0)
    assert e.value.index == 1 and e.value.outputs == []
    assert op.conversation(1) is not None and op.conversation(2) is None
    # A malformed input: nothing applied.
    with pytest.raises(sb.ConfigError, match=r"invalid input \[1\]"):
        op.handle_many([inputs[2], {"input": "nope"}], 2.0)
    assert op.conversation(2) is None
    out = op.handle_many([
        inputs[2],
        {"input": "signal", "conversation": 2,
         "signal": {"type": "turn", "speaker": "customer", "text": "转人工"}},
    ], 3.0)
    assert "handover" in kinds(out) and op.owner(2) == "pending_human"
    assert op.handle_many([], 3.0) == []


def test_errors_map_to_the_package_classes():
    op = bot_op()
    escalate(op)
    with pytest.raises(sb.NotFoundError):
        op.accept(999, 1, 3.0)
    with pytest.raises(sb.ConflictError):
        op.open(1, "acme", 3.0)  # already open
    with pytest.raises(sb.ConflictError):
        op.add_agent(sb.Agent(1, capacity={"chat": 1}), 3.0)
    with pytest.raises(sb.NotFoundError):
        op.turn(42, "hello", 3.0)
    with pytest.raises(sb.SwitchboardError, match="sent by the operation itself"):
        op.signal(1, {"type": "queued", "task": 5}, 3.0)
    with pytest.raises(sb.SwitchboardError, match="no workflows"):
        op.request(sb.Task(5, "acme"), 3.0, workflow="presale")
    with pytest.raises(sb.ConfigError, match="invalid input"):
        op.handle({"input": "nope"}, 3.0)

    plain = sb.Operation()
    with pytest.raises(sb.SwitchboardError, match="no bot front line") as e:
        plain.open(1, "acme", 0.0)
    assert type(e.value) is sb.SwitchboardError

    with pytest.raises(sb.ConfigError, match="unknown field"):
        sb.Operation({"routr": {}})
    with pytest.raises(sb.ConfigError):
        sb.Operation(ledger={"interval_minutes": 0})
    with pytest.raises(sb.ConfigError):
        sb.Operation(policy=SMALL.replace("sizing\") >= 3", "nope\") >= 3"))
    with pytest.raises(sb.ConfigError, match="invalid operation state"):
        sb.Operation.from_state("{}")
    state = json.loads(op.export_state())
    state["version"] = 99
    with pytest.raises(sb.ConfigError, match="version 99"):
        sb.Operation.from_state(state)


def test_time_going_backwards_raises_and_changes_nothing():
    op = bot_op()
    escalate(op, now=10.0)
    before = op.export_state()
    with pytest.raises(sb.TimeWentBackwardsError):
        op.turn(1, "hello?", 5.0)
    with pytest.raises(sb.TimeWentBackwardsError):
        op.tick(9.0)
    with pytest.raises(sb.TimeWentBackwardsError):
        op.request(sb.Task(5, "acme"), 1.0)
    assert issubclass(sb.TimeWentBackwardsError, sb.SwitchboardError)
    assert op.export_state() == before and op.now == 10.0


def test_export_state_from_state_round_trip():
    op = bot_op()
    out = escalate(op)
    offer = offer_of(out)
    saved = op.export_state()
    back = sb.Operation.from_state(saved)
    assert json.loads(back.export_state()) == json.loads(saved)
    assert sb.Operation.from_state(json.loads(saved)).export_state() == back.export_state()
    assert back.now == op.now and back.poll_timeout() == op.poll_timeout()
    assert back.conversation(1) == op.conversation(1) and back.link(offer.task) == 1
    # Both go on the same way.
    for o in (op, back):
        o.accept(offer.offer, offer.agent, 5.0)
    a, b = op.complete(offer.task, 60.0), back.complete(offer.task, 60.0)
    assert a == b and "hand_back" in kinds(a)
    assert json.loads(op.export_state()) == json.loads(back.export_state())
    assert op.ledger_report(60.0) == back.ledger_report(60.0)


def test_handle_many_releases_the_gil():
    from test_policy import _ticks_while

    op = bot_op()
    acme = op.tenant("acme")
    inputs = []
    for c in range(1, 4001):
        inputs.append({"input": "open", "conversation": c, "tenant": acme})
        for text in ("hello", "where is my parcel?", "still nothing", "thanks"):
            inputs.append({"input": "signal", "conversation": c,
                           "signal": {"type": "turn", "speaker": "customer", "text": text}})
        inputs.append({"input": "close", "conversation": c})
    text, out = json.dumps(inputs), []
    assert _ticks_while(lambda: out.append(op._o.handle_many(1000, text))) > 20
    assert kinds(sb._api._outputs(out[0])).count("closed") == 4000
