//! `trustkeep pki rotate` (issue 21, part 1): a root rotated without an outage, phase by phase,
//! across two workload clusters. At every phase, including the mixed state where one cluster
//! has switched and the other has not, `audit --strict` is clean (the rotation is info) and
//! says where each cluster stands, and Go's runtime (tests/go-oracle) completes the relay
//! handshake, accepts each `cacerts` as istiod does and federates workloads both ways. After
//! `remove` every bundle holds one root. A phase out of order is refused and writes nothing.
//! Each phase's secrets go to a new `--to-manifests` directory, then over the setup's
//! manifests, as `kubectl apply` of them would.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{self, json, tk, Made, Run, CLUSTERS};

/// The designs with a root of Istio's own and one of the relay's.
const PLACEMENTS: [&str; 3] = ["management-cluster", "hybrid", "external"];

/// One phase of `pki rotate WHAT`: `--from` the birth archives and every earlier phase's
/// archives (`rot/`), the secrets into a new `--to-manifests` directory `phase-N/`.
fn rotate(m: &Made, what: &str, args: &[&str]) -> (Run, PathBuf) {
    let n = (1..)
        .find(|n| !m.w.path(&format!("phase-{n}")).exists())
        .unwrap();
    let out = m.w.path(&format!("phase-{n}"));
    let (birth, rot, id, r) = (
        m.w.path("birth/"),
        m.w.path("rot/"),
        m.w.id(),
        util::recipient(),
    );
    let mut a: Vec<&str> = vec!["pki", "rotate", what];
    a.extend_from_slice(args);
    a.extend(["--from", birth.to_str().unwrap()]);
    let rot_has_archives = std::fs::read_dir(&rot).is_ok_and(|mut d| d.next().is_some());
    if rot_has_archives {
        a.extend(["--from", rot.to_str().unwrap()]);
    }
    a.extend([
        "-i",
        id.to_str().unwrap(),
        "-r",
        &r,
        "-o",
        rot.to_str().unwrap(),
    ]);
    a.extend(["--to-manifests", out.to_str().unwrap()]);
    (tk(&a), out)
}

/// A phase that must succeed, applied over the setup's manifests (`m/`).
fn phase(m: &Made, what: &str, args: &[&str]) -> Run {
    let (r, out) = rotate(m, what, args);
    assert_eq!(r.code, 0, "{what} {args:?}: {r:?}");
    copy_over(&out, &m.w.path("m"));
    r
}

fn copy_over(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            std::fs::create_dir_all(&dest).unwrap();
            copy_over(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// `audit --strict` of the setup's manifests, which must pass; its JSON.
fn clean_audit(m: &Made, at: &str) -> Value {
    let accept: &[&str] = match m.placement {
        "management-cluster" => &["--accept", "setup.root-key-in-cluster"],
        _ => &[],
    };
    let r = m.audit(accept);
    assert_eq!(r.code, 0, "{} {at}: {}", m.placement, r.stdout);
    let v = json(&r);
    assert_eq!(v["setup"]["architecture"], "separate-roots", "{at}");
    assert_eq!(v["setup"]["placement"], m.placement, "{at}");
    v
}

/// The `trust.rotation` messages about `key`'s certificate of `secret` in `cluster`.
fn stands(v: &Value, cluster: &str, secret: &str, key: &str) -> Vec<String> {
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| {
            f["check"] == "trust.rotation"
                && f["cluster"] == cluster
                && f["secret"] == secret
                && f["key"] == key
        })
        .map(|f| f["message"].as_str().unwrap().to_string())
        .collect()
}

/// The certificates of data key `key` of `cluster`'s manifest `rel`.
fn certs(m: &Made, cluster: &str, rel: &str, key: &str) -> Vec<trustkeep::pki::Cert> {
    let text = std::fs::read_to_string(m.w.path("m").join(cluster).join(rel)).unwrap();
    let r = trustkeep::secret::SecretRecord::from_yaml(&text, "default").unwrap();
    trustkeep::pki::parse_certs(r.get(key).unwrap().expose()).unwrap()
}

const CACERTS: &str = "istio-system/cacerts.yaml";

/// Asserts where each workload cluster stands in an Istio root rotation, as the audit says.
fn istio_stands(v: &Value, switched: &[&str], at: &str) {
    for c in &CLUSTERS[1..] {
        let s = stands(v, c, "istio-system/cacerts", "ca-cert.pem");
        assert_eq!(s.len(), 1, "{at} {c}: {v}");
        let want = match switched.contains(c) {
            true => format!("cluster {c} has switched"),
            false => format!("cluster {c} has not switched"),
        };
        assert!(s[0].contains(&want), "{at}: {}", s[0]);
    }
}

/// Every phase of an Istio root rotation on `m`; `go` runs Go's checks at each.
fn istio_rotation(m: &Made, go: bool) {
    let check = |at: &str| {
        let v = clean_audit(m, at);
        if go {
            util::go_runs_the_setup(m, &format!("{} istio-root {at}", m.placement));
        }
        v
    };
    let old = certs(m, "cluster-1", CACERTS, "root-cert.pem");
    assert_eq!(old.len(), 1);
    let r = phase(m, "istio-root", &["--phase", "add"]);
    assert!(
        r.stdout.contains("not switched: issues from the old root"),
        "{}",
        r.stdout
    );
    istio_stands(&check("after add"), &[], "add");
    for c in &CLUSTERS[1..] {
        let b = certs(m, c, CACERTS, "root-cert.pem");
        assert_eq!((b.len(), &b[0]), (2, &old[0]), "the issuing root first");
    }
    phase(
        m,
        "istio-root",
        &["--phase", "switch", "--cluster", "cluster-1"],
    );
    istio_stands(&check("cluster-1 switched"), &["cluster-1"], "mixed");
    let b1 = certs(m, "cluster-1", CACERTS, "root-cert.pem");
    assert_eq!(
        (b1.len(), &b1[1]),
        (2, &old[0]),
        "the new root first, then the old"
    );
    phase(m, "istio-root", &["--phase", "switch"]);
    istio_stands(&check("both switched"), &CLUSTERS[1..], "switched");
    let r = phase(m, "istio-root", &["--phase", "remove"]);
    let v = check("after remove");
    assert!(stands(&v, "cluster-1", "istio-system/cacerts", "ca-cert.pem").is_empty());
    let new = certs(m, "cluster-1", CACERTS, "root-cert.pem");
    for c in &CLUSTERS[1..] {
        let b = certs(m, c, CACERTS, "root-cert.pem");
        assert_eq!(b.len(), 1, "{c}: one root after remove");
        assert_eq!(b, new, "{c}: the same new root");
        assert_ne!(b[0], old[0], "{c}: not the old root");
    }
    if m.placement != "external" {
        assert!(
            r.stdout
                .contains("delete: secret gloo-mesh/root-trust-policy-passive-ca"),
            "{}",
            r.stdout
        );
        let policy = std::fs::read_to_string(
            m.w.path("m/mgmt/gloo-mesh/root-trust-policy.roottrustpolicy.yaml"),
        )
        .unwrap();
        assert!(
            !policy.contains("passiveCertificateAuthorities"),
            "{policy}"
        );
        let roots = v["setup"]["istio_roots"].as_array().unwrap();
        assert_eq!(roots.len(), 1, "{roots:?}");
    }
}

/// The Istio root of every separate-roots placement, across two workload clusters.
#[test]
fn istio_root_rotates_phase_by_phase() {
    for p in PLACEMENTS {
        let m = Made::init("separate-roots", p, &[]);
        istio_rotation(&m, false);
    }
}

const RELAY_BUNDLES: [(&str, &str); 5] = [
    ("mgmt", "gloo-mesh/relay-server-tls-secret.yaml"),
    ("cluster-1", "gloo-mesh/relay-client-tls-secret.yaml"),
    ("cluster-1", "gloo-mesh/relay-root-tls-secret.yaml"),
    ("cluster-2", "gloo-mesh/relay-client-tls-secret.yaml"),
    ("cluster-2", "gloo-mesh/relay-root-tls-secret.yaml"),
];

/// Asserts where the relay server and each agent stand, as the audit says.
fn relay_stands(v: &Value, switched: &[&str], at: &str) {
    for c in CLUSTERS {
        let secret = match c {
            "mgmt" => "gloo-mesh/relay-server-tls-secret",
            _ => "gloo-mesh/relay-client-tls-secret",
        };
        let s = stands(v, c, secret, "tls.crt");
        assert_eq!(s.len(), 1, "{at} {c}: {v}");
        let want = match switched.contains(&c) {
            true => "has switched",
            false => "has not switched",
        };
        assert!(s[0].contains(want), "{at}: {}", s[0]);
    }
}

/// Every phase of a relay root rotation on `m`: the agents' trust bundle, the server and
/// signing CA, each agent, then the old root out; `go` runs Go's checks at each.
fn relay_rotation(m: &Made, go: bool) {
    let check = |at: &str| {
        let v = clean_audit(m, at);
        if go {
            util::go_runs_the_setup(m, &format!("{} relay-root {at}", m.placement));
        }
        v
    };
    let old = certs(m, "mgmt", RELAY_BUNDLES[0].1, "ca.crt");
    phase(m, "relay-root", &["--phase", "add"]);
    relay_stands(&check("after add"), &[], "add");
    for (c, rel) in RELAY_BUNDLES {
        let b = certs(m, c, rel, "ca.crt");
        assert_eq!((b.len(), &b[0]), (2, &old[0]), "{c} {rel}");
    }
    phase(m, "relay-root", &["--phase", "switch", "--cluster", "mgmt"]);
    relay_stands(&check("server switched"), &["mgmt"], "server");
    phase(
        m,
        "relay-root",
        &["--phase", "switch", "--cluster", "cluster-1"],
    );
    relay_stands(
        &check("one agent switched"),
        &["mgmt", "cluster-1"],
        "mixed",
    );
    phase(m, "relay-root", &["--phase", "switch"]);
    relay_stands(&check("every agent switched"), &CLUSTERS, "switched");
    phase(m, "relay-root", &["--phase", "remove"]);
    let v = check("after remove");
    assert!(stands(
        &v,
        "cluster-1",
        "gloo-mesh/relay-client-tls-secret",
        "tls.crt"
    )
    .is_empty());
    let new = certs(m, "mgmt", RELAY_BUNDLES[0].1, "ca.crt");
    assert_eq!(new.len(), 1);
    assert_ne!(new[0], old[0]);
    for (c, rel) in RELAY_BUNDLES {
        assert_eq!(
            certs(m, c, rel, "ca.crt"),
            new,
            "{c} {rel}: the new root only"
        );
    }
    assert_eq!(v["setup"]["relay_roots"].as_array().unwrap().len(), 1);
}

/// The relay root of every separate-roots placement, across two workload clusters.
#[test]
fn relay_root_rotates_phase_by_phase() {
    for p in PLACEMENTS {
        let m = Made::init("separate-roots", p, &[]);
        relay_rotation(&m, false);
    }
}

/// Go's runtime at every phase of both rotations, the mixed states included: the relay
/// handshake of each agent with the server, istiod's check of each `cacerts`, and a workload
/// of each cluster verified in the other.
#[test]
#[ignore = "needs go"]
fn go_runs_every_phase_of_both_rotations() {
    for p in ["hybrid", "external"] {
        let m = Made::init("separate-roots", p, &[]);
        util::go_runs_the_setup(&m, &format!("{p} before"));
        istio_rotation(&m, true);
        relay_rotation(&m, true);
    }
}

/// The exit status, stderr, and that nothing was written (no manifests, no new archive).
fn refused(m: &Made, what: &str, args: &[&str], says: &str) {
    let before = std::fs::read_dir(m.w.path("rot"))
        .map(|d| d.count())
        .unwrap_or(0);
    let (r, out) = rotate(m, what, args);
    assert_eq!(r.code, 1, "{what} {args:?}: {r:?}");
    assert!(r.stderr.contains(says), "{what} {args:?}: {}", r.stderr);
    assert!(!out.exists(), "{what} {args:?}: nothing written");
    let after = std::fs::read_dir(m.w.path("rot"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(before, after, "{what} {args:?}: no archive written");
}

/// A phase out of order is refused (exit 1), naming what is missing and the fix.
#[test]
fn phases_out_of_order_are_refused() {
    let m = Made::init("separate-roots", "hybrid", &[]);
    let first = "--phase switch comes after --phase add; run trustkeep pki rotate istio-root --phase add first";
    refused(&m, "istio-root", &["--phase", "switch"], first);
    refused(
        &m,
        "istio-root",
        &["--phase", "remove"],
        "run trustkeep pki rotate istio-root --phase add first",
    );
    refused(
        &m,
        "relay-root",
        &["--phase", "switch"],
        "run trustkeep pki rotate relay-root --phase add first",
    );
    phase(&m, "istio-root", &["--phase", "add"]);
    refused(
        &m,
        "istio-root",
        &["--phase", "add"],
        "an Istio root rotation is already in progress",
    );
    refused(
        &m,
        "istio-root",
        &["--phase", "remove"],
        "still issues for cluster(s) cluster-1, cluster-2",
    );
    phase(
        &m,
        "istio-root",
        &["--phase", "switch", "--cluster", "cluster-2"],
    );
    refused(
        &m,
        "istio-root",
        &["--phase", "remove"],
        "first trustkeep pki rotate istio-root --phase switch --cluster cluster-1",
    );
    refused(
        &m,
        "istio-root",
        &["--phase", "switch", "--cluster", "cluster-2"],
        "a switched cluster is not switched again",
    );
    phase(&m, "relay-root", &["--phase", "add"]);
    refused(
        &m,
        "relay-root",
        &["--phase", "switch", "--cluster", "cluster-1"],
        "an agent switches after the relay server",
    );
    // No phase for a root, a phase for an intermediate: usage errors (exit 2).
    let (r, _) = rotate(&m, "istio-root", &[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("which phase?"), "{}", r.stderr);
    let (r, _) = rotate(&m, "istio-root", &["--phase", "add", "--cluster", "nope"]);
    assert!(r.code == 2 && r.stderr.contains("--cluster nope"), "{r:?}");
}

/// A shared root is refused: rotating it is not supported.
#[test]
fn a_shared_root_is_refused() {
    let m = Made::init("shared-root-separate-intermediates", "hybrid", &[]);
    let (r, out) = rotate(&m, "istio-root", &["--phase", "add"]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains("shared-root architecture"),
        "{}",
        r.stderr
    );
    assert!(!out.exists());
}

/// `istio-intermediate`: a new intermediate (new key, new serial) for one cluster under the
/// same root, the other cluster untouched; the audit passes; the archive it writes is signed
/// with `--sign-key`, and a reader that trusts the key opens it.
#[test]
fn an_istio_intermediate_is_issued_again_under_the_same_root() {
    let m = Made::init("separate-roots", "external", &[]);
    let before = |c: &str| certs(&m, c, CACERTS, "ca-cert.pem");
    let (c1, c2) = (before("cluster-1"), before("cluster-2"));
    let root = certs(&m, "cluster-1", CACERTS, "root-cert.pem");
    let key =
        m.w.copy_private("identities/test-only-ssh-ed25519", "signing-key");
    let sign = [
        "--cluster",
        "cluster-1",
        "--sign-key",
        key.to_str().unwrap(),
    ];
    let r = phase(&m, "istio-intermediate", &sign);
    assert!(
        r.stdout
            .contains("restart: deployment istio-system/istiod in cluster cluster-1"),
        "{}",
        r.stdout
    );
    assert_ne!(before("cluster-1"), c1);
    assert_eq!(
        before("cluster-1")[0].x509().issuer().to_string(),
        c1[0].x509().issuer().to_string()
    );
    assert_eq!(before("cluster-2"), c2);
    assert_eq!(certs(&m, "cluster-1", CACERTS, "root-cert.pem"), root);
    clean_audit(&m, "after istio-intermediate");
    // The phase's archive is signed as pki init's are: a reader trusting the key opens it.
    let archive = std::fs::read_dir(m.w.path("rot"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".tar.gz.age"))
        .unwrap();
    let public =
        std::fs::read_to_string(util::fixture("identities/test-only-ssh-ed25519.pub")).unwrap();
    let allowed = m.w.path("allowed_signers");
    let line = format!("rotate@test namespaces=\"trustkeep\" {}", public.trim());
    std::fs::write(&allowed, line).unwrap();
    let trusted = ["--trusted-signers", allowed.to_str().unwrap()];
    let r = m.w.with_id("inspect", &archive, &trusted);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(std::path::Path::new(&format!("{}.sig", archive.display())).exists());
    let (r, _) = rotate(
        &m,
        "istio-intermediate",
        &["--phase", "add", "--cluster", "cluster-1"],
    );
    assert!(r.code == 2 && r.stderr.contains("a single step"), "{r:?}");
}

/// `--context` against a live cluster (the sandbox holding the management cluster): `add` of
/// the Istio root creates the passive CA secret and replaces the RootTrustPolicy; a dry run
/// writes nothing; `--restart` restarts gloo-mesh-mgmt-server.
#[test]
fn a_phase_goes_to_a_live_cluster_through_the_restore_plan() {
    let m = Made::init("separate-roots", "hybrid", &[]);
    let mgmt_file = m.audit(&[]); // writes mgmt.yaml
    assert_eq!(mgmt_file.code, 0, "{mgmt_file:?}");
    let file = m.w.path("mgmt.yaml");
    let live = crate::live::Live::start(&m.w, &[file.to_str().unwrap()], &[], false);
    live.sb()
        .put(serde_json::json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "gloo-mesh-mgmt-server", "namespace": "gloo-mesh"},
            "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": {
                "metadata": {"labels": {"app": "x"}},
                "spec": {"containers": [{"name": "x", "image": "example"}]}}},
        }))
        .unwrap();
    let (birth, rot, id, r, kc) = (
        m.w.path("birth/"),
        m.w.path("rot"),
        m.w.id(),
        util::recipient(),
        live.kc(),
    );
    let run = |extra: &[&str]| {
        let mut a = vec![
            "pki",
            "rotate",
            "istio-root",
            "--phase",
            "add",
            "--from",
            birth.to_str().unwrap(),
        ];
        a.extend([
            "-i",
            id.to_str().unwrap(),
            "-r",
            &r,
            "-o",
            rot.to_str().unwrap(),
        ]);
        a.extend(["--kubeconfig", &kc, "--context"]);
        let ctx = format!("mgmt={}", crate::live::CONTEXT);
        a.push(&ctx);
        a.extend_from_slice(extra);
        tk(&a)
    };
    live.sb().reset_requests();
    let dry = run(&["--dry-run"]);
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(
        dry.stdout.contains("dry run: nothing written"),
        "{}",
        dry.stdout
    );
    assert!(live.writes().is_empty(), "{:?}", live.writes());
    assert!(!rot.exists());
    let done = run(&["--restart"]);
    assert_eq!(done.code, 0, "{done:?}");
    assert!(live
        .sb()
        .secret("gloo-mesh", "root-trust-policy-passive-ca")
        .is_some());
    let policy = live
        .sb()
        .objects()
        .into_iter()
        .find(|o| o["kind"] == "RootTrustPolicy")
        .unwrap();
    let passive =
        &policy["spec"]["config"]["passiveCertificateAuthorities"][0]["secretRef"]["name"];
    assert_eq!(passive, "root-trust-policy-passive-ca", "{policy}");
    assert!(
        done.stdout.contains("gloo-mesh-mgmt-server"),
        "{}",
        done.stdout
    );
    assert!(done.stdout.contains("restarted"), "{}", done.stdout);
    assert!(
        done.stdout.contains("no target: apply later"),
        "the workload clusters had no target: {}",
        done.stdout
    );
}

/// `relay-signing`: a new relay signing CA (new key) under the same root and a server
/// certificate from it, in one step, in each placement; agents keep the certificates the
/// earlier signing CA issued. The audit passes (each agent's certificate from the earlier CA
/// is info, not an error), and with Go the relay handshake of every not-renewed agent with
/// the new server certificate succeeds: nothing has to change at the same time.
fn relay_signing_alone(m: &Made, go: bool) {
    const SERVER: &str = "gloo-mesh/relay-server-tls-secret.yaml";
    const AGENT: &str = "gloo-mesh/relay-client-tls-secret.yaml";
    let server = certs(m, "mgmt", SERVER, "tls.crt");
    let agent = certs(m, "cluster-1", AGENT, "tls.crt");
    let r = phase(m, "relay-signing", &[]);
    assert!(
        r.stdout
            .contains("a new server certificate from the new signing CA"),
        "{}",
        r.stdout
    );
    // The signing CA is in the cluster where Gloo Mesh issues agents' certificates, else
    // kept offline with the other CAs.
    let in_cluster =
        m.w.path("m/mgmt/gloo-mesh/relay-tls-signing-secret.yaml")
            .exists();
    let signing = match in_cluster {
        true => {
            "gloo-mesh/relay-tls-signing-secret: a new signing CA (a new key) under the same root"
        }
        false => "trustkeep-offline/relay-signing-ca-",
    };
    assert!(r.stdout.contains(signing), "{}", r.stdout);
    let now = certs(m, "mgmt", SERVER, "tls.crt");
    assert_ne!(now[0], server[0], "a new server certificate");
    assert_ne!(now[1..], server[1..], "from a new signing CA");
    assert_eq!(
        now.last().unwrap().x509().issuer().to_string(),
        server.last().unwrap().x509().issuer().to_string(),
        "under the same root"
    );
    assert_eq!(
        certs(m, "cluster-1", AGENT, "tls.crt"),
        agent,
        "agents untouched"
    );
    let v = clean_audit(m, "after relay-signing");
    let earlier = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["check"] == "role.relay-client" && f["severity"] == "info")
        .count();
    let want = if in_cluster { 2 } else { 0 };
    assert_eq!(
        earlier, want,
        "an info per agent on the earlier signing CA: {v}"
    );
    if go {
        util::go_runs_the_setup(m, &format!("{} relay-signing", m.placement));
    }
    // A relay root rotation in progress is finished first.
    phase(m, "relay-root", &["--phase", "add"]);
    refused(
        m,
        "relay-signing",
        &[],
        "a relay root rotation is in progress",
    );
}

#[test]
fn the_relay_signing_ca_alone_is_issued_again_under_the_same_root() {
    for p in PLACEMENTS {
        relay_signing_alone(&Made::init("separate-roots", p, &[]), false);
    }
}

#[test]
#[ignore = "needs go"]
fn go_accepts_earlier_agents_after_a_relay_signing_rotation() {
    for p in ["hybrid", "external"] {
        relay_signing_alone(&Made::init("separate-roots", p, &[]), true);
    }
}
