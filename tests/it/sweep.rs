//! Sweeps: the summary does not depend on threads or shards; shards merge back.

use crate::{repo, understudy};

const GRID: &str = "policy: ../scenarios/policy.yaml
scenarios: [../scenarios/restart-loop.yaml, ../scenarios/bad-deploy.yaml]
seeds: [1, 2]
replications: 2
gate: ../scenarios/gate.yaml
parameters:
  memory-leak.confidence_threshold: [\"0.80\", \"0.95\"]
  bad-deployment.confidence_threshold: [\"0.85\", \"0.95\"]
  guardrails.loop_breaker.max_actions: [\"2\", \"5\"]
";

#[test]
fn the_summary_is_the_same_for_1_or_2_threads_and_1_or_3_shards() {
    // The grid sits in fixtures/ so its relative paths resolve; write a temporary one there.
    let dir = tempfile::tempdir().unwrap();
    let grid = repo("fixtures").join(format!("grid-test-{}.yaml", std::process::id()));
    std::fs::write(&grid, GRID).unwrap();
    let g = grid.to_str().unwrap();
    let out = |n: &str| dir.path().join(n).to_str().unwrap().to_string();
    let run = |args: &[&str]| {
        let o = understudy(args);
        assert!(o.status.success(), "{:?}: {}", args, String::from_utf8_lossy(&o.stderr));
    };
    run(&["sweep", "--grid", g, "--threads", "1", "--out", &out("t1")]);
    run(&["sweep", "--grid", g, "--threads", "2", "--out", &out("t2")]);
    for i in 0..3 {
        run(&["sweep", "--grid", g, "--shard", &format!("{i}/3"), "--out", &out(&format!("s{i}"))]);
    }
    // Missing a shard is an error naming what is missing.
    let o = understudy(&["merge", &out("s0"), &out("s2"), "--grid", g, "--out", &out("bad")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("missing"));
    run(&["merge", &out("s2"), &out("s0"), &out("s1"), "--grid", g, "--out", &out("merged")]);
    let _ = std::fs::remove_file(&grid);
    for f in ["summary.json", "summary.csv", "jobs.jsonl"] {
        let t1 = std::fs::read(dir.path().join("t1").join(f)).unwrap();
        assert_eq!(t1, std::fs::read(dir.path().join("t2").join(f)).unwrap(), "{f}: 1 vs 2 threads");
        assert_eq!(t1, std::fs::read(dir.path().join("merged").join(f)).unwrap(), "{f}: 1 vs 3 shards");
    }
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("t1/summary.json")).unwrap()).unwrap();
    assert_eq!(s["rows"].as_array().unwrap().len(), 8, "2 × 2 × 2 variants");
    assert_eq!(s["jobs"], 8 * 2 * 2);
    assert!(s["rows"].as_array().unwrap().iter().any(|r| r["pareto"] == true));
}

#[test]
fn a_grid_with_a_bad_parameter_is_bad_input() {
    let grid = repo("fixtures").join(format!("grid-bad-{}.yaml", std::process::id()));
    std::fs::write(
        &grid,
        GRID.replace(
            "memory-leak.confidence_threshold: [\"0.80\", \"0.95\"]",
            "memory-leak.confidence_threshold: [\"1.5\"]\n  disk-full.max_attempts: [\"2\"]",
        ),
    )
    .unwrap();
    let o = understudy(&["sweep", "--grid", grid.to_str().unwrap(), "--out", "/tmp/never"]);
    let _ = std::fs::remove_file(&grid);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("memory-leak.confidence_threshold: confidence_threshold 1.5 is outside [0, 1]")
            && err.contains("no incident type `disk-full`"),
        "{err}"
    );
}

#[test]
fn the_indexed_job_runs_one_shard_per_completion_index() {
    let text = std::fs::read_to_string(repo("deploy/sweep-job.yaml")).unwrap();
    let job: serde_json::Value = serde_yaml_ng::from_str(&text).unwrap();
    assert_eq!(job["kind"], "Job");
    assert_eq!(job["spec"]["completionMode"], "Indexed");
    let n = job["spec"]["completions"].as_u64().unwrap();
    let cmd = job["spec"]["template"]["spec"]["containers"][0]["args"][0].as_str().unwrap();
    assert!(cmd.contains(&format!("--shard \"${{JOB_COMPLETION_INDEX}}/{n}\"")), "{cmd}");
    let merge: serde_json::Value =
        serde_yaml_ng::from_str(&std::fs::read_to_string(repo("deploy/sweep-merge-job.yaml")).unwrap()).unwrap();
    assert!(
        merge["spec"]["template"]["spec"]["containers"][0]["args"][0].as_str().unwrap().contains("understudy merge")
    );
}
