//! The three arms' invariants, over random scenarios, seeds and policies: an arm compared with
//! itself differs by zero, a policy that executes nothing adds exactly nothing, every
//! difference between arms has a cause, and the threshold curves equal a full re-run.
//! ("A higher threshold never executes more" does not hold in a world where actions change
//! what is detected next: seed 16959117812149244105 gives 18 actions at 0.815 and 19 at
//! 0.904, so it is not asserted here; tests/it/properties.rs holds it decision by decision.)

use std::path::Path;

use proptest::prelude::*;
use understudy::metrics::{self, compute};
use understudy::policy::Policy;
use understudy::sim::scenario::Scenario;
use understudy::sim::{self, IncidentRecord};

use crate::{default_policy, repo};

fn scenario_file(name: &str) -> Scenario {
    Scenario::load(&repo(&format!("scenarios/{name}.yaml"))).unwrap().0
}

/// A random small world: two or three services, a few fault types at random rates, a few
/// hours, sometimes a team not paged by alerts, sometimes suggestions that change diagnosis.
fn random_scenario(seed: u64, paged: bool, right: f64, wrong: f64) -> Scenario {
    let types = ["memory-leak", "cpu-spike", "bad-deployment", "capacity-loss", "dependency-failure", "traffic-surge"];
    let mut faults = String::new();
    for (k, t) in types.iter().enumerate() {
        let rate = 2.0 + ((seed >> (k * 4)) & 0xf) as f64;
        faults.push_str(&format!("  - {{ type: {t}, rate_per_day: {rate} }}\n"));
    }
    let text = format!(
        "name: random-{seed}
duration: 8h
faults:
{faults}people: {{ paged_by_alerts: {paged}, right_suggestion_factor: {right}, wrong_suggestion_factor: {wrong} }}
"
    );
    Scenario::from_yaml(Path::new("random.yaml"), &text).unwrap_or_else(|e| panic!("{e:?}")).0
}

fn records(s: &Scenario, p: &Policy, seed: u64, reps: u32) -> Vec<IncidentRecord> {
    sim::run(s, p, seed, reps).into_iter().flat_map(|r| r.incidents).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]

    /// Every difference between arms has a cause on the incident's service, and a policy that
    /// executes nothing adds exactly nothing: the actions' effect is 0 with a [0, 0] interval
    /// and nothing is made worse, whatever the world, the team and the suggestions.
    #[test]
    fn differences_have_causes_and_a_silent_policy_adds_nothing(
        seed in any::<u64>(), paged in any::<bool>(), factors in prop_oneof![Just((1.0, 1.0)), Just((0.7, 1.5))]
    ) {
        let s = random_scenario(seed, paged, factors.0, factors.1);
        let p = default_policy();
        let recs = records(&s, &p, seed, 2);
        let refs: Vec<&IncidentRecord> = recs.iter().collect();
        let m = compute(&refs, seed);
        prop_assert_eq!(m.unattributed_difference, 0);
        for i in &recs {
            if i.made_worse() {
                prop_assert!(i.touched_by.iter().any(|t| t.kind == sim::TouchKind::Action), "{} worse without an action", i.id);
            }
        }
        let silent = p.recommend_only();
        let recs = records(&s, &silent, seed, 2);
        let refs: Vec<&IncidentRecord> = recs.iter().collect();
        let m = compute(&refs, seed);
        prop_assert_eq!(m.actions, 0);
        prop_assert_eq!(m.effect.actions.value, 0.0);
        prop_assert_eq!(m.effect.actions.ci95, [0.0, 0.0]);
        prop_assert_eq!(m.made_worse.numerator, 0);
        prop_assert_eq!(m.unattributed_difference, 0);
        for i in &recs {
            prop_assert_eq!(&i.arms.policy, &i.arms.recommend);
        }
        if factors == (1.0, 1.0) && paged {
            // Suggestions that change nothing, to a team already paged: recommend is baseline,
            // run for real here (simulate takes it from the baseline on this argument).
            prop_assert_eq!(m.effect.suggestions.value, 0.0);
            for r in 0..2 {
                for i in sim::run_every_arm(&s, &p, seed, r).incidents {
                    prop_assert_eq!(&i.arms.recommend, &i.arms.baseline);
                    prop_assert!(!i.recommend_touched);
                }
            }
        }
    }

    /// An arm compared with itself differs by exactly zero.
    #[test]
    fn an_arm_compared_with_itself_differs_by_zero(seed in any::<u64>()) {
        let s = random_scenario(seed, true, 1.0, 1.0);
        let mut recs = records(&s, &default_policy(), seed, 1);
        for i in &mut recs {
            i.arms.recommend = i.arms.policy.clone();
            i.arms.baseline = i.arms.policy.clone();
        }
        let refs: Vec<&IncidentRecord> = recs.iter().collect();
        let m = compute(&refs, seed);
        for e in [&m.effect.total, &m.effect.suggestions, &m.effect.actions] {
            prop_assert_eq!(e.value, 0.0);
            prop_assert_eq!(e.ci95, [0.0, 0.0]);
        }
        prop_assert_eq!(m.made_worse_by_suggestions.numerator, 0);
    }
}

/// The default suite at seeds the shipped numbers were not tuned on: with every auto_execute
/// off, actions add exactly 0, nothing is made worse and every arm difference has a cause.
#[test]
fn with_every_auto_execute_off_the_default_suite_shows_exactly_no_effect() {
    let names =
        ["bad-deploy", "capacity-loss", "marketing-campaign", "oomkilled-burst", "restart-loop", "week-in-prod"];
    let silent = default_policy().recommend_only();
    for seed in [3u64, 1234] {
        let recs: Vec<IncidentRecord> =
            names.iter().flat_map(|n| records(&scenario_file(n), &silent, seed, 2)).collect();
        let e = metrics::evaluate(&recs, seed);
        assert_eq!(e.overall.effect.actions.value, 0.0, "seed {seed}");
        assert_eq!(e.overall.made_worse.numerator, 0, "seed {seed}");
        assert_eq!(e.overall.unattributed_difference, 0, "seed {seed}");
        assert_eq!(e.overall.actions, 0);
    }
    // And the policy as written: harm only where an action touched the service.
    let recs: Vec<IncidentRecord> =
        names.iter().flat_map(|n| records(&scenario_file(n), &default_policy(), 99, 2)).collect();
    assert_eq!(metrics::evaluate(&recs, 99).overall.unattributed_difference, 0);
}

/// The threshold curves re-run only what a threshold can change; each point must be what a
/// full re-run at that threshold gives.
#[test]
fn threshold_curves_equal_a_full_rerun() {
    let scenarios = vec![scenario_file("oomkilled-burst"), scenario_file("bad-deploy"), scenario_file("restart-loop")];
    let p = default_policy();
    let seed = 5;
    let reference: Vec<Vec<sim::Replication>> = scenarios.iter().map(|s| sim::run(s, &p, seed, 3)).collect();
    let refs: Vec<&[sim::Replication]> = reference.iter().map(|v| v.as_slice()).collect();
    let curves = understudy::sweep::thresholds(&scenarios, &p, seed, &refs);
    assert!(!curves.is_empty());
    let mut rerun_points = 0;
    for c in &curves {
        for point in &c.points {
            let q = p.with(&understudy::policy::Setting::Threshold(c.incident_type.clone(), point.threshold)).unwrap();
            let full: Vec<IncidentRecord> =
                scenarios.iter().flat_map(|s| sim::run(s, &q, seed, 3)).flat_map(|r| r.incidents).collect();
            let expected = understudy::sweep::point(&full, &c.incident_type, point.threshold, seed);
            assert_eq!(*point, expected, "{} at {}", c.incident_type, point.threshold);
            rerun_points += usize::from(point.actions != c.points[0].actions);
        }
    }
    assert!(rerun_points > 0, "some threshold must change something, or the test proves nothing");
}

/// `simulate --compare`: a policy compared with itself changes exactly nothing, and a policy
/// compared with one that never acts shows every action it takes.
#[test]
fn a_policy_compared_with_itself_changes_nothing() {
    let s = scenario_file("oomkilled-burst");
    let p = default_policy();
    let reps = sim::run(&s, &p, 11, 3);
    let proposed: Vec<IncidentRecord> = reps.iter().flat_map(|r| r.incidents.clone()).collect();
    let again: Vec<IncidentRecord> = reps.iter().flat_map(|r| sim::rerun_policy_arm(&s, &p, 11, r).incidents).collect();
    let c = metrics::compare("same", &p.fingerprint(), &again, &proposed, 11);
    assert_eq!(c.mttr_change.value, 0.0);
    assert_eq!(c.mttr_change.ci95, [0.0, 0.0]);
    assert_eq!(c.overall.current, c.overall.proposed);
    for ch in c.per_label.values() {
        assert_eq!(ch.current, ch.proposed);
    }
    let silent = p.recommend_only();
    let none: Vec<IncidentRecord> =
        reps.iter().flat_map(|r| sim::rerun_policy_arm(&s, &silent, 11, r).incidents).collect();
    let c = metrics::compare("silent", &silent.fingerprint(), &none, &proposed, 11);
    assert_eq!(c.overall.current.actions, 0);
    assert_eq!(c.overall.proposed.actions, proposed.iter().map(|i| i.actions.len()).sum::<usize>());
}
