//! Guardrails: scanning customer messages and outgoing bot *and human* replies for risky content.
//!
//! A [`Guardrail`] is compiled once from a [`GuardrailConfig`] (serde: JSON or TOML) and then
//! scans text with [`Guardrail::scan`]. Scanning is one pass:
//!
//! 1. **Normalisation** ([`normalize`]): Unicode NFKC (which also turns full-width letters, digits
//!    and the ideographic space into their half-width forms), then lower-casing. Plain lower-case
//!    ASCII is scanned in place; other text is rebuilt in one pass with a sparse map back to the
//!    original offsets.
//! 2. **One aho-corasick pass** (a DFA, leftmost-longest) over the normalised text finds the
//!    phrases of every list, whatever tenant or speaker the lists are for; hits of lists that do
//!    not apply to this tenant or speaker are dropped afterwards. Phrases that begin or end with an
//!    ASCII letter or digit match whole words only, so `agent` does not fire inside `reagent`.
//! 3. **Patterns** for personal data, on the same normalised text: phone numbers (Chinese mobile,
//!    `+` international, 10-digit groups with separators), payment card numbers (13–19 digits that
//!    pass the Luhn check) and Chinese resident ID numbers (18 characters with the ISO 7064 check
//!    digit).
//!
//! Every [`Hit`] carries a span in the **original** text, the rule that fired, its
//! [`Category`] and [`GuardAction`]; the strongest action wins ([`Scan::action`]). `Mask` hits are
//! starred out in [`Scan::masked`]. Hits never carry the matched text itself, so they can go into
//! logs and hand-over packets as they are.
//!
//! # Example
//! ```
//! use switchboard::Catalog;
//! use switchboard::escalation::Speaker;
//! use switchboard::guardrail::{GuardAction, Guardrail, GuardrailConfig};
//!
//! let cfg: GuardrailConfig = serde_json::from_str(r#"{
//!   "version": "g1",
//!   "lists": [
//!     { "name": "off_platform", "category": "off_platform", "action": "block",
//!       "applies_to": ["bot", "human"], "phrases": ["加微信", "WhatsApp me"] }
//!   ],
//!   "patterns": [ { "kind": "card", "action": "mask" } ]
//! }"#).unwrap();
//! let mut catalog = Catalog::new();
//! let acme = catalog.tenant("acme");
//! let g = Guardrail::new(&cfg, &mut catalog).unwrap();
//!
//! // Full-width letters and upper case are normalised first.
//! let scan = g.scan(acme, Speaker::Human, "ok, ＷＨＡＴＳＡＰＰ ME at 1234");
//! assert_eq!(scan.action, Some(GuardAction::Block));
//!
//! // The customer may say it; the list applies to replies only. The card number is masked.
//! let scan = g.scan(acme, Speaker::Customer, "card 4111 1111 1111 1111, whatsapp me");
//! assert_eq!(scan.action, Some(GuardAction::Mask));
//! assert_eq!(scan.masked.as_deref(), Some("card *******************, whatsapp me"));
//! ```

use crate::escalation::Speaker;
use crate::{Catalog, TenantId};
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use thiserror::Error;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// What to do when a rule fires, from the mildest to the strongest.
///
/// # Example
/// ```
/// use switchboard::guardrail::GuardAction;
/// assert!(GuardAction::Escalate > GuardAction::Block);
/// assert!(GuardAction::Mask > GuardAction::Flag);
/// ```
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GuardAction {
    /// Record the hit only.
    Log,
    /// Record it and flag the message for review.
    Flag,
    /// Star out the matched text (in the stored / forwarded copy, or before sending).
    Mask,
    /// Do not send the outgoing reply. On a customer message this acts as `Flag`.
    Block,
    /// Hand the conversation to a human (a hard trigger of the escalation policy).
    Escalate,
}

/// What kind of risk a rule stands for.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Promises the brand cannot keep ("guaranteed refund", "100% 包退").
    RiskyPromise,
    /// Legal terms (lawyer, lawsuit, 起诉, 12315).
    Legal,
    /// Safety (self-harm, threats).
    Safety,
    /// Moving the customer off the platform (WeChat, WhatsApp, phone numbers).
    OffPlatform,
    /// Absolute advertising claims (最好, "best in the world").
    AbsoluteClaim,
    /// Competitor names.
    Competitor,
    /// Abuse and insults.
    Abuse,
    /// Personal data (phone, card, ID numbers).
    PersonalData,
    /// Anything else.
    Other,
}

/// A personal-data pattern.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatternKind {
    /// Phone numbers: Chinese mobile (`1[3-9]` + 9 digits, optional `86`), `+` and 8–15 digits, or
    /// 10 digits written with separators.
    Phone,
    /// Payment card numbers: 13–19 digits (spaces or dashes allowed) passing the Luhn check.
    Card,
    /// Chinese resident identity numbers: 17 digits and a check character (digit or `X`) that
    /// passes ISO 7064 MOD 11-2.
    IdNumber,
}

impl PatternKind {
    fn name(self) -> &'static str {
        match self {
            PatternKind::Phone => "phone",
            PatternKind::Card => "card",
            PatternKind::IdNumber => "id_number",
        }
    }
}

/// A list of phrases with one category and action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhraseList {
    /// Rule name, reported in hits.
    pub name: String,
    /// Category.
    #[serde(default = "other")]
    pub category: Category,
    /// Action on a hit.
    pub action: GuardAction,
    /// Speakers whose text the list applies to; empty means everyone.
    #[serde(default)]
    pub applies_to: Vec<Speaker>,
    /// Tenant names the list applies to; empty means every tenant.
    #[serde(default)]
    pub tenants: Vec<String>,
    /// The phrases (normalised like the text before matching).
    pub phrases: Vec<String>,
}

fn other() -> Category {
    Category::Other
}

/// A personal-data pattern rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatternRule {
    /// Which pattern.
    pub kind: PatternKind,
    /// Action on a hit.
    pub action: GuardAction,
    /// Speakers whose text the rule applies to; empty means everyone.
    #[serde(default)]
    pub applies_to: Vec<Speaker>,
    /// Tenant names the rule applies to; empty means every tenant.
    #[serde(default)]
    pub tenants: Vec<String>,
}

/// Guardrail configuration: phrase lists and patterns.
///
/// # Example
/// ```
/// use switchboard::guardrail::GuardrailConfig;
/// let cfg: GuardrailConfig = serde_json::from_str(
///     r#"{ "lists": [ { "name": "abuse", "action": "flag", "phrases": [""] } ] }"#).unwrap();
/// let err = cfg.validate().unwrap_err();
/// assert_eq!(err.to_string(), "invalid guardrail configuration: lists[0].phrases[0]: empty after normalisation");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GuardrailConfig {
    /// Version string, reported with scans for audit.
    pub version: String,
    /// Phrase lists.
    pub lists: Vec<PhraseList>,
    /// Patterns.
    pub patterns: Vec<PatternRule>,
}

/// A guardrail configuration that cannot be compiled.
///
/// # Example
/// ```
/// use switchboard::guardrail::GuardrailError;
/// let e = GuardrailError::InvalidConfig { path: "lists[2].name".into(), problem: "empty".into() };
/// assert_eq!(e.to_string(), "invalid guardrail configuration: lists[2].name: empty");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum GuardrailError {
    /// A field is invalid; `path` names it.
    #[error("invalid guardrail configuration: {path}: {problem}")]
    InvalidConfig {
        /// Path of the field, e.g. `lists[0].phrases[3]`.
        path: String,
        /// What is wrong.
        problem: String,
    },
    /// The automaton could not be built (e.g. too many phrases for memory limits).
    #[error("cannot build the phrase automaton: {0}")]
    Build(String),
}

impl GuardrailConfig {
    /// Checks every field.
    ///
    /// # Errors
    /// [`GuardrailError::InvalidConfig`] naming the first bad field.
    pub fn validate(&self) -> Result<(), GuardrailError> {
        let bad = |path: String, problem: &str| {
            Err(GuardrailError::InvalidConfig {
                path,
                problem: problem.to_owned(),
            })
        };
        let mut names = BTreeMap::new();
        for (i, l) in self.lists.iter().enumerate() {
            if l.name.trim().is_empty() {
                return bad(format!("lists[{i}].name"), "must not be empty");
            }
            if let Some(j) = names.insert(l.name.as_str(), i) {
                return bad(
                    format!("lists[{i}].name"),
                    &format!("duplicate of lists[{j}].name ({:?})", l.name),
                );
            }
            if l.phrases.is_empty() {
                return bad(format!("lists[{i}].phrases"), "must not be empty");
            }
            for (j, p) in l.phrases.iter().enumerate() {
                if normalize(p).text().trim().is_empty() {
                    return bad(
                        format!("lists[{i}].phrases[{j}]"),
                        "empty after normalisation",
                    );
                }
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ normalisation

/// Text after normalisation, with a way back to offsets in the original.
///
/// # Example
/// ```
/// use switchboard::guardrail::normalize;
/// let n = normalize("ＲＥＦＵＮＤ 退款");
/// assert_eq!(n.text(), "refund 退款");
/// // "refund" is bytes 0..6 of the normalised text and bytes 0..18 of the original.
/// assert_eq!(n.original_span(0, 6), (0, 18));
/// ```
#[derive(Clone, Debug)]
pub struct Normalized<'a> {
    text: Cow<'a, str>,
    /// Every cluster whose normalised length differs from its original length:
    /// `(norm_start, norm_end, orig_start, orig_end)`, in order. Between them offsets shift by a
    /// constant; empty when offsets are the identity.
    changes: Vec<(u32, u32, u32, u32)>,
}

impl Normalized<'_> {
    /// The normalised text.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Original offset of normalised offset `pos`; `end` says whether `pos` ends a span (inside
    /// a changed cluster, a start maps to the cluster's start and an end to its end).
    fn map(&self, pos: usize, end: bool) -> usize {
        let p = u32::try_from(pos).unwrap_or(u32::MAX);
        // Last changed cluster starting before `p` (for an end: at or before `p - 1`).
        let i = self
            .changes
            .partition_point(|c| if end { c.0 < p } else { c.0 <= p });
        let Some(&(ns, ne, os, oe)) = i.checked_sub(1).and_then(|i| self.changes.get(i)) else {
            return pos;
        };
        if p < ne || (!end && p == ns) {
            return if end { oe as usize } else { os as usize };
        }
        (oe as usize) + (pos - ne as usize)
    }

    /// The original byte range that normalised bytes `start..end` came from.
    #[must_use]
    pub fn original_span(&self, start: usize, end: usize) -> (usize, usize) {
        if self.changes.is_empty() {
            return (start, end);
        }
        let s = self.map(start, false);
        (s, self.map(end, true).max(s))
    }
}

/// Characters whose NFKC form is themselves, that have no case and never combine with a
/// neighbour: kept as they are.
fn is_stable(c: char) -> bool {
    is_stable_cp(c as u32)
}

fn is_stable_cp(c: u32) -> bool {
    matches!(c, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFA6D)
        || matches!(c, 0x3001..=0x3002 | 0x3041..=0x3096 | 0x30A1..=0x30FA)
}

/// Whether `m` joins the cluster of the character before it: a combining mark, other than the
/// stable ranges. Nothing below U+0300, no full-width ASCII and not the ideographic space is a
/// combining mark: those skip the table lookup.
fn combines(m: char) -> bool {
    let c = m as u32;
    !(c < 0x300 || is_stable_cp(c) || (0xFF01..=0xFF5E).contains(&c) || c == 0x3000)
        && is_combining_mark(m)
}

/// Whether the text at byte `i` starts with a combining mark (`i` on a char boundary). Lead
/// bytes below 0xCC (before U+0300), stable CJK and full-width ASCII answer without decoding.
fn combining_at(text: &str, i: usize) -> bool {
    let b = text.as_bytes();
    match b.get(i) {
        None => false,
        Some(&x) if x < 0xCC => false,
        Some(&(0xE0..=0xEF)) if stable3(b, i) || folds3(b, i).is_some() => false,
        _ => text
            .get(i..)
            .and_then(|t| t.chars().next())
            .is_some_and(combines),
    }
}

/// The ASCII byte NFKC folds the 3-byte character at `b[i]` to, if it is full-width ASCII
/// (U+FF01..U+FF5E, 0xFEE0 above ASCII) or the ideographic space; before lower-casing.
fn folds3(b: &[u8], i: usize) -> Option<u8> {
    match b.get(i) {
        Some(0xEF) => match cp3(b, i) {
            cp @ 0xFF01..=0xFF5E => u8::try_from(cp - 0xFEE0).ok(),
            _ => None,
        },
        Some(0xE3) if cp3(b, i) == 0x3000 => Some(b' '),
        _ => None,
    }
}

/// The code point of the 3-byte UTF-8 sequence at `b[i..i + 3]` (lead byte `0xE0..=0xEF`).
fn cp3(b: &[u8], i: usize) -> u32 {
    match b.get(i..i + 3) {
        Some(&[x, y, z]) => {
            (u32::from(x & 0x0F) << 12) | (u32::from(y & 0x3F) << 6) | u32::from(z & 0x3F)
        }
        _ => 0,
    }
}

/// Whether the 3-byte character at `b[i]` (lead byte `0xE0..=0xEF`) is stable. Lead bytes
/// `0xE5..=0xE9` are U+5000..U+9FFF, all CJK ideographs: no decoding needed.
fn stable3(b: &[u8], i: usize) -> bool {
    matches!(b[i], 0xE5..=0xE9) || is_stable_cp(cp3(b, i))
}

/// Normalises text for matching: NFKC (full-width → half-width included), then lower case.
///
/// Lower-case ASCII text is returned borrowed; other text is rebuilt one cluster (a character
/// and its combining marks) at a time, with a sparse map back to the original offsets. Runs of
/// ASCII and of CJK ideographs and kana are copied whole (ASCII lower-cased in place), full-width
/// ASCII and the ideographic space are folded without decoding tables; everything else goes
/// through NFKC.
#[must_use]
pub fn normalize(text: &str) -> Normalized<'_> {
    if text
        .bytes()
        .all(|b| b.is_ascii() && !b.is_ascii_uppercase())
    {
        return Normalized {
            text: Cow::Borrowed(text),
            changes: Vec::new(),
        };
    }
    if text.is_ascii() {
        return Normalized {
            text: Cow::Owned(text.to_ascii_lowercase()),
            changes: Vec::new(),
        };
    }
    let b = text.as_bytes();
    let len = b.len();
    let mut out = String::with_capacity(len);
    let mut changes = Vec::new();
    let u = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
    let mut i = 0;
    while i < len {
        let lead = b[i];
        if lead < 0x80 {
            // A run of ASCII, lower-cased; its last character stays out if a combining mark
            // follows (the two are one cluster).
            let mut j = i + 1;
            while j < len && b[j] < 0x80 {
                j += 1;
            }
            let end = if j < len && combining_at(text, j) {
                j - 1
            } else {
                j
            };
            if end > i {
                let before = out.len();
                out.push_str(&text[i..end]);
                out[before..].make_ascii_lowercase();
                i = end;
                continue;
            }
        } else if (0xE0..=0xEF).contains(&lead) && i + 3 <= len {
            if stable3(b, i) {
                // A run of stable CJK characters, copied as is.
                let mut j = i + 3;
                while j + 3 <= len && (0xE0..=0xEF).contains(&b[j]) && stable3(b, j) {
                    j += 3;
                }
                let end = if j < len && combining_at(text, j) {
                    j - 3
                } else {
                    j
                };
                if end > i {
                    out.push_str(&text[i..end]);
                    i = end;
                    continue;
                }
            } else if folds3(b, i).is_some() {
                // A run of full-width ASCII (and ideographic spaces), folded to ASCII; its last
                // character stays out if a combining mark follows.
                let mut j = i;
                while let Some(a) = folds3(b, j) {
                    let next = j + 3;
                    if folds3(b, next).is_none() && combining_at(text, next) {
                        break;
                    }
                    let before = out.len();
                    out.push(char::from(a.to_ascii_lowercase()));
                    changes.push((u(before), u(before + 1), u(j), u(next)));
                    j = next;
                }
                if j > i {
                    i = j;
                    continue;
                }
            }
        }
        i = cluster(text, i, &mut out, &mut changes);
    }
    Normalized {
        text: Cow::Owned(out),
        changes,
    }
}

/// Normalises the cluster (a character and the combining marks after it) at byte `start` into
/// `out`, recording a change when its length changes; returns where the next cluster starts.
fn cluster(
    text: &str,
    start: usize,
    out: &mut String,
    changes: &mut Vec<(u32, u32, u32, u32)>,
) -> usize {
    let u = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
    let mut chars = text.get(start..).unwrap_or("").chars();
    let Some(c) = chars.next() else {
        return text.len();
    };
    let mut end = start + c.len_utf8();
    for m in chars {
        // ASCII and the stable ranges never combine with what precedes them.
        if combines(m) {
            end += m.len_utf8();
        } else {
            break;
        }
    }
    let before = out.len();
    let single = end == start + c.len_utf8();
    if single && (c.is_ascii() || is_stable(c)) {
        out.push(c.to_ascii_lowercase());
        return end;
    } else if single && ('\u{FF01}'..='\u{FF5E}').contains(&c) {
        // Full-width ASCII: NFKC maps it to the ASCII character 0xFEE0 below.
        let a = char::from_u32(c as u32 - 0xFEE0).unwrap_or(c);
        out.push(a.to_ascii_lowercase());
    } else if single && c == '\u{3000}' {
        out.push(' ');
    } else {
        for n in text[start..end].nfkc() {
            for l in n.to_lowercase() {
                out.push(l);
            }
        }
    }
    if out.len() - before != end - start {
        changes.push((u(before), u(out.len()), u(start), u(end)));
    }
    end
}

// ------------------------------------------------------------------ phrase matching

/// Many phrase lists matched in one pass: normalisation, one aho-corasick automaton over every
/// phrase, whole-word checks for phrases with ASCII alphanumeric ends. Each phrase carries a `u32`
/// tag (e.g. the list it came from); a phrase in several lists reports every tag.
///
/// # Example
/// ```
/// use switchboard::guardrail::{PhraseMatcher, normalize};
/// let m = PhraseMatcher::new([("人工", 1), ("agent", 2), ("real person", 3)]).unwrap();
/// let text = normalize("I want a REAL person, not an agent-bot; reagent no; 转人工");
/// let mut tags = Vec::new();
/// m.find(text.text(), |tag, _start, _end| tags.push(tag));
/// assert_eq!(tags, vec![3, 2, 1]);
/// ```
#[derive(Clone, Debug)]
pub struct PhraseMatcher {
    ac: Option<AhoCorasick>,
    /// Per automaton pattern: (word boundary needed at start, at end, first tag index, tag count).
    patterns: Vec<(bool, bool, u32, u32)>,
    tags: Vec<u32>,
}

impl PhraseMatcher {
    /// Builds a matcher over `(phrase, tag)` pairs. Phrases are normalised; empty ones are skipped.
    ///
    /// # Errors
    /// [`GuardrailError::Build`] when the automaton cannot be built.
    pub fn new<'p>(
        phrases: impl IntoIterator<Item = (&'p str, u32)>,
    ) -> Result<Self, GuardrailError> {
        let mut by_phrase: BTreeMap<String, Vec<u32>> = BTreeMap::new();
        for (p, tag) in phrases {
            let n = normalize(p).text().trim().to_owned();
            if !n.is_empty() {
                let tags = by_phrase.entry(n).or_default();
                if !tags.contains(&tag) {
                    tags.push(tag);
                }
            }
        }
        let mut patterns = Vec::with_capacity(by_phrase.len());
        let mut tags = Vec::new();
        let mut strings = Vec::with_capacity(by_phrase.len());
        for (p, t) in by_phrase {
            let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
            let first = u32::try_from(tags.len()).unwrap_or(u32::MAX);
            let count = u32::try_from(t.len()).unwrap_or(u32::MAX);
            tags.extend(t);
            patterns.push((word(p.chars().next()), word(p.chars().last()), first, count));
            strings.push(p);
        }
        let ac = if strings.is_empty() {
            None
        } else {
            Some(
                AhoCorasickBuilder::new()
                    .match_kind(MatchKind::LeftmostLongest)
                    .kind(Some(AhoCorasickKind::DFA))
                    .build(&strings)
                    .map_err(|e| GuardrailError::Build(e.to_string()))?,
            )
        };
        Ok(PhraseMatcher { ac, patterns, tags })
    }

    /// Number of distinct normalised phrases.
    #[must_use]
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    /// Whether the matcher has no phrases.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Calls `f(tag, start, end)` for every hit in **already normalised** text, left to right.
    /// Hits do not overlap: at each position the longest phrase wins (a phrase inside a longer
    /// one that matched is not reported separately).
    pub fn find(&self, normalized: &str, mut f: impl FnMut(u32, usize, usize)) {
        let Some(ac) = &self.ac else { return };
        let bytes = normalized.as_bytes();
        let is_word = |i: usize| bytes.get(i).is_some_and(u8::is_ascii_alphanumeric);
        for m in ac.find_iter(normalized) {
            let Some(&(ws, we, first, count)) = self.patterns.get(m.pattern().as_usize()) else {
                continue;
            };
            if ws && m.start() > 0 && is_word(m.start() - 1) {
                continue;
            }
            if we && is_word(m.end()) {
                continue;
            }
            let (a, b) = (first as usize, first as usize + count as usize);
            for &tag in self.tags.get(a..b).unwrap_or(&[]) {
                f(tag, m.start(), m.end());
            }
        }
    }
}

// ------------------------------------------------------------------ patterns

fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d);
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}

/// ISO 7064 MOD 11-2 check of a Chinese resident ID (17 digits + check, 10 meaning `X`).
fn cn_id_ok(digits: &[u8], check: u8) -> bool {
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    if digits.len() != 17 {
        return false;
    }
    let s: u32 = digits.iter().zip(W).map(|(&d, w)| u32::from(d) * w).sum();
    let expected = (12 - (s % 11)) % 11;
    expected == u32::from(check)
}

/// The first index at or after `i` whose byte is an ASCII digit or `+` (or `b.len()`). Skips 8
/// bytes at a time while none of them can start a number (CJK text: every byte ≥ 0x80).
fn next_candidate(b: &[u8], mut i: usize) -> usize {
    const LO7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    const HI: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut w = [0u8; 8];
        w.copy_from_slice(chunk);
        let x = u64::from_le_bytes(w);
        let low = x & LO7;
        // Per byte (no carries: every lane ≤ 0x7F + 0x55): high bit set iff byte ≥ 0x2B ('+'),
        // resp. ≥ 0x3A (past '9'); ASCII bytes only.
        let ge_plus = low + 0x5555_5555_5555_5555;
        let ge_colon = low + 0x4646_4646_4646_4646;
        if ge_plus & !ge_colon & !x & HI != 0 {
            break;
        }
        i += 8;
    }
    while i < b.len() && !(b[i].is_ascii_digit() || b[i] == b'+') {
        i += 1;
    }
    i
}

/// Finds phone, card and ID numbers in normalised text; calls `f(kind, start, end)`.
fn find_patterns(text: &str, mut f: impl FnMut(PatternKind, usize, usize)) {
    let b = text.as_bytes();
    let mut i = 0;
    let mut digits: Vec<u8> = Vec::with_capacity(24);
    loop {
        i = next_candidate(b, i);
        if i >= b.len() {
            break;
        }
        let plus = b[i] == b'+' && b.get(i + 1).is_some_and(u8::is_ascii_digit);
        if !(b[i].is_ascii_digit() || plus) || (i > 0 && b[i - 1].is_ascii_alphanumeric()) {
            i += 1;
            continue;
        }
        let start = i;
        if plus {
            i += 1;
        }
        digits.clear();
        let mut seps = false;
        let mut end = i;
        while i < b.len() {
            if b[i].is_ascii_digit() {
                if digits.len() < 32 {
                    digits.push(b[i] - b'0');
                }
                i += 1;
                end = i;
            } else if matches!(b[i], b' ' | b'-' | b'.')
                && b.get(i + 1).is_some_and(u8::is_ascii_digit)
                && !(digits.is_empty())
            {
                seps = true;
                i += 1;
            } else {
                break;
            }
        }
        let x_check =
            b.get(end) == Some(&b'x') && !b.get(end + 1).is_some_and(u8::is_ascii_alphanumeric);
        let n = digits.len();
        let kind = if !plus && n == 17 && x_check && cn_id_ok(&digits, 10) {
            end += 1;
            Some(PatternKind::IdNumber)
        } else if !plus
            && n == 18
            && cn_id_ok(&digits[..17], digits[17])
            && !b.get(end).is_some_and(u8::is_ascii_alphabetic)
        {
            Some(PatternKind::IdNumber)
        } else if b.get(end).is_some_and(u8::is_ascii_alphabetic) {
            None
        } else if !plus && (13..=19).contains(&n) && luhn(&digits) {
            Some(PatternKind::Card)
        } else if (plus && (8..=15).contains(&n))
            || (n == 11 && digits[0] == 1 && digits[1] >= 3)
            || (n == 13 && digits[..3] == [8, 6, 1] && digits[3] >= 3)
            || (n == 10 && seps)
        {
            Some(PatternKind::Phone)
        } else {
            None
        };
        if let Some(k) = kind {
            f(k, start, end);
        }
        i = i.max(end).max(start + 1);
    }
}

// ------------------------------------------------------------------ the guardrail

/// One rule that fired.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hit {
    /// The list name, or the pattern kind (`phone`, `card`, `id_number`).
    pub rule: String,
    /// Its category.
    pub category: Category,
    /// Its action.
    pub action: GuardAction,
    /// Byte range in the original text.
    pub start: usize,
    /// End of the byte range (exclusive).
    pub end: usize,
}

/// The result of a scan.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scan {
    /// Every hit, ordered by start, then end, then rule.
    pub hits: Vec<Hit>,
    /// The strongest action among the hits (`Block` on a customer message counts as `Flag`).
    pub action: Option<GuardAction>,
    /// The text with every `Mask` hit starred out (one `*` per character); `None` when nothing
    /// was masked.
    pub masked: Option<String>,
}

#[derive(Clone, Debug)]
struct Rule {
    name: String,
    category: Category,
    action: GuardAction,
    /// Bit per speaker (0 = every speaker).
    speakers: u8,
    tenants: Vec<TenantId>,
}

impl Rule {
    fn applies(&self, tenant: TenantId, speaker: Speaker) -> bool {
        (self.speakers == 0 || self.speakers & speaker_bit(speaker) != 0)
            && (self.tenants.is_empty() || self.tenants.binary_search(&tenant).is_ok())
    }
}

fn speaker_bit(s: Speaker) -> u8 {
    match s {
        Speaker::Customer => 1,
        Speaker::Bot => 2,
        Speaker::Human => 4,
    }
}

fn compile_rule(
    name: String,
    category: Category,
    action: GuardAction,
    applies_to: &[Speaker],
    tenants: &[String],
    catalog: &mut Catalog,
) -> Rule {
    let mut t: Vec<TenantId> = tenants.iter().map(|n| catalog.tenant(n)).collect();
    t.sort_unstable();
    t.dedup();
    Rule {
        name,
        category,
        action,
        speakers: applies_to.iter().fold(0, |m, &s| m | speaker_bit(s)),
        tenants: t,
    }
}

/// A compiled guardrail: every list and pattern of a [`GuardrailConfig`], scanned in one pass.
/// See the [module docs](self) for what a scan does and an example.
///
/// # Example
/// ```
/// use switchboard::Catalog;
/// use switchboard::escalation::Speaker;
/// use switchboard::guardrail::{Category, GuardAction, Guardrail, GuardrailConfig, PhraseList};
/// let cfg = GuardrailConfig {
///     version: "v1".into(),
///     lists: vec![PhraseList {
///         name: "legal".into(), category: Category::Legal, action: GuardAction::Escalate,
///         applies_to: vec![Speaker::Customer], tenants: vec![],
///         phrases: vec!["起诉".into(), "lawyer".into()],
///     }],
///     patterns: vec![],
/// };
/// let mut catalog = Catalog::new();
/// let t = catalog.tenant("acme");
/// let g = Guardrail::new(&cfg, &mut catalog).unwrap();
/// let scan = g.scan(t, Speaker::Customer, "我要起诉你们");
/// assert_eq!(scan.action, Some(GuardAction::Escalate));
/// assert_eq!((scan.hits[0].start, scan.hits[0].end), (6, 12));
/// ```
#[derive(Clone, Debug)]
pub struct Guardrail {
    version: String,
    matcher: PhraseMatcher,
    rules: Vec<Rule>,
    /// Per pattern kind: the rules for it.
    pattern_rules: Vec<(PatternKind, Rule)>,
}

impl Guardrail {
    /// Validates and compiles a configuration; tenant names are interned in `catalog`.
    ///
    /// # Errors
    /// [`GuardrailError`] naming the bad field, or when the automaton cannot be built.
    pub fn new(cfg: &GuardrailConfig, catalog: &mut Catalog) -> Result<Self, GuardrailError> {
        cfg.validate()?;
        let mut rules = Vec::with_capacity(cfg.lists.len());
        for l in &cfg.lists {
            rules.push(compile_rule(
                l.name.clone(),
                l.category,
                l.action,
                &l.applies_to,
                &l.tenants,
                catalog,
            ));
        }
        let matcher = PhraseMatcher::new(cfg.lists.iter().enumerate().flat_map(|(i, l)| {
            let tag = u32::try_from(i).unwrap_or(u32::MAX);
            l.phrases.iter().map(move |p| (p.as_str(), tag))
        }))?;
        let pattern_rules = cfg
            .patterns
            .iter()
            .map(|p| {
                (
                    p.kind,
                    compile_rule(
                        p.kind.name().to_owned(),
                        Category::PersonalData,
                        p.action,
                        &p.applies_to,
                        &p.tenants,
                        catalog,
                    ),
                )
            })
            .collect();
        Ok(Guardrail {
            version: cfg.version.clone(),
            matcher,
            rules,
            pattern_rules,
        })
    }

    /// The configuration's version string.
    #[must_use]
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Number of distinct phrases in the automaton.
    #[must_use]
    pub fn phrase_count(&self) -> usize {
        self.matcher.len()
    }

    /// Scans `text` written by `speaker` in a conversation of `tenant`.
    ///
    /// # Complexity
    /// One normalisation pass and one automaton pass over the text, plus one pass for patterns
    /// when any pattern rule is configured; `O(text + hits)`.
    #[must_use]
    pub fn scan(&self, tenant: TenantId, speaker: Speaker, text: &str) -> Scan {
        let norm = normalize(text);
        let mut hits = Vec::new();
        let mut push = |rule: &Rule, s: usize, e: usize| {
            if rule.applies(tenant, speaker) {
                let (start, end) = norm.original_span(s, e);
                hits.push(Hit {
                    rule: rule.name.clone(),
                    category: rule.category,
                    action: rule.action,
                    start,
                    end,
                });
            }
        };
        self.matcher.find(norm.text(), |tag, s, e| {
            if let Some(rule) = self.rules.get(tag as usize) {
                push(rule, s, e);
            }
        });
        if !self.pattern_rules.is_empty() {
            find_patterns(norm.text(), |kind, s, e| {
                for (k, rule) in &self.pattern_rules {
                    if *k == kind {
                        push(rule, s, e);
                    }
                }
            });
        }
        if hits.is_empty() {
            return Scan::default();
        }
        hits.sort_by(|a, b| {
            (a.start, a.end, &a.rule, a.action).cmp(&(b.start, b.end, &b.rule, b.action))
        });
        hits.dedup();
        let action = hits
            .iter()
            .map(|h| {
                if h.action == GuardAction::Block && speaker == Speaker::Customer {
                    GuardAction::Flag
                } else {
                    h.action
                }
            })
            .max();
        let masked = if hits.iter().any(|h| h.action == GuardAction::Mask) {
            Some(mask(text, &hits))
        } else {
            None
        };
        Scan {
            hits,
            action,
            masked,
        }
    }
}

/// `text` with the spans of `Mask` hits replaced by one `*` per character.
fn mask(text: &str, hits: &[Hit]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    for h in hits.iter().filter(|h| h.action == GuardAction::Mask) {
        let (s, e) = (h.start.max(pos), h.end.min(text.len()));
        if s >= e || !text.is_char_boundary(s) || !text.is_char_boundary(e) {
            continue;
        }
        out.push_str(&text[pos..s]);
        out.extend(text[s..e].chars().map(|_| '*'));
        pos = e;
    }
    out.push_str(&text[pos..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        let mut found = Vec::new();
        let t = "call 13812345678 or +44 20 7946 0958, card 4539-1488-0343-6467, id 11010519491231002x, 1234567890123";
        find_patterns(t, |k, s, e| found.push((k, &t[s..e])));
        assert_eq!(
            found,
            vec![
                (PatternKind::Phone, "13812345678"),
                (PatternKind::Phone, "+44 20 7946 0958"),
                (PatternKind::Card, "4539-1488-0343-6467"),
                (PatternKind::IdNumber, "11010519491231002x"),
            ]
        );
    }

    /// The straightforward cluster-by-cluster normalisation the fast one must agree with.
    fn normalize_reference(text: &str) -> (String, Vec<(u32, u32, u32, u32)>) {
        if text.is_ascii() {
            return (text.to_ascii_lowercase(), Vec::new());
        }
        let mut out = String::new();
        let mut changes = Vec::new();
        let mut i = 0;
        while i < text.len() {
            i = cluster(text, i, &mut out, &mut changes);
        }
        (out, changes)
    }

    fn same_as_reference(text: &str) {
        let n = normalize(text);
        let (want, changes) = normalize_reference(text);
        assert_eq!(n.text(), want, "{text:?}");
        assert_eq!(n.changes, changes, "{text:?}");
    }

    #[test]
    fn fast_paths_agree_with_the_reference() {
        for t in [
            "",
            "abc",
            "ABC def",
            "e\u{301}",
            "Ａ\u{301}",
            "人\u{301}工",
            "か\u{3099}き",
            "ＨＥＬＬＯ，我的订单号是１２３４５，请尽快处理！ ",
            "你好，我上周买的蓝色连衣裙还没有到。尺码是M码。",
            "\u{3000}全角\u{3000}空格",
            "ﬁ ligature ＫＭ ㎞ Ⅻ ß İ",
            "最\u{FF21}\u{301}好",
            "x\u{301}\u{302}y",
            "\u{301}leading mark",
            "세종대왕 한글",
            "emoji 😀 ok",
        ] {
            same_as_reference(t);
        }
        // The shortcut in `combines` skips only characters that are not combining marks.
        for c in (0..0x300u32)
            .chain(0xFF01..=0xFF5E)
            .chain([0x3000])
            .filter_map(char::from_u32)
        {
            assert!(!is_combining_mark(c), "{c:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, .. proptest::prelude::ProptestConfig::default() })]
        #[test]
        fn normalize_matches_the_reference(
            parts in proptest::collection::vec(proptest::prop_oneof![
                "[a-zA-Z0-9 ,.]{0,6}",
                "[\u{4E00}-\u{4E2F}\u{3041}-\u{3050}\u{30A1}-\u{30B0}]{0,6}",
                "[\u{FF01}-\u{FF5E}\u{3000}\u{3001}\u{3002}]{0,4}",
                "[\u{0300}-\u{0304}\u{3099}\u{309A}]{0,2}",
                "[\u{00C0}-\u{00FF}\u{FB01}\u{2160}-\u{2165}\u{AC00}-\u{AC05}]{0,3}",
                "\\PC{0,4}",
            ], 0..12)
        ) {
            same_as_reference(&parts.concat());
        }
    }

    #[test]
    fn candidates_are_digits_and_plus() {
        let t = "签收人：张三，电话＋８６ 138-0000-0000; ok/. +x 7";
        let n = normalize(t);
        let b = n.text().as_bytes();
        let mut i = 0;
        let mut got = Vec::new();
        loop {
            i = next_candidate(b, i);
            if i >= b.len() {
                break;
            }
            got.push(i);
            i += 1;
        }
        let want: Vec<usize> = (0..b.len())
            .filter(|&i| b[i].is_ascii_digit() || b[i] == b'+')
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn normalisation_maps_offsets() {
        let n = normalize("Ｅ\u{301}ＴＥ 人工");
        assert_eq!(n.text(), "\u{e9}te 人工");
        let s = n.text().find('人').unwrap_or(0);
        let (a, b) = n.original_span(s, s + 6);
        assert_eq!(&"Ｅ\u{301}ＴＥ 人工"[a..b], "人工");
    }
}
