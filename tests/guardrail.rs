//! Guardrails: normalisation, one-pass phrase lists per tenant and speaker, personal-data
//! patterns, masking, and no panic on arbitrary text.

use proptest::prelude::*;
use switchboard::Catalog;
use switchboard::escalation::Speaker;
use switchboard::guardrail::{
    Category, GuardAction, Guardrail, GuardrailConfig, GuardrailError, normalize,
};

fn guardrail(json: &str) -> (Guardrail, Catalog) {
    let mut catalog = Catalog::new();
    let cfg: GuardrailConfig = serde_json::from_str(json).unwrap();
    let g = Guardrail::new(&cfg, &mut catalog).unwrap();
    (g, catalog)
}

const CFG: &str = r#"{
  "version": "tenants-v3",
  "lists": [
    { "name": "promises", "category": "risky_promise", "action": "flag", "applies_to": ["bot", "human"],
      "phrases": ["100%包退", "guaranteed refund"] },
    { "name": "absolute", "category": "absolute_claim", "action": "block", "applies_to": ["bot", "human"],
      "phrases": ["最好", "best in the world"] },
    { "name": "rival", "category": "competitor", "action": "log", "tenants": ["acme"],
      "phrases": ["globex"] },
    { "name": "abuse", "category": "abuse", "action": "flag", "phrases": ["idiot", "傻"] },
    { "name": "legal", "category": "legal", "action": "escalate", "applies_to": ["customer"],
      "phrases": ["起诉", "lawyer"] }
  ],
  "patterns": [
    { "kind": "phone", "action": "mask" },
    { "kind": "card", "action": "mask" },
    { "kind": "id_number", "action": "mask" }
  ]
}"#;

#[test]
fn per_speaker_and_per_tenant_lists() {
    let (g, mut catalog) = guardrail(CFG);
    let acme = catalog.tenant("acme");
    let other = catalog.tenant("initech");
    assert_eq!(g.version(), "tenants-v3");
    // Absolute claims are blocked in replies, not in customer messages.
    let bot = g.scan(acme, Speaker::Bot, "这是全网最好的面霜");
    assert_eq!(bot.action, Some(GuardAction::Block));
    assert_eq!(bot.hits[0].category, Category::AbsoluteClaim);
    assert!(
        g.scan(acme, Speaker::Customer, "最好今天发货")
            .hits
            .is_empty()
    );
    // Competitor list only for acme.
    assert_eq!(
        g.scan(acme, Speaker::Customer, "Globex is cheaper")
            .hits
            .len(),
        1
    );
    assert!(
        g.scan(other, Speaker::Customer, "Globex is cheaper")
            .hits
            .is_empty()
    );
    // Escalate on customer messages.
    let legal = g.scan(other, Speaker::Customer, "My LAWYER will call");
    assert_eq!(legal.action, Some(GuardAction::Escalate));
    // Whole words for ASCII phrases.
    assert!(g.scan(acme, Speaker::Customer, "idiotic").hits.is_empty());
    assert_eq!(g.scan(acme, Speaker::Customer, "you idiot!").hits.len(), 1);
}

#[test]
fn normalisation_full_width_and_case() {
    let (g, mut catalog) = guardrail(CFG);
    let t = catalog.tenant("acme");
    let s = g.scan(t, Speaker::Human, "ＧＵＡＲＡＮＴＥＥＤ　ＲＥＦＵＮＤ!");
    assert_eq!(s.action, Some(GuardAction::Flag));
    // The span is in the original (full-width) text.
    let h = &s.hits[0];
    assert_eq!(
        &"ＧＵＡＲＡＮＴＥＥＤ　ＲＥＦＵＮＤ!"[h.start..h.end],
        "ＧＵＡＲＡＮＴＥＥＤ　ＲＥＦＵＮＤ"
    );
    assert_eq!(normalize("Ｌａｗｙｅｒ").text(), "lawyer");
    assert_eq!(normalize("１００％包退").text(), "100%包退");
    assert_eq!(
        g.scan(t, Speaker::Bot, "１００％包退哦").action,
        Some(GuardAction::Flag)
    );
}

#[test]
fn personal_data_is_masked() {
    let (g, mut catalog) = guardrail(CFG);
    let t = catalog.tenant("acme");
    let s = g.scan(
        t,
        Speaker::Customer,
        "电话１３８１２３４５６７８，卡号 4539 1488 0343 6467，身份证11010519491231002X",
    );
    let kinds: Vec<&str> = s.hits.iter().map(|h| h.rule.as_str()).collect();
    assert_eq!(kinds, vec!["phone", "card", "id_number"]);
    assert_eq!(
        s.masked.as_deref(),
        Some("电话***********，卡号 *******************，身份证******************")
    );
    // A 16-digit number that fails the Luhn check is not a card; an 18-digit one with a wrong
    // check digit is not an ID.
    let s = g.scan(
        t,
        Speaker::Customer,
        "order 4539148803436468 and 110105194912310021",
    );
    assert!(s.hits.is_empty(), "{:?}", s.hits);
    // Bot replies are scanned too.
    let s = g.scan(t, Speaker::Bot, "call me at +86 138 1234 5678");
    assert_eq!(s.hits[0].rule, "phone");
}

#[test]
fn config_errors_name_the_path() {
    let mut catalog = Catalog::new();
    for (json, path) in [
        (
            r#"{"lists":[{"name":"","action":"log","phrases":["x"]}]}"#,
            "lists[0].name",
        ),
        (
            r#"{"lists":[{"name":"a","action":"log","phrases":[]}]}"#,
            "lists[0].phrases",
        ),
        (
            r#"{"lists":[{"name":"a","action":"log","phrases":["x"]},{"name":"a","action":"log","phrases":["y"]}]}"#,
            "lists[1].name",
        ),
        (
            r#"{"lists":[{"name":"a","action":"log","phrases":["x","　"]}]}"#,
            "lists[0].phrases[1]",
        ),
    ] {
        let cfg: GuardrailConfig = serde_json::from_str(json).unwrap();
        match Guardrail::new(&cfg, &mut catalog) {
            Err(GuardrailError::InvalidConfig { path: p, .. }) => assert_eq!(p, path),
            other => panic!("{json}: {other:?}"),
        }
    }
}

#[test]
fn ten_thousand_phrases_one_pass() {
    let phrases: Vec<String> = (0..10_000)
        .map(|i| format!("risky phrase {i:05}"))
        .collect();
    let cfg = GuardrailConfig {
        version: "big".into(),
        lists: vec![switchboard::guardrail::PhraseList {
            name: "big".into(),
            category: Category::Other,
            action: GuardAction::Flag,
            applies_to: vec![],
            tenants: vec![],
            phrases,
        }],
        patterns: vec![],
    };
    let mut catalog = Catalog::new();
    let t = catalog.tenant("acme");
    let g = Guardrail::new(&cfg, &mut catalog).unwrap();
    assert_eq!(g.phrase_count(), 10_000);
    let s = g.scan(
        t,
        Speaker::Bot,
        "this has RISKY PHRASE 09999 and risky phrase 00000.",
    );
    assert_eq!(s.hits.len(), 2);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn any_text_scans_without_panic_and_spans_are_valid(text in "\\PC{0,200}", speaker in 0u8..3) {
        let (g, mut catalog) = guardrail(CFG);
        let t = catalog.tenant("acme");
        let speaker = [Speaker::Customer, Speaker::Bot, Speaker::Human][speaker as usize];
        let s = g.scan(t, speaker, &text);
        for h in &s.hits {
            prop_assert!(h.start <= h.end && h.end <= text.len());
            prop_assert!(text.is_char_boundary(h.start) && text.is_char_boundary(h.end));
        }
        if let Some(m) = &s.masked {
            prop_assert_eq!(m.chars().count(), text.chars().count());
        }
        // Deterministic.
        prop_assert_eq!(&s, &g.scan(t, speaker, &text));
    }

    #[test]
    fn phrases_are_found_whatever_the_width_and_case(upper: bool, full: bool, pad in "[a-z ]{0,10}") {
        let (g, mut catalog) = guardrail(CFG);
        let t = catalog.tenant("acme");
        let mut phrase: String = "guaranteed refund".into();
        if upper { phrase = phrase.to_uppercase(); }
        if full {
            phrase = phrase.chars().map(|c| if c == ' ' { '\u{3000}' } else { char::from_u32(c as u32 + 0xFEE0).unwrap() }).collect();
        }
        let text = format!("{pad} {phrase} {pad}");
        let s = g.scan(t, Speaker::Bot, &text);
        prop_assert_eq!(s.action, Some(GuardAction::Flag));
    }
}

#[test]
fn spans_map_back_through_expansions_and_combining_marks() {
    let (g, mut catalog) = guardrail(
        r#"{ "lists": [ { "name": "w", "action": "mask", "phrases": ["file", "café"] } ] }"#,
    );
    let t = catalog.tenant("acme");
    // U+FB01 (ﬁ) expands to "fi"; "cafe" + U+0301 composes to "café".
    let text = "my ﬁle, the Ｆｉｌｅ and CAFE\u{301}!";
    let s = g.scan(t, Speaker::Customer, text);
    let spans: Vec<&str> = s.hits.iter().map(|h| &text[h.start..h.end]).collect();
    assert_eq!(spans, vec!["ﬁle", "Ｆｉｌｅ", "CAFE\u{301}"]);
    assert_eq!(s.masked.as_deref(), Some("my ***, the **** and *****!"));
}
