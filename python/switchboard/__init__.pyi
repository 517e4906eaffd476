"""Type stubs of switchboard (the Python bindings of the Rust crate)."""

import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, ClassVar, Iterable, Mapping, Union

from . import errors as errors
from .errors import (
    ConfigError as ConfigError,
    ConflictError as ConflictError,
    EscalationError as EscalationError,
    NotFoundError as NotFoundError,
    RouterError as RouterError,
    SimulationError as SimulationError,
    StaffingError as StaffingError,
    SwitchboardError as SwitchboardError,
    TimeWentBackwardsError as TimeWentBackwardsError,
    WorkflowError as WorkflowError,
)

TimeLike = Union[float, int, datetime, timedelta]
ConfigLike = Union[None, Mapping[str, Any], str, os.PathLike[str]]
PolicyLike = Union[Mapping[str, Any], str, os.PathLike[str]]
AttrValue = Union[bool, int, float, str, list[str]]

CHANNELS: tuple[str, ...]
STATE_VERSION: int
EFFECT_TYPES: dict[str, type[Effect]]
REPLAY_DEMO: str

def to_millis(t: TimeLike) -> int:
    """Seconds / datetime (Unix time, naive = UTC) / timedelta to the router's milliseconds."""

def load_config(config: ConfigLike) -> dict[str, Any]:
    """A dict, JSON or TOML string, or .json/.toml path, as a dict."""

@dataclass(frozen=True)
class Effect:
    """Base class of the router's effects."""

    type: ClassVar[str]
    def to_dict(self) -> dict[str, Any]:
        """The Rust JSON form (times in ms)."""

@dataclass(frozen=True)
class Offer(Effect):
    """Offer a task to an agent until ``expires_at`` (seconds)."""

    offer: int
    task: int
    agent: int
    channel: str
    expires_at: float

@dataclass(frozen=True)
class OfferRescinded(Effect):
    """Withdraw an outstanding offer."""

    offer: int
    task: int
    agent: int
    reason: str

@dataclass(frozen=True)
class OfferExpired(Effect):
    """An offer ran out unanswered."""

    offer: int
    task: int
    agent: int

@dataclass(frozen=True)
class Assigned(Effect):
    """The task is now served by the agent."""

    task: int
    agent: int
    offer: int

@dataclass(frozen=True)
class Queued(Effect):
    """The task waits in a queue."""

    task: int
    queue: int
    reason: str

@dataclass(frozen=True)
class WrapUpStarted(Effect):
    """The agent wraps the task up until ``until`` (seconds)."""

    task: int
    agent: int
    until: float

@dataclass(frozen=True)
class Completed(Effect):
    """The task is finished."""

    task: int
    agent: int

@dataclass(frozen=True)
class Cancelled(Effect):
    """The task was cancelled."""

    task: int

@dataclass(frozen=True)
class Abandoned(Effect):
    """The customer left."""

    task: int

@dataclass(frozen=True)
class TimedOut(Effect):
    """The task waited longer than its max wait."""

    task: int

@dataclass(frozen=True)
class AgentAutoAway(Effect):
    """The agent missed too many offers and was set away."""

    agent: int

def effect_from_dict(d: Mapping[str, Any]) -> Effect:
    """An Effect from its Rust JSON form."""

@dataclass
class Agent:
    """An agent: skills (name -> level), capacity (channel -> n), tags, certified tenants."""

    id: int
    skills: Mapping[str, int] = ...
    capacity: Mapping[str, int] = ...
    tags: Iterable[str] = ...
    certified: Iterable[str] = ...
    state: str = ...
    kind: str = ...

@dataclass
class Task:
    """A task: tenant, channel, hard requirements, preferences, priority, durations in seconds."""

    id: int
    tenant: str
    channel: str = ...
    skills: Mapping[str, int] = ...
    tags: Iterable[str] = ...
    certified: bool = ...
    preferred_skills: Mapping[str, float] = ...
    preferred_tags: Mapping[str, float] = ...
    preferred_agent: int | None = ...
    priority: int = ...
    base_priority: float = ...
    value_tier: int = ...
    sentiment: float = ...
    sla: float | None = ...
    max_wait: float | None = ...
    created_at: TimeLike | None = ...
    strategy: str | None = ...
    fanout: int | None = ...

class Router:
    """The deterministic routing state machine."""

    def __init__(self, config: ConfigLike = None) -> None: ...
    def tenant(self, name: str) -> int:
        """Tenant id, interned on first use."""
    def skill(self, name: str) -> int:
        """Skill id, interned on first use."""
    def tag(self, name: str) -> int:
        """Tag id, interned on first use."""
    def name_of(self, kind: str, id: int) -> str | None:
        """The name behind an id."""
    def add_agent(self, agent: Agent, now: TimeLike = 0.0) -> list[Effect]:
        """Registers an agent."""
    def update_agent(self, agent: Agent, now: TimeLike = 0.0) -> list[Effect]:
        """Replaces an agent's spec."""
    def remove_agent(self, agent: int, now: TimeLike = 0.0) -> list[Effect]:
        """Removes an agent."""
    def set_agent_state(self, agent: int, state: str, now: TimeLike = 0.0) -> list[Effect]:
        """Sets the agent's presence state."""
    def arrive(self, task: Task | Mapping[str, Any], now: TimeLike = 0.0) -> list[Effect]:
        """A task arrives (a Task or a raw TaskSpec dict)."""
    def accept(self, offer: int, agent: int, now: TimeLike = 0.0) -> list[Effect]:
        """The agent accepts the offer."""
    def reject(self, offer: int, agent: int, now: TimeLike = 0.0) -> list[Effect]:
        """The agent declines the offer."""
    def complete(self, task: int, now: TimeLike = 0.0) -> list[Effect]:
        """The assigned task is done."""
    def finish_wrap_up(self, task: int, now: TimeLike = 0.0) -> list[Effect]:
        """Ends a wrap-up early."""
    def cancel(self, task: int, now: TimeLike = 0.0) -> list[Effect]:
        """The host withdraws a task."""
    def abandon(self, task: int, now: TimeLike = 0.0) -> list[Effect]:
        """The customer left."""
    def transfer(self, task: int, channel: str, now: TimeLike = 0.0, *,
                 skills: Mapping[str, int] | None = None, tags: Iterable[str] = (),
                 certified: bool = False) -> list[Effect]:
        """Moves a task to another channel/requirements."""
    def reprioritize(self, task: int, now: TimeLike = 0.0, *, priority: int = 0,
                     base_priority: float = 0.0, value_tier: int = 0,
                     sentiment: float = 0.0) -> list[Effect]:
        """Changes a waiting task's priority."""
    def poll_timeout(self) -> float | None:
        """When to call handle_timeout next (seconds)."""
    def handle_timeout(self, now: TimeLike) -> list[Effect]:
        """Fires due timers."""
    def dispatch_batch(self, now: TimeLike) -> tuple[dict[str, Any], list[Effect]]:
        """Batch assignment: (report, effects)."""
    @property
    def now(self) -> float:
        """The latest time seen (seconds)."""
    @property
    def config(self) -> dict[str, Any]:
        """The configuration in force."""
    @property
    def counters(self) -> dict[str, int]:
        """Lifetime counters."""
    @property
    def agent_count(self) -> int:
        """Registered agents."""
    @property
    def live_tasks(self) -> int:
        """Tasks not yet finished."""
    @property
    def waiting_tasks(self) -> int:
        """Tasks waiting in queues."""
    @property
    def outstanding_offers(self) -> int:
        """Offers not yet answered."""
    def task_state(self, task: int) -> str | None:
        """The task's state name."""
    def agent_state(self, agent: int) -> str | None:
        """The agent's presence state."""
    def snapshot(self, now: TimeLike) -> dict[str, Any]:
        """Queues and agents at now."""
    def explain(self, task: int, agent: int) -> dict[str, Any]:
        """Why the agent can or cannot serve the task."""
    def explain_offer(self, offer: int) -> dict[str, Any] | None:
        """Why an offer was made."""
    def check_invariants(self) -> None:
        """Raises SwitchboardError on a broken invariant."""
    def export_state(self) -> str:
        """The whole state as JSON."""
    @classmethod
    def from_state(cls, state: str | Mapping[str, Any]) -> Router:
        """Rebuilds a router from export_state output."""
    @classmethod
    def from_policy(cls, policy: PolicySet | PolicyLike, format: str | None = None, *,
                    add_pool: bool = True, first_agent_id: int = 1,
                    now: TimeLike = 0.0) -> Router:
        """A router from a policy set: settings, shares, names; with add_pool its pool
        agents registered available."""

def check_policy(policy: PolicyLike, format: str | None = None) -> dict[str, Any]:
    """Errors (path, message), warnings (path, message, kind) and a summary, as
    `switchboard check --json`."""

class PolicySet:
    """A routing policy set, read and validated (Rust ValidPolicy)."""

    def __init__(self, policy: PolicyLike, format: str | None = None) -> None: ...
    @property
    def version(self) -> str:
        """The version label."""
    @property
    def tenants(self) -> list[dict[str, Any]]:
        """The tenants: id, name, sla_ms, answer_target, certified_only, share."""
    @property
    def workflows(self) -> dict[str, Any]:
        """The resolved WorkflowSet."""
    def router(self, *, add_pool: bool = True, first_agent_id: int = 1,
               now: TimeLike = 0.0) -> Router:
        """A new router from the policy."""
    def apply_to(self, router: Router, workflows: Workflows, now: TimeLike) -> dict[str, Any]:
        """Swaps the policy into a running router and workflows; the reload report."""

class Workflows:
    """Workflows (widening steps, exception rules) run next to a router."""

    def __init__(self, router: Router, workflows: PolicySet | ConfigLike = None) -> None: ...
    @classmethod
    def from_policy(cls, router: Router, policy: PolicySet | PolicyLike,
                    format: str | None = None) -> Workflows:
        """The workflows of a policy set."""
    def arrive(self, task: Task | Mapping[str, Any], task_type: str, now: TimeLike = 0.0, *,
               attrs: Mapping[str, AttrValue] | None = None) -> list[Effect]:
        """Routes a new task through its workflow; the router's effects."""
    def poll_timeout(self) -> float | None:
        """When to call handle_timeout next (seconds)."""
    def handle_timeout(self, now: TimeLike) -> list[Effect]:
        """Fires due timers, widenings and rules; the router's effects."""
    def poll_effects(self) -> list[dict[str, Any]]:
        """Drains step_entered, exception_fired and callback effects."""
    def forget(self, task: int) -> None:
        """Stops tracking a task."""
    def reload(self, workflows: ConfigLike, now: TimeLike) -> dict[str, Any]:
        """Swaps in a new WorkflowSet; the reload report."""
    def task(self, task: int) -> dict[str, Any] | None:
        """A tracked task's workflow state."""
    @property
    def tracked(self) -> int:
        """Tasks tracked."""
    @property
    def workflows(self) -> dict[str, Any]:
        """The WorkflowSet in force."""
    def export_state(self) -> str:
        """The tracked tasks as JSON."""
    @classmethod
    def from_state(cls, router: Router, workflows: PolicySet | ConfigLike,
                   state: str | Mapping[str, Any]) -> Workflows:
        """Resumes export_state output."""

class EscalationPolicy:
    """An escalation policy configuration (Rust PolicyConfig)."""

    config: dict[str, Any]
    def __init__(self, config: ConfigLike = None) -> None: ...

class Guardrail:
    """Phrase and pattern guardrails."""

    config: dict[str, Any]
    def __init__(self, router: Router, config: ConfigLike = None) -> None: ...
    @property
    def version(self) -> str:
        """The configuration's version."""
    def scan(self, tenant: str, text: str, speaker: str = "customer") -> dict[str, Any]:
        """Scans one text."""

class EscalationEngine:
    """Per-turn bot-to-human escalation decisions."""

    policy: EscalationPolicy
    def __init__(self, router: Router, policy: EscalationPolicy | ConfigLike = None,
                 guardrail: ConfigLike = None) -> None: ...
    def open(self, conversation: int, tenant: str, now: TimeLike = 0.0) -> None:
        """Opens a conversation."""
    def observe(self, conversation: int, signal: Mapping[str, Any],
                now: TimeLike = 0.0) -> dict[str, Any]:
        """Feeds a signal; returns the decision."""
    def turn(self, conversation: int, text: str | None, now: TimeLike = 0.0, *,
             speaker: str = "customer",
             evidence: Iterable[Mapping[str, Any]] = ()) -> dict[str, Any]:
        """Feeds one turn; returns the decision."""
    def set_load(self, *, projected_wait: float = 0.0, sla: float = 60.0, staffed: bool = True,
                 in_hours: bool = True) -> None:
        """Sets the human side's load."""
    def poll_timeout(self) -> float | None:
        """When to call handle_timeout next."""
    def handle_timeout(self, now: TimeLike) -> list[dict[str, Any]]:
        """Fires due timers."""
    def conversation(self, conversation: int) -> dict[str, Any] | None:
        """An open conversation's state."""
    def close(self, conversation: int) -> dict[str, Any]:
        """Closes a conversation."""
    @property
    def metrics(self) -> dict[str, Any]:
        """Counters."""

def replay(transcripts: str | os.PathLike[str] | Iterable[Mapping[str, Any]],
           policy: EscalationPolicy | ConfigLike = None, *, guardrail: ConfigLike = None,
           projected_wait: float = 60.0, sla: float = 60.0, staffed: bool = True,
           in_hours: bool = True, show: str = "actions") -> dict[str, Any]:
    """Escalation transcripts through a policy: decisions, summary (precision, recall), errors."""

class Ledger:
    """SLA ledger."""

    def __init__(self, router: Router, config: ConfigLike = None) -> None: ...
    def arrival(self, task: Task, now: TimeLike = 0.0, *, queue: int | None = None,
                outreach: bool = False) -> None:
        """Records an arrival."""
    def observe(self, effects: Iterable[Effect], now: TimeLike = 0.0) -> None:
        """Records effects."""
    def agent_state(self, agent: int, state: str, now: TimeLike = 0.0) -> None:
        """Records a presence change."""
    def outcome(self, task: int, *, csat: float | None = None,
                converted: bool | None = None) -> None:
        """Records CSAT/conversion."""
    def report(self, now: TimeLike) -> dict[str, Any]:
        """The ledger report."""
    def evaluate(self, tenant: str, guarantee: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Breaching intervals of a guarantee."""
    def records(self) -> list[dict[str, Any]]:
        """Every task record."""

@dataclass(frozen=True)
class Output:
    """One output of an Operation; ``effect`` is set for ``kind == "router"``."""

    kind: str
    conversation: int | None = None
    effect: Effect | None = None
    data: Mapping[str, Any] = ...
    def __getitem__(self, key: str) -> Any: ...
    def get(self, key: str, default: Any = None) -> Any: ...
    def to_dict(self) -> dict[str, Any]: ...

def output_from_dict(d: Mapping[str, Any]) -> Output:
    """An Output from its Rust JSON form."""

class Operation:
    """The composed engine: bot front line, escalation, workflows, router and ledger."""

    def __init__(self, config: ConfigLike = None, *, policy: PolicySet | PolicyLike | None = None,
                 escalation: EscalationPolicy | ConfigLike | bool = None,
                 guardrail: ConfigLike = None, ledger: ConfigLike = None) -> None: ...
    def tenant(self, name: str) -> int: ...
    def skill(self, name: str) -> int: ...
    def tag(self, name: str) -> int: ...
    def name_of(self, kind: str, id: int) -> str | None: ...
    def handle(self, input: Mapping[str, Any], now: TimeLike = 0.0) -> list[Output]:
        """Applies one Rust ``Input`` dict."""
    def handle_many(self, inputs: Iterable[Mapping[str, Any]],
                    now: TimeLike = 0.0) -> list[Output]:
        """Applies inputs in order without the GIL; a refusal stops the batch (``index``,
        ``outputs`` on the exception)."""
    def router_event(self, event: Mapping[str, Any], now: TimeLike = 0.0) -> list[Output]: ...
    def open(self, conversation: int, tenant: str, now: TimeLike = 0.0) -> list[Output]: ...
    def signal(self, conversation: int, signal: Mapping[str, Any],
               now: TimeLike = 0.0) -> list[Output]: ...
    def turn(self, conversation: int, text: str | None, now: TimeLike = 0.0, *,
             speaker: str = "customer",
             evidence: Iterable[Mapping[str, Any]] | None = None) -> list[Output]: ...
    def close(self, conversation: int, now: TimeLike = 0.0) -> list[Output]: ...
    def request(self, task: Task | Mapping[str, Any], now: TimeLike = 0.0, *,
                workflow: str | None = None,
                attrs: Mapping[str, AttrValue] | None = None) -> list[Output]: ...
    def add_agent(self, agent: Agent, now: TimeLike = 0.0) -> list[Output]: ...
    def update_agent(self, agent: Agent, now: TimeLike = 0.0) -> list[Output]: ...
    def remove_agent(self, agent: int, now: TimeLike = 0.0) -> list[Output]: ...
    def set_agent_state(self, agent: int, state: str, now: TimeLike = 0.0) -> list[Output]: ...
    def accept(self, offer: int, agent: int, now: TimeLike = 0.0) -> list[Output]: ...
    def reject(self, offer: int, agent: int, now: TimeLike = 0.0) -> list[Output]: ...
    def complete(self, task: int, now: TimeLike = 0.0) -> list[Output]: ...
    def finish_wrap_up(self, task: int, now: TimeLike = 0.0) -> list[Output]: ...
    def cancel(self, task: int, now: TimeLike = 0.0) -> list[Output]: ...
    def abandon(self, task: int, now: TimeLike = 0.0) -> list[Output]: ...
    def outcome(self, task: int, now: TimeLike = 0.0, *, csat: float | None = None,
                converted: bool | None = None) -> list[Output]: ...
    def swap_policy(self, policy: PolicySet | PolicyLike,
                    now: TimeLike = 0.0) -> list[Output]: ...
    def tick(self, now: TimeLike) -> list[Output]:
        """Fires every timer due by ``now``."""
    def handle_timeout(self, now: TimeLike) -> list[Output]: ...
    def poll_timeout(self) -> float | None: ...
    @property
    def now(self) -> float: ...
    @property
    def config(self) -> dict[str, Any]: ...
    @property
    def counters(self) -> dict[str, int]: ...
    def conversation(self, conversation: int) -> dict[str, Any] | None: ...
    def owner(self, conversation: int) -> str | None: ...
    @property
    def metrics(self) -> dict[str, Any] | None: ...
    def snapshot(self, now: TimeLike) -> dict[str, Any]: ...
    def link(self, task: int) -> int | None: ...
    def task_state(self, task: int) -> str | None: ...
    def ledger_report(self, now: TimeLike) -> dict[str, Any]: ...
    def export_state(self) -> str: ...
    @classmethod
    def from_state(cls, state: str | Mapping[str, Any]) -> Operation: ...

def simulate(scenario: ConfigLike, *, arrays: bool = True) -> dict[str, Any]:
    """Runs a scenario (GIL released); returns the report."""

def simulate_file(path: str | os.PathLike[str], *, seed: int | None = None,
                  arrays: bool = True) -> dict[str, Any]:
    """Runs a scenario file and the policy it names (GIL released); returns the report."""

def erlang_c(arrival_rate: float, aht: float, agents: Any, *, concurrency: int = 1,
             answer_within: float = 20.0) -> dict[str, Any]:
    """Erlang C measures (arrays for an array of agent counts)."""

def erlang_a(arrival_rate: float, aht: float, patience: float, agents: Any, *,
             concurrency: int = 1, answer_within: float = 20.0,
             definition: str = "abandons_missed") -> dict[str, Any]:
    """Erlang A measures."""

def agents_for(arrival_rate: float, aht: float, answer_within: float, service_level: float, *,
               patience: float | None = None, concurrency: int = 1,
               definition: str = "abandons_missed", max_asa: float | None = None,
               max_abandon: float | None = None,
               max_occupancy: float | None = None) -> dict[str, Any]:
    """Fewest agents meeting a target."""

def plan(forecast: Iterable[Mapping[str, Any]], *, interval: float = 1800.0,
         answer_within: float = 20.0, service_level: float = 0.8, model: str = "erlang_c",
         shrinkage: float = 0.0, definition: str = "abandons_missed") -> dict[str, Any]:
    """Interval staffing plan (GIL released)."""

def verify_plan(forecast: Iterable[Mapping[str, Any]], *, interval: float = 1800.0,
                answer_within: float = 20.0, service_level: float = 0.8,
                model: str = "erlang_c", shrinkage: float = 0.0,
                definition: str = "abandons_missed", verify: ConfigLike = None) -> dict[str, Any]:
    """Interval plan verified (and corrected) by simulation (GIL released)."""

def erlang_b(servers: int, load: float) -> float:
    """Erlang B blocking probability."""
