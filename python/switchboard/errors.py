"""Exceptions raised by switchboard. Every Rust error keeps its message unchanged.

Hierarchy::

    SwitchboardError
    ├── ConfigError (also ValueError)   bad configuration, scenario, policy, state or JSON
    ├── RouterError                     a router call refused (nothing changed)
    │   ├── NotFoundError (also KeyError)  unknown agent, task, offer, conversation or name
    │   ├── ConflictError               duplicate id, wrong agent, expired offer, bad task state
    │   └── TimeWentBackwardsError      a call carried a time earlier than one already seen
    ├── EscalationError                 the escalation engine refused a signal
    ├── WorkflowError                   the workflow engine refused a task
    ├── StaffingError                   Erlang/staffing input invalid, unstable or unreachable
    └── SimulationError                 the simulator failed while running
"""

from __future__ import annotations

__all__ = [
    "SwitchboardError",
    "ConfigError",
    "RouterError",
    "NotFoundError",
    "ConflictError",
    "TimeWentBackwardsError",
    "EscalationError",
    "WorkflowError",
    "StaffingError",
    "SimulationError",
]


class SwitchboardError(Exception):
    """Base class of every error switchboard raises."""


class ConfigError(SwitchboardError, ValueError):
    """Invalid configuration, scenario, policy, workflow set, saved state, time or JSON document."""


class RouterError(SwitchboardError):
    """The router refused a call; its state is unchanged."""


class NotFoundError(RouterError, KeyError):
    """An unknown agent, task, offer, conversation or name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ConflictError(RouterError):
    """A duplicate id, an answer from the wrong agent, an expired offer or a bad task state."""


class TimeWentBackwardsError(RouterError):
    """A call carried a time earlier than one the router (or engine) has already seen."""


class EscalationError(SwitchboardError):
    """The escalation engine refused a signal; the conversation is unchanged."""


class WorkflowError(SwitchboardError):
    """The workflow engine refused a task: no workflow for its tenant and task type, or a step
    target bound to its attributes does not compile. Router refusals keep their own classes."""


class StaffingError(SwitchboardError):
    """Staffing input invalid, the queue unstable, or the target unreachable."""


class SimulationError(SwitchboardError):
    """The simulator failed while running a (valid) scenario."""
