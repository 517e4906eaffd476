"""switchboard: a deterministic routing core for AI + human customer service, from Python.

The Rust crate does the work; this package gives it a Pythonic face:

* :class:`Router` — agents, tasks, offers; every call takes ``now`` (float seconds, ``datetime``
  or ``timedelta``) and returns the :class:`Effect` objects it produced.
* :class:`Agent`, :class:`Task` — specs with names (tenants, skills, tags) instead of ids.
* :class:`EscalationEngine`, :class:`EscalationPolicy`, :class:`Guardrail` — bot-to-human
  escalation per conversation turn.
* :class:`PolicySet`, :func:`check_policy` — routing policy sets (tenants, skills, workflows,
  shares, pool); :meth:`Router.from_policy`; :class:`Workflows` — widening steps and exception
  rules run next to the router.
* :class:`Operation` — the composed engine: bot front line, escalation, workflows, router and
  ledger behind one input type; every call returns the :class:`Output` objects it produced.
* :func:`replay` — escalation transcripts through a policy (precision, recall).
* :class:`Ledger` — SLA accounting; :func:`simulate`, :func:`simulate_file` — the discrete-event
  simulator; :func:`erlang_c`, :func:`erlang_a`, :func:`agents_for`, :func:`plan`,
  :func:`verify_plan`, :func:`erlang_b` — staffing.
* :mod:`switchboard.errors` — ``SwitchboardError`` and its subclasses.

Configs are accepted as dicts, JSON/TOML strings or paths, with the Rust field names.
"""

from . import _native, errors
from ._api import (
    CHANNELS,
    EFFECT_TYPES,
    REPLAY_DEMO,
    Abandoned,
    Agent,
    AgentAutoAway,
    Assigned,
    Cancelled,
    Completed,
    Effect,
    EscalationEngine,
    EscalationPolicy,
    Guardrail,
    Ledger,
    Offer,
    OfferExpired,
    OfferRescinded,
    Operation,
    Output,
    PolicySet,
    Queued,
    Router,
    Task,
    TimedOut,
    Workflows,
    WrapUpStarted,
    agents_for,
    check_policy,
    effect_from_dict,
    erlang_a,
    erlang_b,
    erlang_c,
    load_config,
    output_from_dict,
    plan,
    replay,
    simulate,
    simulate_file,
    to_millis,
    verify_plan,
)
from .errors import (
    ConfigError,
    ConflictError,
    EscalationError,
    NotFoundError,
    RouterError,
    SimulationError,
    StaffingError,
    SwitchboardError,
    TimeWentBackwardsError,
    WorkflowError,
)

STATE_VERSION: int = _native.STATE_VERSION
"""The saved-state schema version this build reads and writes."""

__all__ = [
    "CHANNELS", "EFFECT_TYPES", "REPLAY_DEMO", "STATE_VERSION", "Abandoned", "Agent",
    "AgentAutoAway", "Assigned", "Cancelled", "Completed", "ConfigError", "ConflictError",
    "Effect", "EscalationEngine", "EscalationError", "EscalationPolicy", "Guardrail", "Ledger",
    "NotFoundError", "Offer", "OfferExpired", "OfferRescinded", "Operation", "Output",
    "PolicySet", "Queued", "Router", "RouterError", "SimulationError", "StaffingError",
    "SwitchboardError", "Task", "TimeWentBackwardsError", "TimedOut", "WorkflowError",
    "Workflows", "WrapUpStarted", "agents_for", "check_policy", "effect_from_dict", "erlang_a",
    "erlang_b", "erlang_c", "errors", "load_config", "output_from_dict", "plan", "replay",
    "simulate", "simulate_file", "to_millis", "verify_plan",
]
