//! What a person sees for broken policies: every problem, located, with a hint. Snapshots
//! (insta) so a changed message shows up in review.

use std::path::Path;

use understudy::diag::{Code, Report};
use understudy::policy::Policy;

const GOOD_ENTRY: &str = "  - incident_type: memory-leak
    auto_execute: true
    confidence_threshold: 0.92
    max_attempts: 2
    cooldown_after_action: 10m
    verification_window: 5m
    rollback_if_failed: true
    escalation_channel: pagerduty-p1
    action: { kind: restart }
";

/// Render every diagnostic for `text` as `check` prints it.
fn errors(name: &str, text: &str) -> (String, Vec<Code>) {
    let path = Path::new("broken").join(format!("{name}.yaml"));
    match Policy::from_yaml(&path, text) {
        Ok(_) => panic!("{name} should not validate"),
        Err(ds) => {
            let codes = ds.iter().map(|d| d.code).collect();
            let mut r = Report::new();
            r.add_source(&path, text);
            r.extend(ds);
            (r.render(), codes)
        }
    }
}

macro_rules! broken {
    ($name:ident, $text:expr, $($code:expr),+) => {
        #[test]
        fn $name() {
            let text: String = $text.into();
            let (rendered, codes) = errors(stringify!($name), &text);
            for c in [$($code),+] {
                assert!(codes.contains(&c), "expected {c:?} in {codes:?}:\n{rendered}");
            }
            insta::assert_snapshot!(stringify!($name), rendered);
        }
    };
}

broken!(
    misspelt_field,
    GOOD_ENTRY.replace("confidence_threshold", "confidence_treshold").replace("  - ", "remediation_policies:\n  - "),
    Code::UnknownField,
    Code::MissingField
);

broken!(
    threshold_as_percentage,
    format!("remediation_policies:\n{}", GOOD_ENTRY.replace("0.92", "92")),
    Code::BadValue
);

broken!(
    zero_attempts_and_unitless_durations,
    format!(
        "remediation_policies:\n{}",
        GOOD_ENTRY.replace("max_attempts: 2", "max_attempts: 0").replace("10m", "600").replace("5m", "5 minutes")
    ),
    Code::BadValue
);

broken!(
    unknown_action_kind,
    format!("remediation_policies:\n{}", GOOD_ENTRY.replace("kind: restart", "kind: restrat")),
    Code::BadValue
);

broken!(
    never_auto_type_set_to_auto_execute,
    format!("remediation_policies:\n{}", GOOD_ENTRY.replace("memory-leak", "security")),
    Code::Conflict
);

broken!(
    scale_beyond_max_replicas,
    format!(
        "remediation_policies:\n{}guardrails:\n  namespaces: [prod]\n  max_replicas: 12\n",
        GOOD_ENTRY.replace("{ kind: restart }", "{ kind: scale, replicas: 20 }")
    ),
    Code::Conflict
);

broken!(
    both_list_and_single_mapping,
    format!("remediation_policies:\n{GOOD_ENTRY}remediation_policy:\n{}", GOOD_ENTRY.replace("  - ", "    ")),
    Code::Conflict
);

broken!(
    boolean_written_as_yes,
    format!("remediation_policies:\n{}", GOOD_ENTRY.replace("auto_execute: true", "auto_execute: yes")),
    Code::WrongType
);

broken!(
    duplicate_incident_type,
    format!("remediation_policies:\n{GOOD_ENTRY}{GOOD_ENTRY}guardrails:\n  namespaces: [prod]\n"),
    Code::Duplicate
);

broken!(
    bad_indentation,
    "remediation_policies:\n  - incident_type: memory-leak\n   auto_execute: true\n",
    Code::Syntax
);

broken!(
    missing_channel_and_misplaced_action_field,
    format!(
        "remediation_policies:\n{}",
        GOOD_ENTRY
            .replace("    escalation_channel: pagerduty-p1\n", "")
            .replace("{ kind: restart }", "{ kind: restart, url: \"https://x.example\" }")
    ),
    Code::MissingField
);

broken!(
    traffic_weights_and_credentials_in_url,
    format!(
        "remediation_policies:\n{}",
        GOOD_ENTRY.replace(
            "{ kind: restart }",
            "{ kind: traffic-shift, url: \"https://admin:hunter2@mesh.example/shift\", weights: { stable: 80, canary: 10 } }"
        )
    ),
    Code::BadValue,
    Code::Secret
);

broken!(
    many_problems_in_one_file,
    format!(
        "remediation_policies:\n{}{}guardrails:\n  namespaces: [Prod]\n  max_actions_per_hour: 0\n  loop_breaker: {{ max_actions: 3, windw: 1h }}\n  expected_load_events:\n    - name: black-friday\n      start: 2026-11-27T00:00:00Z\n      end: 2026-11-26T00:00:00Z\n",
        GOOD_ENTRY.replace("confidence_threshold: 0.92", "confidence_threshold: 1.5"),
        GOOD_ENTRY.replace("memory-leak", "cpu-spike").replace("{ kind: restart }", "{ kind: scale, factor: 0.5 }")
    ),
    Code::BadValue,
    Code::UnknownField,
    Code::MissingField
);

#[test]
fn empty_file_is_an_error_not_a_panic() {
    let ds = Policy::from_yaml(Path::new("empty.yaml"), "").unwrap_err();
    assert_eq!(ds[0].code, Code::Empty);
    let ds = Policy::from_yaml(Path::new("comments.yaml"), "# nothing here\n").unwrap_err();
    assert_eq!(ds[0].code, Code::Empty);
}

#[test]
fn garbage_never_panics() {
    // A few shapes of nonsense; the property is "an error, not a panic".
    for text in ["[1, 2", "- a\n- b\n", "42", "{a: {b: {c: [}}}", "remediation_policies: 7", "\u{0}\u{1}\u{2}", "?"] {
        assert!(Policy::from_yaml(Path::new("g.yaml"), text).is_err(), "{text:?}");
    }
}

proptest::proptest! {
    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        let _ = Policy::from_yaml(Path::new("fuzz.yaml"), &text);
    }

    #[test]
    fn arbitrary_mutations_of_a_policy_never_panic(cut in 0usize..400, insert in "[ :\\-\\[\\]{}#a-z0-9\n]{0,8}") {
        let base = std::fs::read_to_string(crate::repo("scenarios/policy.yaml")).unwrap();
        let mut at = cut.min(base.len());
        while !base.is_char_boundary(at) { at -= 1; }
        let text = format!("{}{}{}", &base[..at], insert, &base[at..]);
        let _ = Policy::from_yaml(Path::new("mut.yaml"), &text);
    }
}
