//! The engines of an `Operation` wired by hand, the way a host would do it without the
//! composed engine (through the workflow module's `drive_*` helpers): the reference of the
//! property test in `tests/operation.rs` and the baseline of `benches/operation.rs`. (Not under
//! `tests/common/`: it is included by path where needed.)

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use switchboard::escalation::{
    Action, BuiltinClassifier, ConversationId, Decision, Directive, EscalationEngine,
    EscalationPolicy, Signal, TransferFailure,
};
use switchboard::ledger::{Arrival, Ledger};
use switchboard::operation::{Input, ObservedLoad, OperationConfig, Output};
use switchboard::workflow::{WorkflowEngine, drive_arrive, drive_timeout};
use switchboard::*;

type Bots = EscalationEngine<ObservedLoad, (), BuiltinClassifier>;

/// The same engines wired by hand, as a host would without `Operation`.
pub struct HandWired {
    pub router: Router,
    pub flows: WorkflowEngine,
    pub bots: Bots,
    pub ledger: Ledger,
    links: BTreeMap<TaskId, ConversationId>,
    live: HashMap<TaskId, (TenantId, Time, u64)>,
    withdrawn: BTreeSet<TaskId>,
    pub out: Vec<Output>,
    pub now: Time,
}

impl HandWired {
    /// The engines `Operation::new(cfg)` would build (a policy and an escalation policy are
    /// required).
    pub fn new(cfg: OperationConfig) -> Self {
        let valid = cfg.policy.as_ref().unwrap().validate().unwrap();
        let mut router = valid.router().unwrap();
        let flows = WorkflowEngine::new(valid.workflows().clone(), router.catalog()).unwrap();
        let policy =
            EscalationPolicy::compile(cfg.escalation.clone().unwrap(), router.catalog_mut())
                .unwrap();
        let bots = EscalationEngine::new(
            policy,
            ObservedLoad::default(),
            (),
            BuiltinClassifier::new().unwrap(),
        );
        HandWired {
            router,
            flows,
            bots,
            ledger: Ledger::new(cfg.ledger),
            links: BTreeMap::new(),
            live: HashMap::new(),
            withdrawn: BTreeSet::new(),
            out: Vec::new(),
            now: Time::ZERO,
        }
    }

    /// Applies an input the composed engine accepted.
    pub fn apply(&mut self, now: Time, input: Input) {
        self.now = now;
        match input {
            Input::Router { event: Event::Tick } | Input::Tick => self.timers(now),
            Input::Router { event } => {
                let arrival = match &event {
                    Event::Arrive(spec) => Some(spec.clone()),
                    _ => None,
                };
                let presence = match &event {
                    Event::AddAgent(s) | Event::UpdateAgent(s) => {
                        Some((s.id, Some(s.capacity), s.state))
                    }
                    Event::SetAgentState { agent, state } => Some((*agent, None, *state)),
                    Event::RemoveAgent { agent } => Some((*agent, None, AgentState::Offline)),
                    _ => None,
                };
                self.router.handle(now, event).unwrap();
                if let Some((a, cap, state)) = presence {
                    if let Some(cap) = cap {
                        self.ledger.agent_capacity(a, cap);
                    }
                    self.ledger.agent_state(now, a, state);
                }
                if let Some(spec) = arrival {
                    self.booked(now, &spec);
                }
            }
            Input::Request {
                spec,
                workflow,
                attrs,
            } => {
                self.request(now, spec, workflow.as_deref(), attrs).unwrap();
            }
            Input::Open {
                conversation,
                tenant,
            } => {
                self.bots.open(now, conversation, tenant).unwrap();
            }
            Input::Signal {
                conversation,
                signal,
            } => {
                self.staffed();
                let d = self.bots.observe(now, conversation, signal).unwrap();
                self.carry_out(now, d);
            }
            Input::Close { conversation } => {
                let conv = self.bots.close(conversation).unwrap();
                self.ledger.conversation_closed(&conv);
                let mine: Vec<TaskId> = self
                    .links
                    .iter()
                    .filter(|(_, c)| **c == conversation)
                    .map(|(t, _)| *t)
                    .collect();
                for t in mine {
                    self.links.remove(&t);
                    self.cancel(now, t);
                }
                self.out.push(Output::Closed {
                    conversation,
                    outcome: switchboard::ledger::AiOutcome::of(&conv),
                });
            }
            Input::Outcome { task, outcome } => self.ledger.outcome(task, outcome),
            other => panic!("not generated: {other:?}"),
        }
        self.effects(now);
    }

    fn booked(&mut self, now: Time, spec: &TaskSpec) {
        let sla = spec.sla_ms.unwrap_or(self.ledger.config().default_sla_ms);
        self.live.insert(spec.id, (spec.tenant, now, sla));
        let q = self.router.task_queue(spec.id);
        self.ledger
            .arrival(now, Arrival::from_spec(spec, q).channel(spec.channel));
    }

    fn request(
        &mut self,
        now: Time,
        spec: TaskSpec,
        workflow: Option<&str>,
        attrs: BTreeMap<String, switchboard::expr::AttrValue>,
    ) -> Result<(), ()> {
        let s = spec.clone();
        match workflow {
            Some(w) => drive_arrive(&mut self.flows, &mut self.router, now, spec, w, attrs)
                .map_err(drop)?,
            None => self.router.arrive(now, spec).map_err(drop)?,
        }
        self.booked(now, &s);
        Ok(())
    }

    fn timers(&mut self, now: Time) {
        let now = now.max(self.router.now());
        drive_timeout(&mut self.flows, &mut self.router, now).unwrap();
        self.effects(now);
        self.staffed();
        if self.bots.poll_timeout().is_some_and(|t| t <= now) {
            for d in self.bots.handle_timeout(now) {
                self.carry_out(now, d);
            }
        }
    }

    fn staffed(&mut self) {
        let any = self.router.agent_count() > 0;
        self.bots.load_source_mut().set_staffed(any);
    }

    fn cancel(&mut self, now: Time, t: TaskId) {
        if matches!(
            self.router.task_state(t),
            Some(TaskState::Waiting | TaskState::Offered(_))
        ) && self.router.cancel(now, t).is_ok()
        {
            self.withdrawn.insert(t);
        }
    }

    fn carry_out(&mut self, now: Time, d: Decision) {
        let c = d.conversation;
        if d.action != Action::Continue {
            self.out.push(Output::Decision {
                conversation: c,
                action: d.action,
                fired: d.fired.clone(),
                score: d.score,
            });
        }
        for e in d.effects {
            match e {
                Directive::Route(h) => {
                    let task = h.task.id;
                    let name = self.router.catalog().tenant_name(h.task.tenant).unwrap();
                    let wf = self
                        .flows
                        .workflows()
                        .get(name, "escalation")
                        .map(|_| "escalation");
                    let signal = if self
                        .request(now, h.task.clone(), wf, BTreeMap::new())
                        .is_ok()
                    {
                        self.links.insert(task, c);
                        self.out.push(Output::Handover {
                            conversation: c,
                            task,
                            handover: h,
                        });
                        Signal::Queued { task }
                    } else {
                        Signal::TransferFailed {
                            reason: TransferFailure::Rejected,
                        }
                    };
                    self.tell(now, c, signal);
                }
                Directive::Reprioritize {
                    task,
                    priority,
                    customer,
                } => {
                    if matches!(
                        self.router.task_state(task),
                        Some(TaskState::Waiting | TaskState::Offered(_))
                    ) {
                        let _ = self.router.reprioritize(now, task, priority, customer);
                    }
                }
                Directive::CancelRoute { task } => {
                    self.links.remove(&task);
                    self.cancel(now, task);
                }
                Directive::Callback(handover) => self.out.push(Output::Callback {
                    conversation: c,
                    handover,
                }),
                Directive::Ticket(handover) => self.out.push(Output::Ticket {
                    conversation: c,
                    handover,
                }),
                Directive::Notify(notice) => self.out.push(Output::Notice {
                    conversation: c,
                    notice,
                }),
                Directive::Classify {
                    request,
                    classifier,
                    text,
                } => self.out.push(Output::Classify {
                    conversation: c,
                    request,
                    classifier,
                    text,
                }),
                Directive::BlockReply => self.out.push(Output::BlockReply { conversation: c }),
                Directive::MaskText { masked } => self.out.push(Output::MaskText {
                    conversation: c,
                    masked,
                }),
                Directive::OfferHandBack { agent } => self.out.push(Output::OfferHandBack {
                    conversation: c,
                    agent,
                }),
                Directive::HandBack(summary) => self.out.push(Output::HandBack {
                    conversation: c,
                    summary,
                }),
                Directive::NeedCapacity(need) => self.out.push(Output::CapacityNeeded { need }),
            }
        }
    }

    fn tell(&mut self, now: Time, c: ConversationId, s: Signal) {
        if self.bots.conversation(c).is_some()
            && let Ok(d) = self.bots.observe(now, c, s)
        {
            self.carry_out(now, d);
        }
    }

    fn wait_seen(&mut self, now: Time, t: TaskId) {
        if let Some(&(tenant, created, sla)) = self.live.get(&t) {
            self.bots
                .load_source_mut()
                .observe_wait(tenant, now.millis_since(created), sla);
        }
    }

    fn effects(&mut self, now: Time) {
        loop {
            while let Some(effect) = self.flows.poll_effect() {
                self.out.push(Output::Workflow { effect });
            }
            let batch: Vec<Effect> = self.router.drain_effects().collect();
            if batch.is_empty() {
                return;
            }
            let mut tell = Vec::new();
            for e in batch {
                self.ledger.observe(now, &e);
                match &e {
                    Effect::Assigned { task, agent, .. } => {
                        self.wait_seen(now, *task);
                        if let Some(c) = self.links.get(task) {
                            tell.push((*c, Signal::Assigned { agent: *agent }));
                        }
                    }
                    Effect::WrapUpStarted { task, .. } => {
                        if let Some(c) = self.links.remove(task) {
                            tell.push((c, Signal::HumanReleased));
                        }
                    }
                    Effect::Completed { task, .. }
                    | Effect::Abandoned { task }
                    | Effect::TimedOut { task }
                    | Effect::Cancelled { task } => {
                        let t = *task;
                        let ours = self.withdrawn.remove(&t);
                        let signal = match &e {
                            Effect::Completed { .. } => Some(Signal::HumanReleased),
                            Effect::Cancelled { .. } if ours => None,
                            Effect::Cancelled { .. } => Some(Signal::TransferFailed {
                                reason: TransferFailure::Rejected,
                            }),
                            Effect::Abandoned { .. } => {
                                self.wait_seen(now, t);
                                Some(Signal::CustomerCancelled)
                            }
                            _ => {
                                self.wait_seen(now, t);
                                Some(Signal::TransferFailed {
                                    reason: TransferFailure::TimedOut,
                                })
                            }
                        };
                        if let (Some(c), Some(s)) = (self.links.remove(&t), signal) {
                            tell.push((c, s));
                        }
                        self.live.remove(&t);
                        self.flows.forget(t);
                    }
                    _ => {}
                }
                self.out.push(Output::Router { effect: e });
            }
            self.staffed();
            for (c, s) in tell {
                self.tell(now, c, s);
            }
        }
    }
}
