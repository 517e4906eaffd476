"""The Pythonic layer over the native module (see ``switchboard`` for the overview)."""

from __future__ import annotations

import json
import math
import os
import tomllib
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar, Iterable, Mapping, Union

from . import _native
from .errors import ConfigError

TimeLike = Union[float, int, datetime, timedelta]
ConfigLike = Union[None, Mapping[str, Any], str, "os.PathLike[str]"]
PolicyLike = Union[Mapping[str, Any], str, "os.PathLike[str]"]
AttrValue = Union[bool, int, float, str, list[str]]

CHANNELS = ("voice", "chat", "email", "ticket", "social", "video", "callback", "outreach")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


# ----------------------------------------------------------------------------- helpers


def to_millis(t: TimeLike) -> int:
    """Converts a time to the router's milliseconds.

    Floats and ints are seconds since your epoch; a ``datetime`` is taken as Unix time (naive
    values as UTC); a ``timedelta`` is an offset from the epoch. Raises ``ConfigError`` for a
    negative, NaN or infinite time.
    """
    if isinstance(t, datetime):
        if t.tzinfo is None:
            t = t.replace(tzinfo=timezone.utc)
        secs = (t - _EPOCH).total_seconds()
    elif isinstance(t, timedelta):
        secs = t.total_seconds()
    elif isinstance(t, (int, float)) and not isinstance(t, bool):
        secs = float(t)
    else:
        raise ConfigError(f"invalid time {t!r}: expected seconds, datetime or timedelta")
    if not math.isfinite(secs) or secs < 0 or secs * 1000.0 >= 2.0**64:
        raise ConfigError(f"invalid time {t!r}: must be finite and not negative")
    return int(round(secs * 1000.0))


def _secs(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000.0


def load_config(config: ConfigLike) -> dict[str, Any]:
    """Reads a configuration given as a dict, a JSON or TOML string, or a path to a .json/.toml file.

    Raises ``ConfigError`` when it cannot be read or parsed.
    """
    if config is None:
        return {}
    if isinstance(config, Mapping):
        return dict(config)
    if _is_path(config):
        path = Path(config)
        return _parse_text(_read(path), toml=path.suffix.lower() == ".toml")
    if isinstance(config, str):
        return _parse_text(config, toml=config.strip()[:1] != "{")
    raise ConfigError(f"invalid configuration {config!r}: expected dict, JSON/TOML string or path")


def _is_path(config: Any) -> bool:
    """A path-like, or a one-line string naming a .json/.toml file (not a document)."""
    return isinstance(config, os.PathLike) or (
        isinstance(config, str) and "\n" not in config and config.strip()[:1] not in "{["
        and config.lower().endswith((".json", ".toml")))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e}") from None


def _path(p: Any, what: str) -> str:
    if not isinstance(p, (str, os.PathLike)):
        raise ConfigError(f"invalid {what} path {p!r}: expected str or os.PathLike")
    return os.fspath(p)


def _parse_text(text: str, toml: bool) -> dict[str, Any]:
    try:
        out = tomllib.loads(text) if toml else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"invalid {'TOML' if toml else 'JSON'} configuration: {e}") from None
    if not isinstance(out, dict):
        raise ConfigError("configuration must be a table/object")
    return out


def _dumps(value: Any) -> str:
    try:
        return json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"cannot encode {value!r}: {e}") from None


def _channel(c: str) -> str:
    if c not in CHANNELS:
        raise ConfigError(f"unknown channel {c!r} (one of {', '.join(CHANNELS)})")
    return c


def _id(x: Any, what: str) -> int:
    if isinstance(x, bool) or not isinstance(x, int) or x < 0 or x >= 2**64:
        raise ConfigError(f"invalid {what} id {x!r}: expected an int in 0..2**64")
    return x


# ----------------------------------------------------------------------------- effects


@dataclass(frozen=True)
class Effect:
    """Base class of the router's effects (what the host must do). ``to_dict()`` gives the
    Rust JSON form (``{"type": ..., ...}``, times in ms)."""

    type: ClassVar[str] = ""
    _times: ClassVar[tuple[str, ...]] = ()

    def to_dict(self) -> dict[str, Any]:
        """The effect as the Rust crate serialises it (times in milliseconds)."""
        d: dict[str, Any] = {"type": self.type}
        for k, v in asdict(self).items():
            d[k] = to_millis(v) if k in self._times else v
        return d


@dataclass(frozen=True)
class Offer(Effect):
    """Offer ``task`` to ``agent`` on ``channel`` until ``expires_at`` (seconds)."""

    type: ClassVar[str] = "offer"
    _times: ClassVar[tuple[str, ...]] = ("expires_at",)
    offer: int
    task: int
    agent: int
    channel: str
    expires_at: float


@dataclass(frozen=True)
class OfferRescinded(Effect):
    """Withdraw an outstanding offer; ``reason`` says why (e.g. ``"taken_by_other"``)."""

    type: ClassVar[str] = "offer_rescinded"
    offer: int
    task: int
    agent: int
    reason: str


@dataclass(frozen=True)
class OfferExpired(Effect):
    """An offer ran out unanswered."""

    type: ClassVar[str] = "offer_expired"
    offer: int
    task: int
    agent: int


@dataclass(frozen=True)
class Assigned(Effect):
    """``task`` is now served by ``agent`` (through ``offer``)."""

    type: ClassVar[str] = "assigned"
    task: int
    agent: int
    offer: int


@dataclass(frozen=True)
class Queued(Effect):
    """``task`` waits in ``queue``; ``reason`` says why (``"arrived"``, ``"rejected"``...)."""

    type: ClassVar[str] = "queued"
    task: int
    queue: int
    reason: str


@dataclass(frozen=True)
class WrapUpStarted(Effect):
    """``agent`` wraps ``task`` up until ``until`` (seconds)."""

    type: ClassVar[str] = "wrap_up_started"
    _times: ClassVar[tuple[str, ...]] = ("until",)
    task: int
    agent: int
    until: float


@dataclass(frozen=True)
class Completed(Effect):
    """``task`` is finished (and ``agent``'s capacity freed)."""

    type: ClassVar[str] = "completed"
    task: int
    agent: int


@dataclass(frozen=True)
class Cancelled(Effect):
    """``task`` was cancelled."""

    type: ClassVar[str] = "cancelled"
    task: int


@dataclass(frozen=True)
class Abandoned(Effect):
    """The customer of ``task`` left."""

    type: ClassVar[str] = "abandoned"
    task: int


@dataclass(frozen=True)
class TimedOut(Effect):
    """``task`` waited longer than its max wait."""

    type: ClassVar[str] = "timed_out"
    task: int


@dataclass(frozen=True)
class AgentAutoAway(Effect):
    """``agent`` missed too many offers and was set away."""

    type: ClassVar[str] = "agent_auto_away"
    agent: int


EFFECT_TYPES: dict[str, type[Effect]] = {
    c.type: c
    for c in (Offer, OfferRescinded, OfferExpired, Assigned, Queued, WrapUpStarted, Completed,
              Cancelled, Abandoned, TimedOut, AgentAutoAway)
}


def effect_from_dict(d: Mapping[str, Any]) -> Effect:
    """Builds an :class:`Effect` from its Rust JSON form (times in ms)."""
    d = dict(d)
    cls = EFFECT_TYPES[d.pop("type")]
    for k in cls._times:
        d[k] = d[k] / 1000.0
    return cls(**d)


def _effects(js: str) -> list[Effect]:
    return [effect_from_dict(d) for d in json.loads(js)]


# ----------------------------------------------------------------------------- agents and tasks


@dataclass
class Agent:
    """An agent (human or bot) as registered with :meth:`Router.add_agent`.

    ``skills`` maps skill name to level (1..=10); ``capacity`` maps channel to concurrent tasks;
    ``certified`` lists the tenants (brands) the agent may serve when a task requires it.
    """

    id: int
    skills: Mapping[str, int] = field(default_factory=dict)
    capacity: Mapping[str, int] = field(default_factory=dict)
    tags: Iterable[str] = ()
    certified: Iterable[str] = ()
    state: str = "offline"
    kind: str = "human"

    def _spec(self, router: "Router") -> dict[str, Any]:
        cap = [0] * len(CHANNELS)
        for ch, n in self.capacity.items():
            cap[CHANNELS.index(_channel(ch))] = n
        return {
            "id": _id(self.id, "agent"),
            "kind": self.kind,
            "skills": [[router.skill(s), lvl] for s, lvl in self.skills.items()],
            "tags": [router.tag(t) for t in self.tags],
            "certifications": [router.tenant(t) for t in self.certified],
            "capacity": cap,
            "state": self.state,
        }


@dataclass
class Task:
    """A customer conversation or work item, routed with :meth:`Router.arrive`.

    Hard requirements: ``skills`` (name → minimum level), ``tags``, ``certified``. Soft ones:
    ``preferred_skills``/``preferred_tags`` (name → weight) and ``preferred_agent``. Durations
    (``sla``, ``max_wait``) are seconds; ``created_at`` any time accepted by :func:`to_millis`.
    """

    id: int
    tenant: str
    channel: str = "chat"
    skills: Mapping[str, int] = field(default_factory=dict)
    tags: Iterable[str] = ()
    certified: bool = False
    preferred_skills: Mapping[str, float] = field(default_factory=dict)
    preferred_tags: Mapping[str, float] = field(default_factory=dict)
    preferred_agent: int | None = None
    priority: int = 0
    base_priority: float = 0.0
    value_tier: int = 0
    sentiment: float = 0.0
    sla: float | None = None
    max_wait: float | None = None
    created_at: TimeLike | None = None
    strategy: str | None = None
    fanout: int | None = None

    def _spec(self, router: "Router") -> dict[str, Any]:
        return {
            "id": _id(self.id, "task"),
            "tenant": router.tenant(self.tenant),
            "channel": _channel(self.channel),
            "requirements": _requirements(router, self.skills, self.tags, self.certified),
            "preferences": {
                "skills": [[router.skill(s), w] for s, w in self.preferred_skills.items()],
                "tags": [[router.tag(t), w] for t, w in self.preferred_tags.items()],
                "preferred_agent": self.preferred_agent,
            },
            "customer": {"value_tier": self.value_tier, "sentiment": self.sentiment},
            "priority": {"class": self.priority, "base": self.base_priority},
            "sla_ms": None if self.sla is None else to_millis(self.sla),
            "max_wait_ms": None if self.max_wait is None else to_millis(self.max_wait),
            "created_at": None if self.created_at is None else to_millis(self.created_at),
            "strategy": self.strategy,
            "fanout": self.fanout,
        }


def _requirements(router: "Router", skills: Mapping[str, int], tags: Iterable[str],
                  certified: bool) -> dict[str, Any]:
    return {
        "skills": [{"skill": router.skill(s), "min_level": lvl} for s, lvl in skills.items()],
        "tags": [router.tag(t) for t in tags],
        "certification": bool(certified),
    }


# ----------------------------------------------------------------------------- router


class Router:
    """The deterministic routing state machine.

    Every state-changing method takes ``now`` (float seconds, ``datetime`` or ``timedelta``) and
    returns the list of :class:`Effect` it produced. Errors raise :mod:`switchboard.errors`
    classes and leave the router unchanged. ``config`` is a dict, JSON/TOML string or path with
    the fields of the Rust ``RouterConfig`` (``offer_timeout_ms``, ``default_strategy``...).
    """

    def __init__(self, config: ConfigLike = None, *, _native_router: Any = None) -> None:
        self._r = _native_router or _native.NativeRouter(_dumps(load_config(config)))

    def __repr__(self) -> str:
        a, live, waiting, offers = self._r.sizes()
        return f"Router(agents={a}, live_tasks={live}, waiting={waiting}, offers={offers})"

    # names
    def tenant(self, name: str) -> int:
        """The id of a tenant (brand) name, interning it on first use."""
        return self._r.intern("tenant", name)

    def skill(self, name: str) -> int:
        """The id of a skill name, interning it on first use."""
        return self._r.intern("skill", name)

    def tag(self, name: str) -> int:
        """The id of a tag name, interning it on first use."""
        return self._r.intern("tag", name)

    def name_of(self, kind: str, id: int) -> str | None:
        """The name behind an id: ``kind`` is ``"tenant"``, ``"skill"`` or ``"tag"``."""
        return self._r.name_of(kind, id)

    def _event(self, now: TimeLike, event: Mapping[str, Any]) -> list[Effect]:
        return _effects(self._r.handle(to_millis(now), _dumps(event)))

    # agents
    def add_agent(self, agent: Agent, now: TimeLike = 0.0) -> list[Effect]:
        """Registers an agent; an available one may at once be offered waiting tasks."""
        return self._event(now, {"type": "add_agent", **agent._spec(self)})

    def update_agent(self, agent: Agent, now: TimeLike = 0.0) -> list[Effect]:
        """Replaces an agent's skills, tags, certifications, capacity and state."""
        return self._event(now, {"type": "update_agent", **agent._spec(self)})

    def remove_agent(self, agent: int, now: TimeLike = 0.0) -> list[Effect]:
        """Removes an agent; its outstanding offers are rescinded."""
        return self._event(now, {"type": "remove_agent", "agent": _id(agent, "agent")})

    def set_agent_state(self, agent: int, state: str, now: TimeLike = 0.0) -> list[Effect]:
        """Sets ``"offline"``, ``"available"``, ``"away"`` or ``"wrap_up"``."""
        return self._event(now, {"type": "set_agent_state", "agent": _id(agent, "agent"),
                                 "state": state})

    # tasks
    def arrive(self, task: Task | Mapping[str, Any], now: TimeLike = 0.0) -> list[Effect]:
        """A task arrives: offered at once if an agent fits, else queued. ``task`` may also be
        a raw Rust ``TaskSpec`` dict (e.g. an escalation hand-over's ``task``)."""
        spec = task._spec(self) if isinstance(task, Task) else dict(task)
        return self._event(now, {"type": "arrive", **spec})

    def accept(self, offer: int, agent: int, now: TimeLike = 0.0) -> list[Effect]:
        """The agent accepts the offer: the task is assigned."""
        return _effects(self._r.accept(to_millis(now), _id(offer, "offer"), _id(agent, "agent")))

    def reject(self, offer: int, agent: int, now: TimeLike = 0.0) -> list[Effect]:
        """The agent declines the offer: the task is re-offered or queued."""
        return self._event(now, {"type": "reject", "offer": _id(offer, "offer"),
                                 "agent": _id(agent, "agent")})

    def complete(self, task: int, now: TimeLike = 0.0) -> list[Effect]:
        """The assigned task is done (wrap-up may follow)."""
        return _effects(self._r.complete(to_millis(now), _id(task, "task")))

    def finish_wrap_up(self, task: int, now: TimeLike = 0.0) -> list[Effect]:
        """Ends a task's wrap-up early."""
        return self._event(now, {"type": "finish_wrap_up", "task": _id(task, "task")})

    def cancel(self, task: int, now: TimeLike = 0.0) -> list[Effect]:
        """The host withdraws a task."""
        return self._event(now, {"type": "cancel", "task": _id(task, "task")})

    def abandon(self, task: int, now: TimeLike = 0.0) -> list[Effect]:
        """The customer left."""
        return self._event(now, {"type": "abandon", "task": _id(task, "task")})

    def transfer(self, task: int, channel: str, now: TimeLike = 0.0, *,
                 skills: Mapping[str, int] | None = None, tags: Iterable[str] = (),
                 certified: bool = False) -> list[Effect]:
        """Moves a task to another channel and/or requirements; it is routed again."""
        return self._event(now, {
            "type": "transfer", "task": _id(task, "task"), "channel": _channel(channel),
            "requirements": _requirements(self, skills or {}, tags, certified)})

    def reprioritize(self, task: int, now: TimeLike = 0.0, *, priority: int = 0,
                     base_priority: float = 0.0, value_tier: int = 0,
                     sentiment: float = 0.0) -> list[Effect]:
        """Changes a waiting task's priority and customer profile."""
        return self._event(now, {
            "type": "reprioritize", "task": _id(task, "task"),
            "priority": {"class": priority, "base": base_priority},
            "customer": {"value_tier": value_tier, "sentiment": sentiment}})

    # timers and batches
    def poll_timeout(self) -> float | None:
        """When (seconds) to call :meth:`handle_timeout` next, or ``None``."""
        return _secs(self._r.poll_timeout())

    def handle_timeout(self, now: TimeLike) -> list[Effect]:
        """Fires every timer due at ``now`` (offer expiry, wrap-up end, max wait...)."""
        return _effects(self._r.handle_timeout(to_millis(now)))

    def dispatch_batch(self, now: TimeLike) -> tuple[dict[str, Any], list[Effect]]:
        """Batch assignment (``dispatch = "batched"``): returns ``(report, effects)``."""
        report, effects = self._r.dispatch_batch(to_millis(now))
        return json.loads(report), _effects(effects)

    # inspection
    @property
    def now(self) -> float:
        """The latest time seen, seconds."""
        return self._r.now() / 1000.0

    @property
    def config(self) -> dict[str, Any]:
        """The configuration in force (every field, defaults filled in)."""
        return json.loads(self._r.config())

    @property
    def counters(self) -> dict[str, int]:
        """Lifetime counters (arrived, offered, assigned, completed...)."""
        return json.loads(self._r.counters())

    @property
    def agent_count(self) -> int:
        """Registered agents."""
        return self._r.sizes()[0]

    @property
    def live_tasks(self) -> int:
        """Tasks not yet finished."""
        return self._r.sizes()[1]

    @property
    def waiting_tasks(self) -> int:
        """Tasks waiting in queues."""
        return self._r.sizes()[2]

    @property
    def outstanding_offers(self) -> int:
        """Offers not yet answered."""
        return self._r.sizes()[3]

    def task_state(self, task: int) -> str | None:
        """``"waiting"``, ``"offered"``, ``"assigned"``, ``"wrap_up"``... or ``None`` if unknown."""
        return self._r.task_state(_id(task, "task"))

    def agent_state(self, agent: int) -> str | None:
        """The agent's presence state, or ``None`` if unknown."""
        s = self._r.agent_state(_id(agent, "agent"))
        return None if s is None else json.loads(s)

    def snapshot(self, now: TimeLike) -> dict[str, Any]:
        """Queues and agents at ``now`` (the Rust ``Snapshot`` as a dict)."""
        return json.loads(self._r.snapshot(to_millis(now)))

    def explain(self, task: int, agent: int) -> dict[str, Any]:
        """Why ``agent`` can or cannot serve ``task``: ``{"reasons": [...], ...}``."""
        return json.loads(self._r.explain(_id(task, "task"), _id(agent, "agent")))

    def explain_offer(self, offer: int) -> dict[str, Any] | None:
        """Why an outstanding offer was made (strategy, score, rank), or ``None``."""
        s = self._r.explain_offer(_id(offer, "offer"))
        return None if s is None else json.loads(s)

    def check_invariants(self) -> None:
        """Raises ``SwitchboardError`` if an internal invariant is broken (a bug)."""
        self._r.check_invariants()

    # persistence
    def export_state(self) -> str:
        """The whole state as a JSON string (for :meth:`from_state`)."""
        return self._r.export_state()

    @classmethod
    def from_state(cls, state: str | Mapping[str, Any]) -> "Router":
        """Rebuilds a router from :meth:`export_state` output."""
        text = state if isinstance(state, str) else _dumps(state)
        return cls(_native_router=_native.NativeRouter.from_state(text))

    @classmethod
    def from_policy(cls, policy: "PolicySet | PolicyLike", format: str | None = None, *,
                    add_pool: bool = True, first_agent_id: int = 1,
                    now: TimeLike = 0.0) -> "Router":
        """A router built from a policy set (a :class:`PolicySet`, or what it reads): its router
        settings and tenant shares, every declared name interned (tenants, skills and tags keep
        the policy's ids), and with ``add_pool`` the declared pool's agents registered
        ``"available"`` at ``now``, ids ``first_agent_id``, ``first_agent_id + 1``... group by
        group. Raises ``ConfigError`` for an invalid policy."""
        if not isinstance(policy, PolicySet):
            policy = PolicySet(policy, format)
        return policy.router(add_pool=add_pool, first_agent_id=first_agent_id, now=now)


# ----------------------------------------------------------------------------- policies


def _policy_text(policy: PolicyLike, format: str | None) -> tuple[str, str]:
    """The document and its format ("toml"/"json") of a policy given as a dict, a TOML or JSON
    string, or a path to a .toml/.json file; ``format`` overrides the guess."""
    if format not in (None, "toml", "json"):
        raise ConfigError(f"unknown policy format {format!r}: expected 'toml' or 'json'")
    if isinstance(policy, Mapping):
        return _dumps(dict(policy)), "json"
    if _is_path(policy):
        path = Path(policy)  # type: ignore[arg-type]
        guess = {".toml": "toml", ".json": "json"}.get(path.suffix.lower())
        return _read(path), format or guess or "toml"
    if isinstance(policy, str):
        return policy, format or ("json" if policy.strip()[:1] == "{" else "toml")
    raise ConfigError(f"invalid policy {policy!r}: expected dict, TOML/JSON string or path")


def check_policy(policy: PolicyLike, format: str | None = None) -> dict[str, Any]:
    """Validates and analyses a policy set (tenants, skills, tags, workflows, shares, pool; see
    docs/CONFIG.md) as ``switchboard check CONFIG --json`` does, without raising for problems:
    returns ``{"errors": [{"path", "message"}...], "warnings": [{"path", "message", "kind"}...],
    "summary": {"valid", "version", "tenants", "skills", "tags", "default_workflows",
    "tenant_workflows", "errors", "warnings", "text"}}``. ``policy`` is a dict, a TOML or JSON
    string (``format`` ``"toml"``/``"json"``, guessed when ``None``) or a path to a
    ``.toml``/``.json`` file. Raises ``ConfigError`` only for a document that is not a policy
    set at all (bad syntax, an unknown field)."""
    text, fmt = _policy_text(policy, format)
    return json.loads(_native.check_policy(text, fmt))


class PolicySet:
    """A routing policy set, read and validated (the Rust ``ValidPolicy``): router settings,
    declared skills (a taxonomy), tags and tenants with their shares, default and per-tenant
    workflows, the agent pool. ``policy`` is a dict, a TOML or JSON string (``format`` guessed
    when ``None``) or a path to a ``.toml``/``.json`` file.

    Raises ``ConfigError`` listing every problem, one per line with its path (e.g.
    ``tenants[0].workflows.presale.steps[1].target: ...``); :func:`check_policy` returns them
    instead, with the analysis warnings.
    """

    def __init__(self, policy: PolicyLike, format: str | None = None) -> None:
        text, fmt = _policy_text(policy, format)
        self._p = _native.NativePolicy(text, fmt)

    def __repr__(self) -> str:
        return f"PolicySet(version={self.version!r}, tenants={len(self.tenants)})"

    @property
    def version(self) -> str:
        """The policy's version label."""
        return self._p.version()

    @property
    def tenants(self) -> list[dict[str, Any]]:
        """The tenants in declaration order: ``id``, ``name``, ``sla_ms``, ``answer_target``,
        ``certified_only``, ``share`` (percentages resolved against the pool)."""
        return json.loads(self._p.tenants())

    @property
    def workflows(self) -> dict[str, Any]:
        """The resolved Rust ``WorkflowSet`` (``{"default": {...}, "tenants": {...}}``): a
        certified-only tenant's targets require certification."""
        return json.loads(self._p.workflows())

    def router(self, *, add_pool: bool = True, first_agent_id: int = 1,
               now: TimeLike = 0.0) -> Router:
        """A new :class:`Router` with the policy's settings, shares and names; see
        :meth:`Router.from_policy`."""
        return Router(_native_router=self._p.router(add_pool, _id(first_agent_id, "agent"),
                                                    to_millis(now)))

    def apply_to(self, router: Router, workflows: "Workflows", now: TimeLike) -> dict[str, Any]:
        """Swaps this policy into a running router and its :class:`Workflows` without losing a
        task: new names are interned (existing ids never change), tenant shares are set by
        tenant name, and the workflows are reloaded (waiting tasks keep their age and move to
        the matching step). The router's other settings stay as created. Returns the reload
        report (``moved``, ``orphaned``, ``deferred``, ``dropped``)."""
        return json.loads(self._p.apply_to(router._r, workflows._w, to_millis(now)))


# ----------------------------------------------------------------------------- workflows


class Workflows:
    """Runs workflows next to ``router`` (the Rust ``WorkflowEngine``): each task follows the
    workflow of its tenant and task type, whose steps widen its target as it ages, and exception
    rules (wait time, queue length) raise its priority, move, overflow, hand it to a bot, turn
    it into a callback or send it to a fallback target.

    ``workflows`` is a :class:`PolicySet` (its workflows) or a Rust ``WorkflowSet`` (dict, JSON/TOML
    string or path: ``{"default": {type: workflow}, "tenants": {name: {type: workflow}}}``); its
    names must already be known to ``router`` (:meth:`Router.from_policy` interns them).

    The host loop: :meth:`arrive` new tasks instead of :meth:`Router.arrive`; call
    :meth:`handle_timeout` at :meth:`poll_timeout` (it fires the router's timers too); drain
    :meth:`poll_effects` (``step_entered``, ``exception_fired``, ``callback``); call
    :meth:`forget` when a task completes. Other calls (accept, complete...) go to the router.
    """

    def __init__(self, router: Router, workflows: "PolicySet | ConfigLike" = None, *,
                 _native_flows: Any = None) -> None:
        self._router = router
        if _native_flows is None:
            _native_flows = _native.NativeWorkflows(_workflow_set(workflows), router._r)
        self._w = _native_flows

    def __repr__(self) -> str:
        return f"Workflows(tracked={self.tracked}, task_types={sorted(self._task_types())})"

    def _task_types(self) -> set[str]:
        ws = self.workflows
        return set(ws.get("default", {})).union(*ws.get("tenants", {}).values())

    @classmethod
    def from_policy(cls, router: Router, policy: "PolicySet | PolicyLike",
                    format: str | None = None) -> "Workflows":
        """The workflows of a policy set (a :class:`PolicySet`, or what it reads)."""
        if not isinstance(policy, PolicySet):
            policy = PolicySet(policy, format)
        return cls(router, policy)

    def arrive(self, task: Task | Mapping[str, Any], task_type: str, now: TimeLike = 0.0, *,
               attrs: Mapping[str, AttrValue] | None = None) -> list[Effect]:
        """Routes a new task through its tenant's workflow for ``task_type``: it enters the first
        step its age has not passed (and whose ``skip_if`` does not hold) with that step's target
        in place of its own requirements. ``attrs`` are the task attributes targets read
        (``task.lang``...). Returns the router's effects. Raises ``WorkflowError`` when no
        workflow fits or a target bound to the attributes does not compile, router errors as
        :meth:`Router.arrive`."""
        spec = task._spec(self._router) if isinstance(task, Task) else dict(task)
        return _effects(self._w.arrive(self._router._r, to_millis(now), _dumps(spec),
                                       task_type, _dumps(dict(attrs or {}))))

    def poll_timeout(self) -> float | None:
        """When (seconds) to call :meth:`handle_timeout` next: the earlier of the router's timers
        and the workflows' deadlines, or ``None``."""
        return _secs(self._w.poll_timeout(self._router._r))

    def handle_timeout(self, now: TimeLike) -> list[Effect]:
        """Fires the router's due timers, then every due widening and wait-time rule; returns the
        router's effects."""
        return _effects(self._w.handle_timeout(self._router._r, to_millis(now)))

    def poll_effects(self) -> list[dict[str, Any]]:
        """Drains what the host should know or do: ``{"type": "step_entered", "task", "workflow",
        "step", "skipped"}``, ``exception_fired`` (``task``, ``rule``) and ``callback`` (the
        task was cancelled: call the customer back)."""
        return json.loads(self._w.poll_effects())

    def forget(self, task: int) -> None:
        """Stops tracking a task (call it when the task completes; gone tasks are also dropped
        when met)."""
        self._w.forget(_id(task, "task"))

    def reload(self, workflows: ConfigLike, now: TimeLike) -> dict[str, Any]:
        """Swaps in a new ``WorkflowSet``: waiting tasks keep their age and move to the matching
        step of their new workflow. Returns the report (``moved``, ``orphaned``, ``deferred``,
        ``dropped``); raises ``ConfigError`` (nothing changed) if the set does not compile. To
        swap a whole policy (names and shares too) use :meth:`PolicySet.apply_to`."""
        return json.loads(self._w.reload(self._router._r, to_millis(now),
                                         _workflow_set(workflows)))

    def task(self, task: int) -> dict[str, Any] | None:
        """What the engine knows about a tracked task (``workflow``, ``step``, ``fired``...), or
        ``None``."""
        s = self._w.task(_id(task, "task"))
        return None if s is None else json.loads(s)

    @property
    def tracked(self) -> int:
        """Tasks tracked."""
        return self._w.tracked()

    @property
    def workflows(self) -> dict[str, Any]:
        """The ``WorkflowSet`` in force."""
        return json.loads(self._w.workflows())

    def export_state(self) -> str:
        """The tracked tasks as a JSON string: save it with :meth:`Router.export_state` and
        restore both together (:meth:`from_state`)."""
        return self._w.export_state()

    @classmethod
    def from_state(cls, router: Router, workflows: "PolicySet | ConfigLike",
                   state: str | Mapping[str, Any]) -> "Workflows":
        """Resumes :meth:`export_state` output next to ``router`` (restored from the same
        moment) under ``workflows`` (the set the tasks ran under)."""
        text = state if isinstance(state, str) else _dumps(state)
        return cls(router, _native_flows=_native.NativeWorkflows.from_state(
            _workflow_set(workflows), router._r, text))


def _workflow_set(workflows: "PolicySet | ConfigLike") -> str:
    if isinstance(workflows, PolicySet):
        return workflows._p.workflows()
    return _dumps(load_config(workflows))


# ----------------------------------------------------------------------------- escalation


class EscalationPolicy:
    """An escalation policy configuration (the Rust ``PolicyConfig``), validated when an
    :class:`EscalationEngine` compiles it. Accepts a dict, JSON/TOML string or path."""

    def __init__(self, config: ConfigLike = None) -> None:
        self.config: dict[str, Any] = load_config(config)

    def __repr__(self) -> str:
        return f"EscalationPolicy({self.config!r})"


class Guardrail:
    """Phrase and pattern guardrails (the Rust ``GuardrailConfig``), sharing ``router``'s names."""

    def __init__(self, router: Router, config: ConfigLike = None) -> None:
        self.config: dict[str, Any] = load_config(config)
        self._router = router
        self._g = _native.NativeGuardrail(_dumps(self.config), router._r)

    def __repr__(self) -> str:
        return f"Guardrail(version={self.version!r}, phrases={self._g.phrase_count()})"

    @property
    def version(self) -> str:
        """The configuration's version string."""
        return self._g.version()

    def scan(self, tenant: str, text: str, speaker: str = "customer") -> dict[str, Any]:
        """Scans one text: ``{"hits": [...], "action": ...}`` (the Rust ``Scan``)."""
        return json.loads(self._g.scan(self._router.tenant(tenant), speaker, text))


class EscalationEngine:
    """Decides per conversation turn whether the bot keeps it or a human takes over.

    Shares ``router``'s names so hand-over tasks can go to :meth:`Router.arrive` unchanged.
    Decisions come back as dicts: ``{"action": ..., "effects": [...], ...}``.
    """

    def __init__(self, router: Router, policy: EscalationPolicy | ConfigLike = None,
                 guardrail: ConfigLike = None) -> None:
        if not isinstance(policy, EscalationPolicy):
            policy = EscalationPolicy(policy)
        self.policy = policy
        self._router = router
        g = None if guardrail is None else _dumps(load_config(guardrail))
        self._e = _native.NativeEscalation(_dumps(policy.config), router._r, g)

    def __repr__(self) -> str:
        return f"EscalationEngine(policy_version={self._e.policy_version()!r})"

    def open(self, conversation: int, tenant: str, now: TimeLike = 0.0) -> None:
        """Opens a conversation, owned by the bot."""
        self._e.open(to_millis(now), _id(conversation, "conversation"), self._router.tenant(tenant))

    def observe(self, conversation: int, signal: Mapping[str, Any],
                now: TimeLike = 0.0) -> dict[str, Any]:
        """Feeds any signal (the Rust ``Signal`` as a dict, e.g. ``{"type": "tick"}``)."""
        return json.loads(self._e.observe(to_millis(now), _id(conversation, "conversation"),
                                          _dumps(signal)))

    def turn(self, conversation: int, text: str | None, now: TimeLike = 0.0, *,
             speaker: str = "customer", evidence: Iterable[Mapping[str, Any]] = ()) -> dict[str, Any]:
        """Feeds one conversation turn and returns the decision."""
        return self.observe(conversation, {"type": "turn", "speaker": speaker, "text": text,
                                           "evidence": list(evidence)}, now)

    def set_load(self, *, projected_wait: float = 0.0, sla: float = 60.0, staffed: bool = True,
                 in_hours: bool = True) -> None:
        """Tells the engine the human side's load (seconds) for load gating."""
        self._e.set_load(_dumps({"projected_wait_ms": to_millis(projected_wait),
                                 "sla_ms": to_millis(sla), "staffed": staffed,
                                 "in_hours": in_hours}))

    def poll_timeout(self) -> float | None:
        """When (seconds) to call :meth:`handle_timeout` next."""
        return _secs(self._e.poll_timeout())

    def handle_timeout(self, now: TimeLike) -> list[dict[str, Any]]:
        """Fires due timers; returns their decisions."""
        return json.loads(self._e.handle_timeout(to_millis(now)))

    def conversation(self, conversation: int) -> dict[str, Any] | None:
        """An open conversation's state, or ``None``."""
        s = self._e.conversation(_id(conversation, "conversation"))
        return None if s is None else json.loads(s)

    def close(self, conversation: int) -> dict[str, Any]:
        """Closes a conversation (counted in the metrics) and returns its final state."""
        return json.loads(self._e.close(_id(conversation, "conversation")))

    @property
    def metrics(self) -> dict[str, Any]:
        """Counters: escalations by layer, hand-backs, contained, refused..."""
        return json.loads(self._e.metrics())


REPLAY_DEMO: str = _native.REPLAY_DEMO
"""Six labelled demo conversations (JSON lines) for :func:`replay`, as ``switchboard replay
--demo`` uses."""


def replay(transcripts: "str | os.PathLike[str] | Iterable[Mapping[str, Any]]",
           policy: EscalationPolicy | ConfigLike = None, *, guardrail: ConfigLike = None,
           projected_wait: float = 60.0, sla: float = 60.0, staffed: bool = True,
           in_hours: bool = True, show: str = "actions") -> dict[str, Any]:
    """Replays conversation history through an escalation policy, as ``switchboard replay
    --json`` does, to tune the policy on your own data (without the GIL).

    ``transcripts`` is JSON lines text, a path to such a file, or an iterable of dicts: one
    conversation each, ``{"id", "tenant", "needs_human_at", "events": [{"at_ms", "signal"}...]}``
    where ``needs_human_at`` is the label (the 1-based customer turn at which a human was really
    needed, or ``None``). The policy (default: the built-in one) sees a fixed load:
    ``projected_wait`` against ``sla`` (seconds), ``staffed``, ``in_hours``.

    Returns ``{"decisions": [...], "summary": {...}, "errors": [...]}``: the decisions ``show``
    asks for (``"all"``, ``"actions"`` — those other than ``continue`` — or ``"summary"``:
    none), the summary (``true_positive``... ``precision``, ``recall``, ``offset_histogram``,
    ``early``/``on_time``/``late``, the engine's ``metrics``) and the messages of lines or
    events that could not be replayed (skipped, counted in ``summary["errors"]``). Raises
    ``ConfigError`` for an invalid policy or guardrail.
    """
    if isinstance(transcripts, os.PathLike) or (
            isinstance(transcripts, str) and "\n" not in transcripts
            and transcripts.strip()[:1] != "{"):
        text = _read(Path(transcripts))
    elif isinstance(transcripts, str):
        text = transcripts
    else:
        text = "\n".join(_dumps(t) for t in transcripts)
    if not isinstance(policy, EscalationPolicy):
        policy = EscalationPolicy(policy)
    load = {"projected_wait_ms": to_millis(projected_wait), "sla_ms": to_millis(sla),
            "staffed": staffed, "in_hours": in_hours}
    g = None if guardrail is None else _dumps(load_config(guardrail))
    p = _dumps(policy.config) if policy.config else None
    return json.loads(_native.replay(text, p, _dumps(load), g, show))


# ----------------------------------------------------------------------------- ledger


class Ledger:
    """SLA ledger: per tenant x queue x interval service level, ASA, abandonment, AHT, CSAT.

    Feed it arrivals and the router's effects; ``config`` has the Rust ``LedgerConfig`` fields
    (``interval_minutes``...). Tenant names resolve through ``router``.
    """

    def __init__(self, router: Router, config: ConfigLike = None) -> None:
        self._router = router
        self._l = _native.NativeLedger(_dumps(load_config(config)))

    def __repr__(self) -> str:
        return f"Ledger(records={len(json.loads(self._l.records()))})"

    def arrival(self, task: Task, now: TimeLike = 0.0, *, queue: int | None = None,
                outreach: bool = False) -> None:
        """Records a task's arrival (call it with the same ``now`` as :meth:`Router.arrive`)."""
        self._l.arrival(to_millis(now), _dumps({
            "task": _id(task.id, "task"), "tenant": self._router.tenant(task.tenant),
            "queue": queue, "channel": _channel(task.channel),
            "sla_ms": None if task.sla is None else to_millis(task.sla),
            "created_at": None if task.created_at is None else to_millis(task.created_at),
            "outreach": outreach}))

    def observe(self, effects: Iterable[Effect], now: TimeLike = 0.0) -> None:
        """Records the router's effects."""
        self._l.observe(to_millis(now), _dumps([e.to_dict() for e in effects]))

    def agent_state(self, agent: int, state: str, now: TimeLike = 0.0) -> None:
        """Records an agent presence change (for occupancy)."""
        self._l.agent_state(to_millis(now), _id(agent, "agent"), _dumps(state))

    def outcome(self, task: int, *, csat: float | None = None,
                converted: bool | None = None) -> None:
        """Records a task's CSAT score and/or conversion."""
        self._l.outcome(_id(task, "task"), _dumps({"csat": csat, "converted": converted}))

    def report(self, now: TimeLike) -> dict[str, Any]:
        """Per-interval statistics and agent occupancy (the Rust ``LedgerReport``)."""
        return json.loads(self._l.report(to_millis(now)))

    def evaluate(self, tenant: str, guarantee: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Breaching intervals of a guarantee, e.g.
        ``{"type": "answer_rate", "min_rate": 0.8, "within_ms": 20000}``."""
        return json.loads(self._l.evaluate(self._router.tenant(tenant), _dumps(guarantee)))

    def records(self) -> list[dict[str, Any]]:
        """Every task record."""
        return json.loads(self._l.records())


# ----------------------------------------------------------------------------- operation


@dataclass(frozen=True)
class Output:
    """One output of an :class:`Operation` (the Rust ``operation::Output``), in the order it
    happened.

    ``kind`` is the Rust tag: ``"router"`` (``effect`` is then the router's :class:`Effect`,
    times in seconds), ``"workflow"``, ``"decision"``, ``"handover"``, ``"notice"``,
    ``"block_reply"``, ``"mask_text"``, ``"classify"``, ``"callback"``, ``"ticket"``,
    ``"offer_hand_back"``, ``"hand_back"``, ``"capacity_needed"`` or ``"closed"``.
    ``conversation`` is the conversation concerned, if any; ``data`` holds the other fields as
    the Rust crate serialises them (ids as ints, times in ms), e.g. ``data["task"]`` and
    ``data["handover"]`` of a ``"handover"``, ``data["action"]`` of a ``"decision"``,
    ``data["summary"]`` of a ``"hand_back"``, ``data["effect"]`` of a ``"workflow"``.
    ``output["task"]`` reads ``data``; :meth:`to_dict` gives the Rust JSON form back.
    """

    kind: str
    conversation: int | None = None
    effect: Effect | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        """A field of ``data``, or ``default``."""
        return self.data.get(key, default)

    def to_dict(self) -> dict[str, Any]:
        """The output as the Rust crate serialises it (``{"output": kind, ...}``)."""
        d: dict[str, Any] = {"output": self.kind}
        if self.conversation is not None:
            d["conversation"] = self.conversation
        if self.effect is not None:
            d["effect"] = self.effect.to_dict()
        d.update(self.data)
        return d


def output_from_dict(d: Mapping[str, Any]) -> Output:
    """Builds an :class:`Output` from its Rust JSON form."""
    d = dict(d)
    kind = d.pop("output")
    conversation = d.pop("conversation", None)
    effect = effect_from_dict(d.pop("effect")) if kind == "router" else None
    return Output(kind, conversation, effect, d)


def _outputs(js: str) -> list[Output]:
    return [output_from_dict(d) for d in json.loads(js)]


def _policy_doc(policy: "PolicySet | PolicyLike") -> dict[str, Any]:
    """A policy set as the document (dict) ``OperationConfig.policy`` holds."""
    if isinstance(policy, PolicySet):
        return json.loads(policy._p.document())
    text, fmt = _policy_text(policy, None)
    return _parse_text(text, toml=fmt == "toml")


def _call(native: Any, *args: Any) -> list[Output]:
    """Calls a native method returning outputs; a refused batch's ``outputs`` become objects."""
    try:
        return _outputs(native(*args))
    except Exception as e:
        if isinstance(getattr(e, "outputs", None), str):
            e.outputs = _outputs(e.outputs)  # type: ignore[attr-defined]
        raise


class Operation:
    """The whole operation in one deterministic engine (the Rust ``operation::Operation``): the
    bot front line with its guardrail and escalation policy, the routing policy's workflows, the
    router and the SLA ledger, composed in a fixed order behind one input type and one output
    type.

    ``config`` is the Rust ``OperationConfig`` as a dict, JSON/TOML string or path: ``router``
    (``RouterConfig``), ``policy`` (a policy set, the schema of policy files), ``escalation``
    (the escalation ``PolicyConfig``; without it there are no bot conversations), ``guardrail``,
    ``ledger`` (``LedgerConfig``) and ``handover_workflow`` (default ``"escalation"``). The
    keywords override those fields: ``policy`` a :class:`PolicySet` or what it reads;
    ``escalation`` an :class:`EscalationPolicy`, what it reads, or ``True`` for the built-in
    policy; ``guardrail`` and ``ledger`` dicts, JSON/TOML strings or paths.

    Every call that changes state takes ``now`` (float seconds, ``datetime`` or ``timedelta``;
    never earlier than the last call's) and returns the :class:`Output` objects it produced.
    A refused call raises a :mod:`switchboard.errors` class and changes nothing. The host loop:
    feed what happens (:meth:`open`, :meth:`turn`, :meth:`accept`, :meth:`complete`...), carry
    out the outputs (deliver ``router`` offers, show ``handover`` packets, send ``notice`` texts),
    and call :meth:`tick` at :meth:`poll_timeout`.
    """

    def __init__(self, config: ConfigLike = None, *, policy: "PolicySet | PolicyLike | None" = None,
                 escalation: "EscalationPolicy | ConfigLike | bool" = None,
                 guardrail: ConfigLike = None, ledger: ConfigLike = None,
                 _native_op: Any = None) -> None:
        if _native_op is None:
            cfg = load_config(config)
            if policy is not None:
                cfg["policy"] = _policy_doc(policy)
            if escalation is True:
                cfg["escalation"] = {}
            elif isinstance(escalation, EscalationPolicy):
                cfg["escalation"] = escalation.config
            elif escalation is not None and escalation is not False:
                cfg["escalation"] = load_config(escalation)
            if guardrail is not None:
                cfg["guardrail"] = load_config(guardrail)
            if ledger is not None:
                cfg["ledger"] = load_config(ledger)
            _native_op = _native.NativeOperation(_dumps(cfg))
        self._o = _native_op

    def __repr__(self) -> str:
        a, live, waiting, offers = self._o.sizes()
        return (f"Operation(now={self.now}, agents={a}, live_tasks={live}, waiting={waiting}, "
                f"offers={offers})")

    # names
    def tenant(self, name: str) -> int:
        """The id of a tenant (brand) name, interning it on first use."""
        return self._o.intern("tenant", name)

    def skill(self, name: str) -> int:
        """The id of a skill name, interning it on first use."""
        return self._o.intern("skill", name)

    def tag(self, name: str) -> int:
        """The id of a tag name, interning it on first use."""
        return self._o.intern("tag", name)

    def name_of(self, kind: str, id: int) -> str | None:
        """The name behind an id: ``kind`` is ``"tenant"``, ``"skill"`` or ``"tag"``."""
        return self._o.name_of(kind, id)

    # raw inputs
    def handle(self, input: Mapping[str, Any], now: TimeLike = 0.0) -> list[Output]:
        """Applies one input given in the Rust ``operation::Input`` JSON form (a dict tagged
        ``"input"``: ``router``, ``request``, ``open``, ``signal``, ``close``, ``outcome``,
        ``swap_policy``, ``tick``; ids and times as in Rust)."""
        return _call(self._o.handle, to_millis(now), _dumps(dict(input)))

    def handle_many(self, inputs: Iterable[Mapping[str, Any]],
                    now: TimeLike = 0.0) -> list[Output]:
        """Applies Rust ``Input`` dicts in order, all at ``now``, without holding the GIL, and
        returns the outputs of all of them. The whole list is checked first: a malformed input
        raises ``ConfigError`` and nothing is applied. The first input the operation refuses
        stops the batch: the inputs before it stay applied, and the exception raised has
        ``index`` (the refused input's position) and ``outputs`` (what the applied ones
        produced)."""
        return _call(self._o.handle_many, to_millis(now), _dumps([dict(i) for i in inputs]))

    def router_event(self, event: Mapping[str, Any], now: TimeLike = 0.0) -> list[Output]:
        """Applies a router event in the Rust ``Event`` JSON form (``{"type": "transfer",
        ...}``); a task that arrives this way skips the workflows (use :meth:`request`)."""
        return self.handle({"input": "router", "event": dict(event)}, now)

    # conversations (the bot front line)
    def open(self, conversation: int, tenant: str, now: TimeLike = 0.0) -> list[Output]:
        """A customer starts a conversation; the bot has it. Its hand-over tasks get router
        ids ``conversation << 8 | n``."""
        return self.handle({"input": "open", "conversation": _id(conversation, "conversation"),
                            "tenant": self.tenant(tenant)}, now)

    def signal(self, conversation: int, signal: Mapping[str, Any],
               now: TimeLike = 0.0) -> list[Output]:
        """Feeds a conversation any signal (the Rust ``Signal`` as a dict, e.g. ``{"type":
        "human_released"}`` or ``{"type": "hand_back_accepted"}``). ``queued`` and
        ``assigned`` are the operation's own and raise ``SwitchboardError``."""
        return self.handle({"input": "signal", "conversation": _id(conversation, "conversation"),
                            "signal": dict(signal)}, now)

    def turn(self, conversation: int, text: str | None, now: TimeLike = 0.0, *,
             speaker: str = "customer",
             evidence: Iterable[Mapping[str, Any]] | None = None) -> list[Output]:
        """A customer, bot or human turn: scanned by the guardrail, scored by the escalation
        policy, and carried out (a hand-over becomes a router task and its offers)."""
        return self.signal(conversation, {"type": "turn", "speaker": speaker, "text": text,
                                          "evidence": list(evidence or ())}, now)

    def close(self, conversation: int, now: TimeLike = 0.0) -> list[Output]:
        """The conversation ended: counted in the ledger's AI outcomes (a ``closed`` output);
        a request still waiting for it is cancelled."""
        return self.handle({"input": "close",
                            "conversation": _id(conversation, "conversation")}, now)

    # requests and the router
    def request(self, task: Task | Mapping[str, Any], now: TimeLike = 0.0, *,
                workflow: str | None = None,
                attrs: Mapping[str, AttrValue] | None = None) -> list[Output]:
        """A human request not from a bot conversation, through its tenant's workflow for the
        task type ``workflow`` when given (needs a routing policy), else straight to the
        router. ``task`` is a :class:`Task` or a raw Rust ``TaskSpec`` dict."""
        spec = task._spec(self) if isinstance(task, Task) else dict(task)  # type: ignore[arg-type]
        return self.handle({"input": "request", "spec": spec, "workflow": workflow,
                            "attrs": dict(attrs or {})}, now)

    def add_agent(self, agent: Agent, now: TimeLike = 0.0) -> list[Output]:
        """Registers an agent (recorded by the ledger for occupancy)."""
        spec = agent._spec(self)  # type: ignore[arg-type]
        return self.router_event({"type": "add_agent", **spec}, now)

    def update_agent(self, agent: Agent, now: TimeLike = 0.0) -> list[Output]:
        """Replaces an agent's skills, tags, certifications, capacity and state."""
        spec = agent._spec(self)  # type: ignore[arg-type]
        return self.router_event({"type": "update_agent", **spec}, now)

    def remove_agent(self, agent: int, now: TimeLike = 0.0) -> list[Output]:
        """Removes an agent; its outstanding offers are rescinded."""
        return self.router_event({"type": "remove_agent", "agent": _id(agent, "agent")}, now)

    def set_agent_state(self, agent: int, state: str, now: TimeLike = 0.0) -> list[Output]:
        """Sets ``"offline"``, ``"available"``, ``"away"`` or ``"wrap_up"``."""
        return self.router_event({"type": "set_agent_state", "agent": _id(agent, "agent"),
                                  "state": state}, now)

    def accept(self, offer: int, agent: int, now: TimeLike = 0.0) -> list[Output]:
        """The agent accepts the offer: the task is assigned (and a conversation's owner
        becomes the human)."""
        return self.router_event({"type": "accept", "offer": _id(offer, "offer"),
                                  "agent": _id(agent, "agent")}, now)

    def reject(self, offer: int, agent: int, now: TimeLike = 0.0) -> list[Output]:
        """The agent declines the offer: the task is re-offered or queued."""
        return self.router_event({"type": "reject", "offer": _id(offer, "offer"),
                                  "agent": _id(agent, "agent")}, now)

    def complete(self, task: int, now: TimeLike = 0.0) -> list[Output]:
        """The assigned task is done; a conversation's human stretch ends (the bot may get it
        back: a ``hand_back`` output)."""
        return self.router_event({"type": "complete", "task": _id(task, "task")}, now)

    def finish_wrap_up(self, task: int, now: TimeLike = 0.0) -> list[Output]:
        """Ends a task's wrap-up early."""
        return self.router_event({"type": "finish_wrap_up", "task": _id(task, "task")}, now)

    def cancel(self, task: int, now: TimeLike = 0.0) -> list[Output]:
        """The host withdraws a task."""
        return self.router_event({"type": "cancel", "task": _id(task, "task")}, now)

    def abandon(self, task: int, now: TimeLike = 0.0) -> list[Output]:
        """The customer left."""
        return self.router_event({"type": "abandon", "task": _id(task, "task")}, now)

    def outcome(self, task: int, now: TimeLike = 0.0, *, csat: float | None = None,
                converted: bool | None = None) -> list[Output]:
        """What a served task achieved (CSAT, conversion), for the ledger."""
        return self.handle({"input": "outcome", "task": _id(task, "task"),
                            "outcome": {"csat": csat, "converted": converted}}, now)

    def swap_policy(self, policy: "PolicySet | PolicyLike", now: TimeLike = 0.0) -> list[Output]:
        """Swaps the routing policy at run time (names, shares, workflows) without losing a
        task. Raises ``ConfigError`` (nothing changed) for a policy that does not validate or
        whose workflows do not compile, ``SwitchboardError`` when the operation was built
        without a routing policy."""
        return self.handle({"input": "swap_policy", "policy": _policy_doc(policy)}, now)

    # timers
    def tick(self, now: TimeLike) -> list[Output]:
        """Fires every timer due by ``now``: offers and waits, workflow steps and exception
        rules, conversation timers."""
        return _call(self._o.handle_timeout, to_millis(now))

    handle_timeout = tick

    def poll_timeout(self) -> float | None:
        """When (seconds) to call :meth:`tick` next, or ``None``."""
        return _secs(self._o.poll_timeout())

    # inspection
    @property
    def now(self) -> float:
        """The time of the last input, seconds."""
        return self._o.now() / 1000.0

    @property
    def config(self) -> dict[str, Any]:
        """The ``OperationConfig`` in force (with the policy last swapped in)."""
        return json.loads(self._o.config())

    @property
    def counters(self) -> dict[str, int]:
        """The router's lifetime counters."""
        return json.loads(self._o.counters())

    @property
    def metrics(self) -> dict[str, Any] | None:
        """The escalation engine's counters (escalations by layer, hand-backs, contained...),
        or ``None`` without a bot front line."""
        s = self._o.escalation_metrics()
        return None if s is None else json.loads(s)

    def snapshot(self, now: TimeLike) -> dict[str, Any]:
        """The router's queues and agents at ``now`` (the Rust ``Snapshot``)."""
        return json.loads(self._o.snapshot(to_millis(now)))

    def conversation(self, conversation: int) -> dict[str, Any] | None:
        """An open conversation's state (the Rust ``Conversation``: ``owner``...), or
        ``None``."""
        s = self._o.conversation(_id(conversation, "conversation"))
        return None if s is None else json.loads(s)

    def owner(self, conversation: int) -> str | None:
        """Who has an open conversation: ``"bot"``, ``"pending_human"`` or ``"human"``..., or
        ``None``."""
        c = self.conversation(conversation)
        return None if c is None else c["owner"]["owner"]

    def link(self, task: int) -> int | None:
        """The conversation a router task serves, or ``None``."""
        return self._o.link(_id(task, "task"))

    def task_state(self, task: int) -> str | None:
        """The router's state of a live task (``"waiting"``, ``"offered"``...), or ``None``."""
        return self._o.task_state(_id(task, "task"))

    def ledger_report(self, now: TimeLike) -> dict[str, Any]:
        """The ledger's report at ``now`` (the Rust ``LedgerReport``)."""
        return json.loads(self._o.ledger_report(to_millis(now)))

    # persistence
    def export_state(self) -> str:
        """Every engine's state and the configuration as a JSON string (the Rust
        ``OperationState``), for :meth:`from_state`."""
        return self._o.export_state()

    @classmethod
    def from_state(cls, state: str | Mapping[str, Any]) -> "Operation":
        """Restores :meth:`export_state` output; applying the inputs that followed gives the
        same state as applying every input from the start."""
        text = state if isinstance(state, str) else _dumps(state)
        return cls(_native_op=_native.NativeOperation.from_state(text))


# ----------------------------------------------------------------------------- simulation


def simulate(scenario: ConfigLike, *, arrays: bool = True) -> dict[str, Any]:
    """Runs a simulation scenario (dict, JSON/TOML string or path) to the end, without holding
    the GIL, and returns the report as a dict. With ``arrays`` and numpy installed, the report
    also has ``"series_arrays"``: each numeric series field as a numpy array."""
    return _with_arrays(json.loads(_native.simulate(_dumps(load_config(scenario)))), arrays)


def simulate_file(path: "str | os.PathLike[str]", *, seed: int | None = None,
                  arrays: bool = True) -> dict[str, Any]:
    """Runs a scenario file (JSON, or TOML by the ``.toml`` extension) as ``switchboard simulate``
    does: a ``"policy"`` given as a file name is read relative to the scenario's directory, so
    scenarios with workflow and bot streams run as written. ``seed`` overrides the scenario's.
    Runs without the GIL; returns the report as :func:`simulate` does. Raises ``ConfigError``
    for a file that cannot be read or parsed, or an invalid scenario or policy."""
    if seed is not None:
        seed = _id(seed, "seed")
    return _with_arrays(json.loads(_native.simulate_file(_path(path, "scenario"), seed)), arrays)


def _with_arrays(report: dict[str, Any], arrays: bool) -> dict[str, Any]:
    if arrays:
        try:
            import numpy as np
        except ImportError:  # pragma: no cover - numpy is optional
            return report
        series = report.get("series", [])
        keys = [k for k in (series[0] if series else {}) if k != "tenant"]
        out: dict[str, Any] = {"tenant": np.array([p["tenant"] for p in series])}
        for k in keys:
            out[k] = np.array([np.nan if p[k] is None else p[k] for p in series], dtype=float)
        report["series_arrays"] = out
    return report


# ----------------------------------------------------------------------------- staffing


def _traffic(arrival_rate: float, aht: float, patience: float | None,
             concurrency: int) -> str:
    return _dumps({"arrival_rate": arrival_rate, "aht_secs": aht, "patience_secs": patience,
                   "concurrency": concurrency})


def _target(answer_within: float, service_level: float, definition: str,
            **extra: float | None) -> dict[str, Any]:
    t: dict[str, Any] = {"answer_within_secs": answer_within, "service_level": service_level,
                         "definition": definition}
    t.update({k: v for k, v in extra.items() if v is not None})
    return t


def erlang_c(arrival_rate: float, aht: float, agents: Any, *, concurrency: int = 1,
             answer_within: float = 20.0) -> dict[str, Any]:
    """Erlang C (no abandonment) measures for ``agents`` agents; rates per second, times in
    seconds. ``agents`` may be an int (scalar results) or a sequence/numpy array (numpy array
    results). Keys: ``p_wait``, ``asa_secs``, ``service_level``, ``occupancy``..."""
    return _metrics(_traffic(arrival_rate, aht, None, concurrency), "erlang_c", agents,
                    answer_within)


def erlang_a(arrival_rate: float, aht: float, patience: float, agents: Any, *,
             concurrency: int = 1, answer_within: float = 20.0,
             definition: str = "abandons_missed") -> dict[str, Any]:
    """Erlang A (exponential patience, mean ``patience`` s) measures; as :func:`erlang_c` plus
    ``p_abandon`` and the service level under ``definition``."""
    return _metrics(_traffic(arrival_rate, aht, patience, concurrency), "erlang_a", agents,
                    answer_within, definition)


def _metrics(traffic: str, model: str, agents: Any, answer_within: float,
             definition: str = "abandons_missed") -> dict[str, Any]:
    target = _dumps(_target(answer_within, 0.5, definition))
    if isinstance(agents, int) and not isinstance(agents, bool):
        return json.loads(_native.queue_metrics(traffic, f'"{model}"', agents, target))
    import numpy as np

    rows = [json.loads(_native.queue_metrics(traffic, f'"{model}"', int(n), target))
            for n in np.asarray(agents).ravel()]
    out: dict[str, Any] = {"model": model}
    for k in rows[0] if rows else ():
        if k != "model":
            out[k] = np.array([r[k] for r in rows])
    return out


def agents_for(arrival_rate: float, aht: float, answer_within: float, service_level: float, *,
               patience: float | None = None, concurrency: int = 1,
               definition: str = "abandons_missed", max_asa: float | None = None,
               max_abandon: float | None = None, max_occupancy: float | None = None) -> dict[str, Any]:
    """The fewest agents meeting a service-level target (Erlang A when ``patience`` is given,
    else Erlang C); returns the measures at that staffing (``agents`` included)."""
    model = "erlang_c" if patience is None else "erlang_a"
    target = _target(answer_within, service_level, definition, max_asa_secs=max_asa,
                     max_abandon=max_abandon, max_occupancy=max_occupancy)
    return json.loads(_native.agents_for(_traffic(arrival_rate, aht, patience, concurrency),
                                         _dumps(target), f'"{model}"'))


def plan(forecast: Iterable[Mapping[str, Any]], *, interval: float = 1800.0,
         answer_within: float = 20.0, service_level: float = 0.8, model: str = "erlang_c",
         shrinkage: float = 0.0, definition: str = "abandons_missed") -> dict[str, Any]:
    """Interval staffing plan. ``forecast`` rows: ``{"interval", "group", "contacts",
    "aht_secs"[, "patience_secs", "concurrency"]}``. Returns the Rust ``Plan`` as a dict
    (``cells`` and ``totals``); runs without the GIL."""
    settings = _plan_settings(interval, answer_within, service_level, model, shrinkage,
                              definition)
    return json.loads(_native.plan(_dumps(list(forecast)), _dumps(settings)))


def _plan_settings(interval: float, answer_within: float, service_level: float, model: str,
                   shrinkage: float, definition: str) -> dict[str, Any]:
    return {"interval_secs": interval, "model": model, "shrinkage": shrinkage,
            "target": _target(answer_within, service_level, definition)}


def verify_plan(forecast: Iterable[Mapping[str, Any]], *, interval: float = 1800.0,
                answer_within: float = 20.0, service_level: float = 0.8,
                model: str = "erlang_c", shrinkage: float = 0.0,
                definition: str = "abandons_missed", verify: ConfigLike = None) -> dict[str, Any]:
    """:func:`plan`, then checked with the simulator (the real router), as ``switchboard staff
    plan --verify``: agents are added to the (interval, group) cells that miss the target in
    simulation until they meet it. ``verify`` holds the Rust ``VerifySettings`` fields
    (``overlap`` — a group to the other groups its agents can also serve —, ``replications``,
    ``max_replications``, ``max_rounds``, ``seed``, ``z``, ``tolerance``...). ``interval`` must
    be a whole number of minutes. Runs without the GIL; returns the Rust ``VerifiedPlan`` as a
    dict (``plan``, ``cells`` with simulated service levels and verdicts, ``rounds``,
    ``added``, ``met``...). Raises ``StaffingError`` as :func:`plan`, ``ConfigError`` for
    input the simulator cannot model."""
    settings = _plan_settings(interval, answer_within, service_level, model, shrinkage,
                              definition)
    v = None if verify is None else _dumps(load_config(verify))
    return json.loads(_native.verify_plan(_dumps(list(forecast)), _dumps(settings), v))


def erlang_b(servers: int, load: float) -> float:
    """Erlang B blocking probability for ``servers`` servers and ``load`` Erlangs."""
    return _native.erlang_b(servers, load)
