//! The `switchboard` command-line tool: validate configurations, simulate scenarios, size staffing.
//!
//! ```text
//! switchboard check examples/configs/multibrand.toml
//! switchboard check router.toml
//! switchboard simulate examples/scenarios/sales_day.json --chart day.svg    # or day.png
//! switchboard staff erlang-c --contacts 300 --aht 240 --target-secs 20 --sl 0.8
//! switchboard staff erlang-a --contacts 300 --aht 240 --patience 90 --agents 40
//! switchboard staff plan forecast.json --target-secs 20 --sl 0.8 --shrinkage 0.3
//! switchboard staff plan forecast.json --verify --overlap overlap.json
//! switchboard replay conversations.jsonl --policy policy.json --load 120:60 [--json]
//! ```

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use switchboard::RouterConfig;
use switchboard::policy::PolicySet;
use switchboard::sim::{self, Scenario};
use switchboard::staffing::{
    ForecastRow, Model, PlanSettings, SlDefinition, Target, Traffic, plan,
};

#[derive(Parser, Debug)]
#[command(
    name = "switchboard",
    version,
    about = "Routing core tools: check, simulate, staff"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Validate a policy set (tenants, skills, workflows, shares; see docs/CONFIG.md) or a bare
    /// RouterConfig (JSON or TOML, by extension). Prints every error with its path, then the
    /// static-analysis warnings, then a one-line summary; exits non-zero on errors.
    Check {
        /// The file.
        config: PathBuf,
        /// Also fail (exit non-zero) on warnings.
        #[arg(long)]
        strict: bool,
        /// Print errors and warnings as JSON on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Run a scenario (pool, policies, traffic; see docs/SIMULATION.md) through the real router.
    Simulate {
        /// The scenario file (JSON or TOML, by extension).
        scenario: PathBuf,
        /// Print the report as JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Write a chart (arrivals, queue, service level, staffing per tenant): SVG or PNG by the
        /// extension, `.svg` or `.png`.
        #[arg(long, value_name = "OUT.svg|OUT.png")]
        chart: Option<PathBuf>,
        /// Override the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// No progress output.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Staffing calculators.
    Staff {
        #[command(subcommand)]
        what: Staff,
    },
    /// Replay escalation transcripts (JSON lines of conversations with signals and labels; see
    /// docs/ESCALATION.md) through a policy: each decision, then precision, recall and how early
    /// or late each hand-off came. Exits non-zero if any line or event could not be replayed.
    Replay {
        /// The transcripts; none or `-` reads stdin.
        input: Option<PathBuf>,
        /// The policy (PolicyConfig, JSON or TOML by extension); default: the built-in defaults.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Also scan every turn with this guardrail (GuardrailConfig, JSON or TOML).
        #[arg(long)]
        guardrail: Option<PathBuf>,
        /// The load the policy sees: projected wait for a human and the SLA, seconds.
        #[arg(long, value_name = "WAIT_S:SLA_S", default_value = "60:60")]
        load: String,
        /// No human staffed (escalations become callbacks or tickets).
        #[arg(long)]
        unstaffed: bool,
        /// JSON lines: one object per decision, then {"summary": ...}.
        #[arg(long)]
        json: bool,
        /// Print every decision, `continue` included (default: only those that did something).
        #[arg(long)]
        all: bool,
        /// Print the summary only.
        #[arg(long, conflicts_with = "all")]
        summary_only: bool,
        /// Replay the six built-in demo conversations instead of a file.
        #[arg(long, conflicts_with = "input")]
        demo: bool,
    },
}

#[derive(Subcommand, Debug)]
enum Staff {
    /// Erlang C (no abandonment).
    ErlangC(Calc),
    /// Erlang A (exponential patience; needs --patience).
    ErlangA(Calc),
    /// Agents per interval and group from a forecast file (JSON list of rows:
    /// interval, group, contacts, aht_secs, [patience_secs], [concurrency]).
    Plan {
        /// The forecast.
        forecast: PathBuf,
        #[command(flatten)]
        target: TargetArgs,
        /// Interval length, minutes.
        #[arg(long, default_value_t = 30.0)]
        interval_mins: f64,
        /// Shrinkage (share of paid time off the phones).
        #[arg(long, default_value_t = 0.0)]
        shrinkage: f64,
        /// Use Erlang A (rows need patience_secs).
        #[arg(long)]
        abandonment: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Verify the plan with the simulator (the real router) and add agents to the
        /// (interval, group) cells that miss the target, until they meet it.
        #[arg(long)]
        verify: bool,
        /// Skills overlap: a JSON or TOML map from a group to the other groups its agents can
        /// also serve (e.g. {"acme/sizing": ["acme/refund"]}); implies --verify.
        #[arg(long, value_name = "FILE")]
        overlap: Option<PathBuf>,
        /// After verification, remove agents where the simulation shows slack beyond the noise
        /// (e.g. where overlapping skills pool better than Erlang's silos); implies --verify.
        #[arg(long)]
        trim: bool,
        /// Verify with lognormal handling times of this coefficient of variation (default:
        /// exponential, as Erlang assumes); implies --verify.
        #[arg(long, value_name = "CV")]
        service_cv: Option<f64>,
        /// Verify with lognormal patience of this coefficient of variation (Erlang A; default:
        /// exponential); implies --verify.
        #[arg(long, value_name = "CV")]
        patience_cv: Option<f64>,
        /// Simulations per verification round at first.
        #[arg(long, default_value_t = 10)]
        replications: u32,
        /// Simulations per round at most (doubled while cells are uncertain).
        #[arg(long, default_value_t = 40)]
        max_replications: u32,
        /// Correction rounds at most.
        #[arg(long, default_value_t = 8)]
        rounds: u32,
        /// Seed of the first simulation.
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Args, Debug)]
struct Calc {
    /// Contacts offered per interval.
    #[arg(long)]
    contacts: f64,
    /// Interval length, minutes.
    #[arg(long, default_value_t = 30.0)]
    interval_mins: f64,
    /// Mean handling time, seconds.
    #[arg(long)]
    aht: f64,
    /// Mean patience, seconds (Erlang A).
    #[arg(long)]
    patience: Option<f64>,
    /// Chats per agent at once.
    #[arg(long, default_value_t = 1)]
    concurrency: u32,
    /// Evaluate this many agents instead of searching for the fewest meeting the target.
    #[arg(long)]
    agents: Option<u32>,
    #[command(flatten)]
    target: TargetArgs,
}

#[derive(Args, Debug)]
struct TargetArgs {
    /// Answer within this many seconds.
    #[arg(long, default_value_t = 20.0)]
    target_secs: f64,
    /// Share to answer within the target.
    #[arg(long, default_value_t = 0.8)]
    sl: f64,
    /// How abandons count in the service level.
    #[arg(long, value_enum, default_value_t = Def::AbandonsMissed)]
    definition: Def,
    /// Cap on abandonment.
    #[arg(long)]
    max_abandon: Option<f64>,
    /// Cap on occupancy.
    #[arg(long)]
    max_occupancy: Option<f64>,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum Def {
    AbandonsMissed,
    AbandonsExcluded,
    ShortAbandonsMet,
    ShortAbandonsExcluded,
}

impl From<Def> for SlDefinition {
    fn from(d: Def) -> Self {
        match d {
            Def::AbandonsMissed => SlDefinition::AbandonsMissed,
            Def::AbandonsExcluded => SlDefinition::AbandonsExcluded,
            Def::ShortAbandonsMet => SlDefinition::ShortAbandonsMet,
            Def::ShortAbandonsExcluded => SlDefinition::ShortAbandonsExcluded,
        }
    }
}

impl TargetArgs {
    fn target(&self) -> Target {
        let mut t = Target::new(self.target_secs, self.sl).definition(self.definition.into());
        t.max_abandon = self.max_abandon;
        t.max_occupancy = self.max_occupancy;
        t
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let is_toml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    if is_toml {
        toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    } else {
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

fn run(cli: Cli) -> Result<(), String> {
    match cli.cmd {
        Cmd::Check {
            config,
            strict,
            json,
        } => check(&config, strict, json),
        Cmd::Simulate {
            scenario,
            json,
            chart,
            seed,
            quiet,
        } => {
            if let Some(path) = &chart {
                // An unknown extension fails before the run, not after it.
                sim::chart::Format::from_path(path).map_err(|e| e.to_string())?;
            }
            let mut sc = Scenario::from_path(&scenario).map_err(|e| e.to_string())?;
            if let Some(s) = seed {
                sc.seed = s;
            }
            let started = std::time::Instant::now();
            let mut last = 0u32;
            let out = sim::run_with_progress(&sc, |f| {
                #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                let pct = (f * 100.0) as u32;
                if !quiet && pct >= last + 5 {
                    last = pct;
                    let bar = "#".repeat((pct / 5) as usize);
                    eprint!("\r[{bar:<20}] {pct:>3}%");
                    let _ = std::io::stderr().flush();
                }
            })
            .map_err(|e| e.to_string())?;
            let wall = started.elapsed().as_secs_f64();
            if !quiet {
                #[allow(clippy::cast_precision_loss)]
                let rate = out.report.events as f64 / wall.max(1e-9);
                eprintln!(
                    "\r{} events in {wall:.2} s ({:.2} M events/s)        ",
                    out.report.events,
                    rate / 1e6
                );
            }
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&out.report).map_err(|e| e.to_string())?
                );
            } else {
                print!("{}", out.report.to_text());
            }
            if let Some(path) = chart {
                sim::chart::write(&out.report, &path).map_err(|e| e.to_string())?;
                if !quiet {
                    eprintln!("chart written to {}", path.display());
                }
            }
            Ok(())
        }
        Cmd::Staff { what } => staff(what),
        Cmd::Replay {
            input,
            policy,
            guardrail,
            load,
            unstaffed,
            json,
            all,
            summary_only,
            demo,
        } => {
            let show = if summary_only {
                Show::Summary
            } else if all {
                Show::All
            } else {
                Show::Actions
            };
            replay(
                input.as_deref(),
                policy.as_deref(),
                guardrail.as_deref(),
                &load,
                unstaffed,
                json,
                show,
                demo,
            )
        }
    }
}

/// Top-level keys that make a file a policy set rather than a bare `RouterConfig`.
const POLICY_KEYS: [&str; 7] = [
    "version",
    "router",
    "skills",
    "tags",
    "tenants",
    "workflows",
    "pool",
];

fn check(path: &Path, strict: bool, json: bool) -> Result<(), String> {
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
    let is_toml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("toml"));
    let raw: serde_json::Value = if is_toml {
        toml::from_str(&text).map_err(|e| format!("{shown}: {e}"))?
    } else {
        serde_json::from_str(&text).map_err(|e| format!("{shown}: {e}"))?
    };
    let is_policy = raw
        .as_object()
        .is_some_and(|o| o.keys().any(|k| POLICY_KEYS.contains(&k.as_str())));
    if !is_policy {
        // A bare RouterConfig, as before policy sets.
        let cfg: RouterConfig = load(path)?;
        cfg.validate().map_err(|e| format!("{shown}: {e}"))?;
        println!("{shown}: ok (router configuration)");
        return Ok(());
    }
    let policy = if is_toml {
        PolicySet::from_toml_str(&text)
    } else {
        PolicySet::from_json_str(&text)
    }
    .map_err(|e| format!("{shown}: {e}"))?;
    let report = policy.check();
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
        );
    } else {
        for e in &report.errors {
            eprintln!("error: {e}");
        }
        for w in &report.warnings {
            eprintln!("warning: {w}");
        }
    }
    let summary = format!("{shown}: {}", report.summary.text);
    if !report.summary.valid {
        return Err(summary);
    }
    if strict && !report.warnings.is_empty() {
        return Err(format!("{summary} (--strict)"));
    }
    if json {
        eprintln!("{summary}");
    } else {
        println!("{summary}");
    }
    Ok(())
}

fn staff(what: Staff) -> Result<(), String> {
    match what {
        Staff::ErlangC(c) => calc(&c, Model::ErlangC),
        Staff::ErlangA(c) => calc(&c, Model::ErlangA),
        Staff::Plan {
            forecast,
            target,
            interval_mins,
            shrinkage,
            abandonment,
            json,
            verify,
            overlap,
            replications,
            max_replications,
            rounds,
            seed,
            trim,
            service_cv,
            patience_cv,
        } => {
            let rows: Vec<ForecastRow> = load(&forecast)?;
            let settings = PlanSettings {
                interval_secs: interval_mins * 60.0,
                target: target.target(),
                model: if abandonment {
                    Model::ErlangA
                } else {
                    Model::ErlangC
                },
                shrinkage,
            };
            let p = plan(&rows, &settings).map_err(|e| e.to_string())?;
            if verify || trim || overlap.is_some() || service_cv.is_some() || patience_cv.is_some()
            {
                let opts = sim::VerifySettings {
                    overlap: match &overlap {
                        Some(path) => load(path)?,
                        None => Default::default(),
                    },
                    replications,
                    max_replications,
                    max_rounds: rounds,
                    seed,
                    trim,
                    service_cv,
                    patience_cv,
                    ..sim::VerifySettings::default()
                };
                let v = sim::verify_plan(&rows, &settings, &p, &opts).map_err(|e| e.to_string())?;
                return print_verified(&v, &settings, json);
            }
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&p).map_err(|e| e.to_string())?
                );
                return Ok(());
            }
            println!(
                "target {:.0}% within {} s, service level definition: {}",
                settings.target.service_level * 100.0,
                settings.target.answer_within_secs,
                p.definition
            );
            println!("{:>8} {:>12} {:>10}", "interval", "agents", "call in");
            for (i, (need, call)) in &p.totals {
                println!("{i:>8} {need:>12} {call:>10}");
            }
            Ok(())
        }
    }
}

fn print_verified(
    v: &sim::VerifiedPlan,
    settings: &PlanSettings,
    json: bool,
) -> Result<(), String> {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(v).map_err(|e| e.to_string())?
        );
    } else {
        println!(
            "target {:.0}% within {} s, service level definition: {}; verified by simulation",
            settings.target.service_level * 100.0,
            settings.target.answer_within_secs,
            v.plan.definition
        );
        println!(
            "{:>8} {:<20} {:>8} {:>8} {:>9} {:>14}",
            "interval", "group", "planned", "agents", "Erlang SL", "simulated SL"
        );
        let pct = |x: f64| format!("{:.1}%", x * 100.0);
        for c in &v.cells {
            let sim = c.simulated_service_level.map_or_else(
                || "-".to_owned(),
                |s| format!("{} ±{:.1}", pct(s), c.standard_error * 100.0),
            );
            println!(
                "{:>8} {:<20} {:>8} {:>8} {:>9} {:>14}{}",
                c.interval,
                c.group,
                c.planned,
                c.agents,
                pct(c.erlang_service_level),
                sim,
                match c.verdict {
                    sim::Verdict::Met => "",
                    sim::Verdict::Uncertain => "  uncertain",
                    sim::Verdict::Missed => "  MISS",
                }
            );
        }
        println!("{:>8} {:>12} {:>10}", "interval", "agents", "call in");
        for (i, (need, call)) in &v.plan.totals {
            println!("{i:>8} {need:>12} {call:>10}");
        }
        let reps = v.rounds.last().map_or(0, |r| r.replications);
        println!(
            "{} rounds (last with {} replications), {} agents added, {} removed; {}",
            v.rounds.len(),
            reps,
            v.added,
            v.removed,
            if !v.met {
                "some cells still miss the target (raise --rounds)".to_owned()
            } else if v.uncertain > 0 {
                format!(
                    "no cell misses beyond the noise, {} below the target within it \
                     (raise --max-replications to tell)",
                    v.uncertain
                )
            } else {
                "every cell meets the target in simulation".to_owned()
            }
        );
    }
    if v.met {
        Ok(())
    } else {
        Err("the corrected plan still misses the target in simulation".into())
    }
}

fn calc(c: &Calc, model: Model) -> Result<(), String> {
    let mut traffic =
        Traffic::per_interval(c.contacts, c.interval_mins * 60.0, c.aht).concurrency(c.concurrency);
    traffic.patience_secs = c.patience;
    let target = c.target.target();
    let m = match c.agents {
        Some(n) => traffic.metrics(model, n).map_err(|e| e.to_string())?,
        None => {
            traffic
                .agents_for(&target, model)
                .map_err(|e| e.to_string())?
                .metrics
        }
    };
    let s = m.shares_at(target.answer_within_secs);
    println!("model            {model:?}");
    println!("load             {:.2} Erlangs", m.load_erlangs);
    println!(
        "agents           {} ({} servers){}",
        m.agents,
        m.servers,
        if c.agents.is_none() {
            " = fewest meeting the target"
        } else {
            ""
        }
    );
    println!(
        "service level    {:.2}% within {} s (definition: {})",
        m.service_level_at(target.answer_within_secs, target.definition) * 100.0,
        target.answer_within_secs,
        target.definition
    );
    for d in SlDefinition::ALL {
        if d != target.definition && model == Model::ErlangA {
            println!(
                "                 {:.2}% ({d})",
                m.service_level_at(target.answer_within_secs, d) * 100.0
            );
        }
    }
    println!("answered within  {:.2}%", s.answered_within * 100.0);
    println!("P(wait)          {:.2}%", m.p_wait * 100.0);
    println!("P(abandon)       {:.2}%", m.p_abandon * 100.0);
    println!("ASA              {:.1} s", m.asa_secs);
    println!("occupancy        {:.1}%", m.occupancy * 100.0);
    Ok(())
}

/// Which decisions `replay` prints.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Show {
    All,
    Actions,
    Summary,
}

#[allow(clippy::too_many_arguments, clippy::fn_params_excessive_bools)]
fn replay(
    input: Option<&Path>,
    policy: Option<&Path>,
    guardrail: Option<&Path>,
    load: &str,
    unstaffed: bool,
    json: bool,
    show: Show,
    demo: bool,
) -> Result<(), String> {
    use std::io::BufRead as _;
    use switchboard::escalation::replay::{DEMO, Replay};
    use switchboard::escalation::{Load, PolicyConfig};
    let bad_load = || format!("--load {load:?}: expected WAIT_S:SLA_S, e.g. 120:60");
    let (wait, sla) = load.split_once(':').ok_or_else(bad_load)?;
    let secs = |v: &str| -> Result<u64, String> {
        let s: f64 = v.trim().parse().map_err(|_| bad_load())?;
        if s.is_finite() && s >= 0.0 {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            Ok((s * 1000.0).round().min(1e15) as u64)
        } else {
            Err(bad_load())
        }
    };
    let load = Load {
        projected_wait_ms: secs(wait)?,
        sla_ms: secs(sla)?,
        staffed: !unstaffed,
        in_hours: true,
    };
    let cfg: PolicyConfig = match policy {
        Some(p) => self::load(p)?,
        None => PolicyConfig {
            version: "default".into(),
            ..PolicyConfig::default()
        },
    };
    let mut r = Replay::new(cfg, load).map_err(|e| e.to_string())?;
    if let Some(g) = guardrail {
        let g: switchboard::GuardrailConfig = self::load(g)?;
        r = r.with_guardrail(&g).map_err(|e| e.to_string())?;
    }
    let reader: Box<dyn std::io::BufRead> = match input {
        _ if demo => Box::new(std::io::Cursor::new(DEMO)),
        Some(p) if p != Path::new("-") => Box::new(std::io::BufReader::new(
            std::fs::File::open(p).map_err(|e| format!("{}: {e}", p.display()))?,
        )),
        _ => Box::new(std::io::BufReader::new(std::io::stdin())),
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut write_err: Option<String> = None;
    for line in reader.lines() {
        let line = line.map_err(|e| e.to_string())?;
        let errors = r.replay_line(&line, |d| {
            let wanted = match show {
                Show::All => true,
                Show::Actions => !d.is_continue(),
                Show::Summary => false,
            };
            if !wanted || write_err.is_some() {
                return;
            }
            let text = if json {
                serde_json::to_string(d).map_err(|e| e.to_string())
            } else {
                Ok(d.to_text())
            };
            if let Err(e) = text.and_then(|t| writeln!(out, "{t}").map_err(|e| e.to_string())) {
                write_err = Some(e);
            }
        });
        for e in &errors {
            eprintln!("warning: {e}");
        }
        if let Some(e) = write_err.take() {
            return Err(e);
        }
    }
    let summary = r.summary();
    if json {
        let s = serde_json::to_string(&serde_json::json!({ "summary": summary }))
            .map_err(|e| e.to_string())?;
        writeln!(out, "{s}").map_err(|e| e.to_string())?;
    } else {
        write!(out, "{}", summary.to_text()).map_err(|e| e.to_string())?;
    }
    if summary.errors > 0 {
        return Err(format!(
            "{} lines or events could not be replayed",
            summary.errors
        ));
    }
    Ok(())
}
