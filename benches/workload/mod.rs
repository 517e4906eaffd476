//! The deterministic workload shared by the `route` and `memory` benches (see
//! docs/PERFORMANCE.md).
//!
//! * 200 skills with Zipf-like popularity (weight of the i-th skill ∝ 1/(i+1)^1.2), so that
//!   skills cluster the way product lines do: a few are common, most are specialist.
//! * Agents: 8–12 distinct skills drawn by popularity at uniform levels 1..=10, 2–4 of 24 tags,
//!   60 % certified for 1–3 of 100 tenants, capacity chat 5 / voice 1, every other agent
//!   `Available` (the rest `Away`).
//! * Requirement sets (one per queue): 3 distinct skills drawn by popularity with minimum levels
//!   1..=6, 80 % chat / 20 % voice, kept only if 2 %–20 % of a 4 000-agent sample (drawn from the
//!   same generator, another seed) qualifies.
//! * Tasks: a requirement set, a tenant out of 100, a value tier 0..=3 and a sentiment in
//!   [-1, 1]; no certification requirement.

#![allow(dead_code)]

use switchboard::{
    AgentId, AgentSpec, AgentState, Channel, CustomerProfile, Requirements, RouterConfig,
    SeededRng, SkillId, SkillReq, TagId, TaskId, TaskSpec, TenantId,
};

pub const SKILLS: usize = 200;
pub const TAGS: usize = 24;
pub const TENANTS: usize = 100;
pub const ZIPF_S: f64 = 1.2;
pub const MIN_FRACTION: f64 = 0.02;
pub const MAX_FRACTION: f64 = 0.20;
const SAMPLE_AGENTS: usize = 4000;

/// A seeded generator (SplitMix64 via `switchboard::SeededRng`).
pub struct Gen {
    rng: SeededRng,
    cum: Vec<f64>,
}

impl Gen {
    pub fn new(seed: u64) -> Self {
        let mut cum = Vec::with_capacity(SKILLS);
        let mut t = 0.0;
        for i in 0..SKILLS {
            t += 1.0 / ((i + 1) as f64).powf(ZIPF_S);
            cum.push(t);
        }
        Gen {
            rng: SeededRng::new(seed),
            cum,
        }
    }
    pub fn below(&mut self, n: usize) -> usize {
        self.rng.below(n)
    }
    pub fn range(&mut self, lo: usize, hi_inclusive: usize) -> usize {
        lo + self.rng.below(hi_inclusive - lo + 1)
    }
    pub fn unit(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// A skill index drawn by popularity.
    pub fn skill(&mut self) -> u32 {
        let total = *self.cum.last().unwrap_or(&1.0);
        let u = self.unit() * total;
        self.cum.partition_point(|&c| c <= u).min(SKILLS - 1) as u32
    }
}

/// One generated agent, kept by the bench to know what it qualifies for.
#[derive(Clone, Debug)]
pub struct AgentData {
    pub id: AgentId,
    /// Sorted by skill.
    pub skills: Vec<(u32, u8)>,
    pub tags: Vec<u32>,
    pub certs: Vec<u32>,
    pub available: bool,
}

impl AgentData {
    pub fn level(&self, skill: u32) -> u8 {
        self.skills
            .binary_search_by_key(&skill, |s| s.0)
            .map_or(0, |i| self.skills[i].1)
    }
    pub fn meets(&self, r: &ReqSet) -> bool {
        r.skills.iter().all(|&(s, l)| self.level(s) >= l)
    }
    pub fn spec(&self, state: AgentState) -> AgentSpec {
        let mut spec = AgentSpec::new(self.id)
            .capacity(Channel::Chat, 5)
            .capacity(Channel::Voice, 1)
            .state(state);
        spec.skills = self.skills.iter().map(|&(s, l)| (SkillId(s), l)).collect();
        spec.tags = self.tags.iter().map(|&t| TagId(t)).collect();
        spec.certifications = self.certs.iter().map(|&t| TenantId(t)).collect();
        spec
    }
}

pub fn gen_agent(g: &mut Gen, id: u64) -> AgentData {
    let k = g.range(8, 12);
    let mut skills: Vec<(u32, u8)> = Vec::with_capacity(k);
    while skills.len() < k {
        let s = g.skill();
        if skills.iter().all(|x| x.0 != s) {
            skills.push((s, g.range(1, 10) as u8));
        }
    }
    skills.sort_unstable();
    let mut tags: Vec<u32> = (0..g.range(2, 4)).map(|_| g.below(TAGS) as u32).collect();
    tags.sort_unstable();
    tags.dedup();
    let mut certs: Vec<u32> = if g.below(10) < 6 {
        (0..g.range(1, 3))
            .map(|_| g.below(TENANTS) as u32)
            .collect()
    } else {
        Vec::new()
    };
    certs.sort_unstable();
    certs.dedup();
    AgentData {
        id: AgentId(id),
        skills,
        tags,
        certs,
        available: id.is_multiple_of(2),
    }
}

pub fn gen_agents(seed: u64, n: usize) -> Vec<AgentData> {
    let mut g = Gen::new(seed);
    (0..n).map(|i| gen_agent(&mut g, i as u64)).collect()
}

/// The hard requirements of one queue.
#[derive(Clone, Debug, PartialEq)]
pub struct ReqSet {
    pub skills: [(u32, u8); 3],
    pub channel: Channel,
    /// Fraction of the 4 000-agent sample that qualifies.
    pub sample_fraction: f64,
}

impl ReqSet {
    pub fn requirements(&self) -> Requirements {
        Requirements {
            skills: self
                .skills
                .iter()
                .map(|&(s, l)| SkillReq::new(SkillId(s), l))
                .collect(),
            ..Requirements::default()
        }
    }
}

/// `n` distinct requirement sets, each met by 2 %–20 % of a sample of agents.
pub fn requirement_sets(seed: u64, n: usize) -> Vec<ReqSet> {
    let sample = gen_agents(seed ^ 0xA5A5_5A5A, SAMPLE_AGENTS);
    let mut g = Gen::new(seed);
    let mut out: Vec<ReqSet> = Vec::with_capacity(n);
    while out.len() < n {
        let mut skills = [(0u32, 0u8); 3];
        let mut k = 0;
        while k < 3 {
            let s = g.skill();
            if skills[..k].iter().all(|x| x.0 != s) {
                skills[k] = (s, g.range(1, 6) as u8);
                k += 1;
            }
        }
        skills.sort_unstable();
        let channel = if g.below(10) < 8 {
            Channel::Chat
        } else {
            Channel::Voice
        };
        let mut r = ReqSet {
            skills,
            channel,
            sample_fraction: 0.0,
        };
        if out
            .iter()
            .any(|o| o.skills == r.skills && o.channel == r.channel)
        {
            continue;
        }
        let hits = sample.iter().filter(|a| a.meets(&r)).count();
        r.sample_fraction = hits as f64 / SAMPLE_AGENTS as f64;
        if (MIN_FRACTION..=MAX_FRACTION).contains(&r.sample_fraction) {
            out.push(r);
        }
    }
    out
}

/// A task for requirement set `r`.
pub fn task(g: &mut Gen, id: u64, r: &ReqSet) -> TaskSpec {
    TaskSpec::new(TaskId(id), TenantId(g.below(TENANTS) as u32), r.channel)
        .requires(r.requirements())
        .customer(CustomerProfile {
            value_tier: g.below(4) as u8,
            sentiment: g.unit() * 2.0 - 1.0,
        })
}

/// The bench configuration: the defaults (LongestIdle, fan-out 1, 20 s offers, no wrap-up).
pub fn config() -> RouterConfig {
    RouterConfig::default()
}

/// Interns the 200 skills, 24 tags and 100 tenants in id order (`skill-0` → `SkillId(0)` …).
pub fn intern(catalog: &mut switchboard::Catalog) {
    for i in 0..SKILLS {
        catalog.skill(&format!("skill-{i}"));
    }
    for i in 0..TAGS {
        catalog.tag(&format!("tag-{i}"));
    }
    for i in 0..TENANTS {
        catalog.tenant(&format!("tenant-{i}"));
    }
}

/// Eligibility statistics of `reqs` over `agents`: (min, median, mean, max) fraction.
pub fn eligibility(agents: &[AgentData], reqs: &[ReqSet]) -> (f64, f64, f64, f64) {
    let mut f: Vec<f64> = reqs
        .iter()
        .map(|r| agents.iter().filter(|a| a.meets(r)).count() as f64 / agents.len() as f64)
        .collect();
    f.sort_by(f64::total_cmp);
    let mean = f.iter().sum::<f64>() / f.len() as f64;
    (f[0], f[f.len() / 2], mean, f[f.len() - 1])
}

/// Whether quick mode is on (`SWITCHBOARD_BENCH_QUICK` set to anything but `0` or empty).
pub fn quick() -> bool {
    std::env::var("SWITCHBOARD_BENCH_QUICK").is_ok_and(|v| v != "0" && !v.is_empty())
}
