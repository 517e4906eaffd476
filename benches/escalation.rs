//! Escalation benchmarks; numbers in docs/PERFORMANCE.md.
//!
//! ```text
//! cargo bench --bench escalation                                  # full run
//! SWITCHBOARD_BENCH_QUICK=1 cargo bench --bench escalation -- --test   # smoke test, small setups
//! ```
//!
//! * `escalation/decide_turn`: one [`Conversation::observe`] per customer or bot turn carrying
//!   typed evidence (no text, no guardrail) — the per-turn cost of the policy itself.
//! * `escalation/decide_turn_text`: the same with a short text per turn, so the built-in
//!   classifier and repetition detection run (still no guardrail).
//! * `guardrail/scan_10k/<text>`: one [`Guardrail::scan`] over a ~64 KiB message against 10,000
//!   phrases (plus phone/card/ID patterns), reported as bytes per second, for ASCII, Chinese and
//!   full-width text.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Duration;
use switchboard::escalation::{
    BuiltinClassifier, Context, Conversation, ConversationId, EscalationPolicy, Evidence, Load,
    PolicyConfig, Signal, Speaker, Topic, Turn,
};
use switchboard::guardrail::{
    Category, GuardAction, Guardrail, GuardrailConfig, PatternKind, PatternRule, PhraseList,
};
use switchboard::{Catalog, Time};

fn quick() -> bool {
    std::env::var_os("SWITCHBOARD_BENCH_QUICK").is_some()
}

/// A deterministic stream of turns: mild evidence, so conversations mostly stay with the bot.
fn turns(n: usize, text: bool) -> Vec<Signal> {
    let mut x: u64 = 0x5EED_0004;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let texts = [
        "where is my parcel",
        "我的快递到哪里了",
        "can I change the size",
        "这个有货吗",
        "thanks",
    ];
    (0..n)
        .map(|i| {
            let r = next();
            let speaker = if i % 2 == 0 {
                Speaker::Customer
            } else {
                Speaker::Bot
            };
            let mut t = Turn::new(speaker);
            #[allow(clippy::cast_precision_loss)]
            let v = (r % 1000) as f64 / 1000.0;
            if speaker == Speaker::Customer {
                t.evidence.push(Evidence::Sentiment {
                    value: v - 0.3,
                    confidence: 0.8,
                });
                if r % 7 == 0 {
                    t.evidence.push(Evidence::Topic {
                        topic: Topic::Shipping,
                        confidence: 0.9,
                    });
                }
                if text {
                    t.text = Some(texts[(r % 5) as usize].to_owned());
                }
            } else {
                t.evidence.push(Evidence::IntentConfidence { value: v });
                if r % 11 == 0 {
                    t.evidence.push(Evidence::Fallback);
                }
            }
            Signal::Turn(t)
        })
        .collect()
}

fn decide(c: &mut Criterion) {
    let mut catalog = Catalog::new();
    let tenant = catalog.tenant("acme");
    // Soft escalation effectively off, so the conversation stays with the bot and every turn
    // runs the full policy (score, thresholds, hysteresis) without ownership changes.
    let cfg: PolicyConfig = serde_json::from_str(
        r#"{ "hysteresis": { "up_threshold": 50, "jump_threshold": 90 },
             "hard": { "max_consecutive_fallbacks": null } }"#,
    )
    .expect("policy");
    let policy = EscalationPolicy::compile(cfg, &mut catalog).expect("policy");
    let classifier = BuiltinClassifier::new().expect("classifier");
    let load = Load {
        projected_wait_ms: 30_000,
        sla_ms: 60_000,
        staffed: true,
        in_hours: true,
    };
    let n = if quick() { 256 } else { 4096 };
    let mut group = c.benchmark_group("escalation");
    for (name, text) in [("decide_turn", false), ("decide_turn_text", true)] {
        let signals = turns(n, text);
        group.throughput(Throughput::Elements(1));
        group.bench_function(name, |b| {
            let mut conv = Conversation::new(ConversationId(1), tenant, Time::ZERO);
            let mut i = 0usize;
            let mut now = 0u64;
            b.iter_batched(
                || {
                    i = (i + 1) % signals.len();
                    now += 1000;
                    (signals[i].clone(), now)
                },
                |(s, now)| {
                    let ctx = Context {
                        policy: &policy,
                        load: &load,
                        classifier: &classifier,
                        guardrail: None,
                    };
                    black_box(
                        conv.observe(&ctx, Time::from_millis(now), s)
                            .expect("observe"),
                    )
                },
                criterion::BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

fn guardrail_config(phrases: usize) -> GuardrailConfig {
    let mut x: u64 = 0x5EED_0005;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let syll = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "xu", "ze"];
    let han = [
        '退', '款', '微', '信', '最', '好', '保', '证', '赔', '偿', '违', '法',
    ];
    let mut lists = Vec::new();
    for l in 0..10 {
        let mut p = Vec::with_capacity(phrases / 10);
        for _ in 0..phrases / 10 {
            let r = next();
            if r % 2 == 0 {
                let w: String = (0..3 + (r >> 8) % 3)
                    .map(|k| syll[((r >> (12 + 4 * k)) % 10) as usize])
                    .collect();
                p.push(format!("{w} {}", syll[((r >> 40) % 10) as usize]));
            } else {
                let w: String = (0..3 + (r >> 8) % 2)
                    .map(|k| han[((r >> (12 + 4 * k)) % 12) as usize])
                    .collect();
                p.push(w);
            }
        }
        lists.push(PhraseList {
            name: format!("list{l}"),
            category: Category::Other,
            action: if l == 0 {
                GuardAction::Block
            } else {
                GuardAction::Flag
            },
            applies_to: vec![],
            tenants: vec![],
            phrases: p,
        });
    }
    GuardrailConfig {
        version: "bench".into(),
        lists,
        patterns: [PatternKind::Phone, PatternKind::Card, PatternKind::IdNumber]
            .into_iter()
            .map(|kind| PatternRule {
                kind,
                action: GuardAction::Mask,
                applies_to: vec![],
                tenants: vec![],
            })
            .collect(),
    }
}

fn scan(c: &mut Criterion) {
    let mut catalog = Catalog::new();
    let tenant = catalog.tenant("acme");
    let phrases = if quick() { 1_000 } else { 10_000 };
    let g = Guardrail::new(&guardrail_config(phrases), &mut catalog).expect("guardrail");
    let size = if quick() { 4 << 10 } else { 64 << 10 };
    let ascii_unit = "Hello, I ordered the blue dress last week and it has not arrived yet. \
                      Could you check order 2025-11-11-0042 for me? ";
    let zh_unit = "你好，我上周买的蓝色连衣裙还没有到，麻烦帮我查一下订单，谢谢。尺码是M码。";
    let wide_unit = "ＨＥＬＬＯ，我的订单号是１２３４５，请尽快处理！ ";
    let mut group = c.benchmark_group(format!("guardrail/scan_{}k", phrases / 1000));
    for (name, unit) in [
        ("ascii", ascii_unit),
        ("chinese", zh_unit),
        ("fullwidth", wide_unit),
    ] {
        let mut text = String::with_capacity(size + unit.len());
        while text.len() < size {
            text.push_str(unit);
        }
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| black_box(g.scan(tenant, Speaker::Bot, black_box(&text))));
        });
    }
    group.finish();
}

fn config() -> Criterion {
    if quick() {
        Criterion::default()
            .sample_size(10)
            .warm_up_time(Duration::from_millis(100))
            .measurement_time(Duration::from_millis(200))
    } else {
        Criterion::default()
            .warm_up_time(Duration::from_secs(1))
            .measurement_time(Duration::from_secs(3))
    }
}

criterion_group! {
    name = benches;
    config = config();
    targets = decide, scan
}
criterion_main!(benches);
