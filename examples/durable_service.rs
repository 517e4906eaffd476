//! A small routing service that survives being killed: SQLite journal, channel transport.
//!
//! ```text
//! cargo run --example durable_service                      # ./switchboard-demo.db, runs 5 s
//! cargo run --example durable_service -- /tmp/demo.db 10   # another file, 10 s
//! ```
//!
//! It generates a steady synthetic stream — customers arrive, agents accept (or reject, or
//! ignore) offers, conversations end — and feeds it to a [`Driver`] that journals every batch
//! in SQLite *before* the offers go out on a [`ChannelTransport`]; a second thread plays the
//! agents' desktops and prints the offers it receives. It stops by itself after the given
//! number of seconds, or kill it at any moment (Ctrl-C, `kill -9`): the next start prints the
//! [`RecoveryReport`] and carries on with the same tasks — offers still open are delivered
//! again, offers whose lease ran out while it was down are expired and their tasks re-queued.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};
use switchboard::operation::Output;
use switchboard::*;

/// Agents on shift.
const AGENTS: u64 = 20;
/// Tasks the generator keeps live at most.
const MAX_LIVE: usize = 60;

fn config() -> RouterConfig {
    RouterConfig {
        offer_timeout_ms: 3_000,
        decline_backoff_ms: 5_000,
        wrap_up_ms: 500,
        seed: 1,
        ..RouterConfig::default()
    }
}

/// xorshift64*: the demo's dice.
struct Dice(u64);
impl Dice {
    fn roll(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .unwrap_or_else(|| "./switchboard-demo.db".to_owned());
    let seconds: u64 = match args.next() {
        Some(s) => s.parse()?,
        None => 5,
    };

    // The agents' side: receives effects on another thread and prints the offers.
    let (transport, effects) = ChannelTransport::new();
    let printed = Arc::new(AtomicU64::new(0));
    let desktops = {
        let printed = printed.clone();
        std::thread::spawn(move || desktop(&effects, &printed))
    };

    let started = Instant::now();
    let storage = SqliteStorage::open(&path)?;
    let (mut driver, report) = Driver::open(
        config(),
        DefaultScoring,
        storage,
        transport,
        SystemClock::default(),
        DriverOptions {
            snapshot_every: 2_000,
        },
    )?;
    println!("opened {path} in {:.1?}", started.elapsed());
    if report.snapshot_seq + report.replayed == 0 {
        println!("fresh journal: starting a new service");
    } else {
        println!(
            "recovered: snapshot at record {}, {} records replayed, {} offers expired while down, \
             {} offers re-issued, damaged tail: {:?}",
            report.snapshot_seq,
            report.replayed,
            report.expired_on_recovery,
            report.reissued_offers,
            report.damaged_tail
        );
        let c = driver.router().counters();
        println!(
            "  state: {} live tasks ({} waiting), {} arrived, {} completed so far",
            driver.router().live_tasks(),
            driver.router().waiting_tasks(),
            c.arrived,
            c.completed
        );
    }

    let brand = driver.intern_tenant("acme")?;
    let skill = driver.intern_skill("orders")?;
    let joins: Vec<Event> = (1..=AGENTS)
        .filter(|id| driver.router().agent_state(AgentId(*id)).is_none())
        .map(|id| {
            Event::AddAgent(
                AgentSpec::new(AgentId(id))
                    .skill(skill, 1 + (id % 10) as u8)
                    .certified(brand)
                    .capacity(Channel::Chat, 2)
                    .state(AgentState::Available),
            )
        })
        .collect();
    if !joins.is_empty() {
        driver.submit(joins)?;
    }

    // Where the tasks are, read back from the (possibly recovered) router.
    let mut next_task = driver.router().counters().arrived + 1;
    let mut live: Vec<TaskId> = (1..next_task)
        .map(TaskId)
        .filter(|t| driver.router().task_state(*t).is_some())
        .collect();
    let mut dice = Dice(driver.journal_seq() | 1);
    let deadline = started + Duration::from_secs(seconds);
    let mut last_report = Instant::now();
    let (mut events, mut batches) = (0u64, 0u64);

    while Instant::now() < deadline {
        let mut batch = Vec::new();
        let mut arriving = None;
        if live.len() < MAX_LIVE && dice.roll(100) < 60 {
            let id = TaskId(next_task);
            next_task += 1;
            batch.push(Event::Arrive(
                TaskSpec::new(id, brand, Channel::Chat)
                    .requires(Requirements::default().skill(skill, 1 + dice.roll(5) as u8))
                    .priority(dice.roll(3) as u8, 0.0),
            ));
            arriving = Some(id);
        }
        for _ in 0..3 {
            if live.is_empty() {
                break;
            }
            let k = dice.roll(live.len() as u64) as usize;
            let task = live[k];
            match driver.router().task_state(task) {
                None => {
                    live.swap_remove(k);
                }
                Some(TaskState::Offered(offers)) => {
                    let offer = offers[0];
                    if let Some((_, agent, _)) = driver.router().offer(offer) {
                        match dice.roll(10) {
                            0..=6 => batch.push(Event::Accept { offer, agent }),
                            7 => batch.push(Event::Reject { offer, agent }),
                            _ => {} // not answered: the lease will run out
                        }
                    }
                }
                Some(TaskState::InService(_)) if dice.roll(10) < 3 => {
                    batch.push(Event::Complete { task });
                }
                Some(TaskState::Waiting) if dice.roll(100) < 2 => {
                    batch.push(Event::Abandon { task });
                }
                Some(_) => {}
            }
        }
        if batch.is_empty() {
            batch.push(Event::Tick);
        }
        events += batch.len() as u64;
        batches += 1;
        // Journaled (one SQLite transaction), then delivered to the desktops.
        driver.submit(batch)?;
        live.extend(arriving);

        if last_report.elapsed() >= Duration::from_secs(1) {
            let c = driver.router().counters();
            println!(
                "[{:>4.1}s] journal at record {:>6} | {events} events in {batches} batches | \
                 live {:>3} (waiting {:>3}) | arrived {} completed {} abandoned {} expired {}",
                started.elapsed().as_secs_f64(),
                driver.journal_seq(),
                driver.router().live_tasks(),
                driver.router().waiting_tasks(),
                c.arrived,
                c.completed,
                c.abandoned,
                c.expired
            );
            last_report = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(10));
    }

    let seq = driver.journal_seq();
    let live_now = driver.router().live_tasks();
    drop(driver); // closes the channel: the desktop thread ends
    desktops.join().map_err(|_| "desktop thread panicked")?;
    println!(
        "stopping after {seconds} s: journal at record {seq}, {live_now} live tasks, {} offers \
         seen by the desktops; run me again to carry on from {path}",
        printed.load(Ordering::Relaxed)
    );
    Ok(())
}

/// The agents' desktops: print a sample of the offers and of the expiries.
fn desktop(outputs: &mpsc::Receiver<Output>, offers: &AtomicU64) {
    let mut expired = 0u64;
    for output in outputs {
        let Output::Router { effect } = output else {
            continue;
        };
        match effect {
            Effect::Offer {
                offer,
                task,
                agent,
                expires_at,
                ..
            } => {
                let n = offers.fetch_add(1, Ordering::Relaxed) + 1;
                if n <= 5 || n.is_multiple_of(50) {
                    println!(
                        "    desktop of agent {agent}: offer {} for task {task}, answer by {} (offer #{n})",
                        offer.0,
                        expires_at.as_millis()
                    );
                }
            }
            Effect::OfferExpired { offer, agent, .. } => {
                expired += 1;
                if expired <= 3 {
                    println!("    desktop of agent {agent}: offer {} expired", offer.0);
                }
            }
            _ => {}
        }
    }
}
