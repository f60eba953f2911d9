//! A flaky control plane: the sandbox injects faults (`--fault` rules: 5xx, 429 with
//! Retry-After, cut connections, no answer, delays) and trustkeep's kube client must retry
//! what is safe to retry, read back what it wrote when the outcome is unknown, give up in
//! bounded time, and converge when a restore is killed and run again.

use std::time::Duration;

use serde_json::Value;
use trustkeep_sandbox::FaultAction;

use crate::live::{backup_live, essence, Live};
use crate::util::{self, Work};

const SECRETS: [&str; 5] = [
    "relay-server-tls-secret",
    "relay-tls-signing-secret",
    "relay-root-tls-secret",
    "relay-identity-token-secret",
    "root-trust-policy.gloo-mesh",
];

/// The secrets of gloo-mesh as a restore must leave them (type, data, labels), by name.
fn state(live: &Live) -> Vec<Value> {
    SECRETS
        .iter()
        .map(|n| {
            let s = live.sb().secret("gloo-mesh", n).unwrap_or(Value::Null);
            serde_json::json!([n, s["type"], s["data"], s["metadata"]["labels"]])
        })
        .collect()
}

fn injected(live: &Live) -> Vec<(String, FaultAction)> {
    live.sb()
        .requests()
        .into_iter()
        .filter_map(|r| Some((format!("{} {}", r.verb, r.path), r.fault?)))
        .collect()
}

#[test]
fn reads_survive_5xx_cut_connections_and_silence() {
    let w = Work::new();
    let clean = Live::start(&w, &["sample/mgmt.yaml"], &[], false);
    let (r, reference) = backup_live(&w, &clean, "clean.age", &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let live = Live::faulty(
        &w,
        &["sample/mgmt.yaml"],
        &[
            "list:secrets:gloo-mesh=503x2",
            "list:roottrustpolicies=resetx1",
            "get:namespaces:kube-system=500x1",
            "list:secrets:istio-system=timeoutx1",
        ],
        0,
    );
    let (r, archive) = backup_live(&w, &live, "flaky.age", &["--request-timeout", "1s", "-v"]);
    assert_eq!(r.code, 0, "every read is retried: {r:?}");
    assert_eq!(
        essence(&w.manifest(&archive)),
        essence(&w.manifest(&reference)),
        "the same secrets as from a healthy server"
    );
    let faults = injected(&live);
    assert_eq!(faults.len(), 5, "{faults:?}");
    assert!(
        faults.iter().any(|(_, f)| *f == FaultAction::Reset)
            && faults.iter().any(|(_, f)| *f == FaultAction::Timeout),
        "{faults:?}"
    );
    assert!(r.stderr.contains("retrying in"), "{}", r.stderr);
    assert!(r.stderr.contains("--request-timeout"), "{}", r.stderr);
}

#[test]
fn retry_after_is_honoured() {
    let w = Work::new();
    let live = Live::faulty(
        &w,
        &["sample/mgmt.yaml"],
        &["list:secrets:gloo-mesh=429+2x1"],
        0,
    );
    let (r, _) = backup_live(&w, &live, "a.age", &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let lists: Vec<_> = live
        .sb()
        .requests()
        .into_iter()
        .filter(|r| r.verb == "list" && r.path == "/api/v1/namespaces/gloo-mesh/secrets")
        .collect();
    assert_eq!(lists.len(), 2, "{lists:?}");
    assert_eq!(lists[0].status, 429);
    let waited = lists[1].at.duration_since(lists[0].at);
    assert!(
        waited >= Duration::from_secs(2),
        "the retry came {waited:?} after Retry-After: 2"
    );
}

#[test]
fn a_cluster_that_never_answers_is_given_up_on_in_time() {
    let w = Work::new();
    let live = Live::faulty(&w, &["sample/mgmt.yaml"], &["list:secrets=timeout"], 0);
    let (r, out) = backup_live(
        &w,
        &live,
        "never.age",
        &["--request-timeout", "20s", "--timeout", "1s"],
    );
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("cluster sandbox:")
            && r.stderr.contains("gave up: no answer within --timeout 1s"),
        "{}",
        r.stderr
    );
    assert!(!out.exists(), "no archive");
    // A 4xx is final: one request, no retry.
    let live = Live::faulty(
        &w,
        &["sample/mgmt.yaml"],
        &["list:secrets:gloo-mesh=409"],
        0,
    );
    let (r, _) = backup_live(&w, &live, "conflict.age", &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(injected(&live).len(), 1, "{:?}", injected(&live));
}

#[test]
fn writes_with_an_unknown_outcome_are_read_back_not_repeated_blindly() {
    let w = Work::new();
    let live = Live::faulty(
        &w,
        &["sample/mgmt.yaml"],
        // Creates carry no name in their path: the rules fire on the first, second and
        // third create, whichever secret it is.
        &[
            "create:secrets=resetx1",
            "create:secrets=timeoutx1",
            "create:secrets=500x1",
            "update:secrets=resetx1",
            "delete:secrets=resetx1",
        ],
        0,
    );
    let (r, archive) = backup_live(&w, &live, "a.age", &[]);
    assert_eq!(r.code, 0, "{r:?}");
    let before = state(&live);
    for n in &SECRETS[..3] {
        assert!(live.sb().remove("secrets", "gloo-mesh", n));
    }
    let r = live.restore(&w, &archive, &["--request-timeout", "1s"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(state(&live), before);
    // Each secret was created once: the cut-off create was found by its read-back, the
    // unanswered and the failed ones were absent and made again.
    let created = live
        .sb()
        .requests()
        .iter()
        .filter(|q| q.verb == "create" && q.status == 201)
        .count();
    assert_eq!(created, 3, "{:?}", injected(&live));
    // An update cut off (restore --replace of a changed secret), and a delete cut off (a
    // changed type is deleted and created again).
    let mut changed = live.sb().secret("gloo-mesh", SECRETS[3]).unwrap();
    changed["data"]["token"] = Value::String("Y2hhbmdlZA==".into());
    live.sb().put(changed).unwrap();
    let mut retyped = live.sb().secret("gloo-mesh", SECRETS[0]).unwrap();
    retyped["type"] = Value::String("Opaque".into());
    live.sb().remove("secrets", "gloo-mesh", SECRETS[0]);
    retyped["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("resourceVersion");
    live.sb().put(retyped).unwrap();
    let r = live.restore(&w, &archive, &["--replace", "--request-timeout", "1s"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(state(&live), before);
    let kinds: Vec<FaultAction> = injected(&live).into_iter().map(|(_, f)| f).collect();
    assert_eq!(kinds.len(), 5, "every rule fired once: {kinds:?}");
}

#[test]
fn a_killed_restore_converges_when_run_again() {
    let w = Work::new();
    // Kills that landed while the restore still ran (as tests/crash.rs counts them), and of
    // those, the ones that left some secrets restored and others not: a kill between writes.
    let (mut killed, mut partial_states) = (0, 0);
    for (i, kill_after) in [150u64, 450, 750, 1050].into_iter().enumerate() {
        let live = Live::faulty(
            &w,
            &["sample/mgmt.yaml"],
            &["create:secrets=delay+300"],
            i as u64,
        );
        let (r, archive) = backup_live(&w, &live, &format!("k{i}.age"), &[]);
        assert_eq!(r.code, 0, "{r:?}");
        let before = state(&live);
        for n in SECRETS {
            live.sb().remove("secrets", "gloo-mesh", n);
        }
        let id = w.id();
        let mut child = std::process::Command::new(util::bin())
            .args([
                "restore",
                archive.to_str().unwrap(),
                "-i",
                id.to_str().unwrap(),
            ])
            .args(live.target())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(kill_after));
        let running = child.try_wait().unwrap().is_none();
        if running {
            child.kill().unwrap(); // SIGKILL on Unix
            killed += 1;
        }
        let _ = child.wait();
        let partial = state(&live).iter().filter(|s| s[1] != Value::Null).count();
        if running && 0 < partial && partial < SECRETS.len() {
            partial_states += 1;
        }
        let r = live.restore(&w, &archive, &[]);
        assert_eq!(
            r.code, 0,
            "killed after {kill_after} ms ({partial} restored): {r:?}"
        );
        assert_eq!(state(&live), before, "killed after {kill_after} ms");
        let again = live.restore(&w, &archive, &["--dry-run"]);
        assert_eq!(again.code, 0);
        assert_eq!(
            again
                .stdout
                .lines()
                .filter(|l| l.contains(" unchanged "))
                .count(),
            5,
            "{}",
            again.stdout
        );
    }
    println!("killed live restore: 4 kill points ({killed} killed mid-run, {partial_states} with some secrets restored), all converged");
    assert!(
        killed > 0,
        "no restore was killed: every run ended before its kill point"
    );
    assert!(
        partial_states > 0,
        "no kill landed between two writes: the kill points miss the restore's writes"
    );
}
