//! `discover` and `--profile`: a bring-your-own-certificates management cluster whose Helm
//! release (in Helm's real storage format, built here) renames the relay server secret,
//! disables the CA and the token and enables the telemetry gateway. Discovery from a file and
//! from a live sandbox gives the same profile and never shows the release's license key;
//! `backup --profile` archives exactly the secrets in use, without reporting the signing CA or
//! token missing, also with `get`-only RBAC; `audit --profile` reports a deleted one as drift.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde_json::{json, Value};
use trustkeep_sandbox::{self as sandbox, Rbac};

use crate::live::{archived_names, backup_live, Live};
use crate::util::{self, fixture, tk, Work};

const LICENSE: &str = "FAKE-LICENSE-trustkeep-discover-test-must-not-leak";
const SERVER: &str = "gloo-mesh-mgmt-server-tls-secret";
const TELEMETRY: &str = "gloo-telemetry-gateway-tls-secret";

/// `sh.helm.release.v1.gloo-platform.v<version>` as Helm 3 stores it: the `release` key is
/// base64(gzip(JSON)), and the Secret's `data` base64-encodes that once more.
pub(crate) fn helm_release(version: u32, status: &str, config: Value) -> Value {
    let release = json!({
        "name": "gloo-platform", "namespace": "gloo-mesh", "version": version,
        "info": {"status": status},
        "chart": {
            "metadata": {"name": "gloo-platform", "version": "2.7.0"},
            "values": {
                "licensing": {"glooMeshLicenseKey": ""},
                "glooMgmtServer": {"enabled": false, "relay": {
                    "tlsSecret": {"name": "relay-server-tls-secret"},
                    "signingTlsSecret": {"name": "relay-tls-signing-secret"},
                    "tokenSecret": {"name": "relay-identity-token-secret", "namespace": "", "key": "token"},
                    "disableCa": false, "disableCaCertGeneration": false, "disableTokenGeneration": false}},
                "glooAgent": {"enabled": false, "relay": {
                    "clientTlsSecret": {"name": "relay-client-tls-secret"},
                    "rootTlsSecret": {"name": "relay-root-tls-secret"}}},
                "telemetryGateway": {"enabled": false}
            }
        },
        "config": config,
    });
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(release.to_string().as_bytes()).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD;
    let helm = b64.encode(gz.finish().unwrap());
    json!({
        "apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
        "metadata": {"name": format!("sh.helm.release.v1.gloo-platform.v{version}"), "namespace": "gloo-mesh",
            "labels": {"owner": "helm", "name": "gloo-platform", "status": status, "version": version.to_string()}},
        "data": {"release": b64.encode(helm)}
    })
}

/// The objects of a sample fixture, lists flattened, without its Deployments (each test
/// adds the ones it needs).
pub(crate) fn sample_objects(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(fixture(file)).unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
    let mut items = Vec::new();
    for doc in docs {
        match doc["kind"].as_str() {
            Some("List") => items.extend(doc["items"].as_array().unwrap().iter().cloned()),
            _ => items.push(doc),
        }
    }
    items.retain(|o| o["kind"] != "Deployment");
    items
}

/// Writes `items` as a `List` to `name` in the work directory.
pub(crate) fn write_list(w: &Work, name: &str, items: Vec<Value>) -> PathBuf {
    let path = w.path(name);
    let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
    std::fs::write(&path, serde_json::to_string_pretty(&list).unwrap()).unwrap();
    path
}

/// The sample management cluster made bring-your-own: server secret renamed, no signing CA,
/// token or relay root, a telemetry gateway secret, and the BYO Helm release (revision 2).
fn byo_setup(w: &Work) -> PathBuf {
    let mut out = Vec::new();
    for mut o in sample_objects("sample/mgmt.yaml") {
        let name = o["metadata"]["name"].as_str().unwrap_or("").to_string();
        match name.as_str() {
            "relay-tls-signing-secret"
            | "relay-identity-token-secret"
            | "relay-root-tls-secret" => continue,
            "sh.helm.release.v1.gloo-platform.v1" => {
                o["metadata"]["labels"]["status"] = json!("superseded");
            }
            "relay-server-tls-secret" => {
                let mut t = o.clone();
                t["metadata"]["name"] = json!(TELEMETRY);
                t["metadata"]["uid"] = json!("7e1e0000-0000-4000-8000-000000000001");
                out.push(t);
                o["metadata"]["name"] = json!(SERVER);
            }
            _ => {}
        }
        out.push(o);
    }
    out.push(helm_release(
        2,
        "deployed",
        json!({
            "licensing": {"glooMeshLicenseKey": LICENSE},
            "common": {"cluster": "mgmt"},
            "glooMgmtServer": {"enabled": true, "relay": {
                "tlsSecret": {"name": SERVER},
                "disableCa": true, "disableCaCertGeneration": true, "disableTokenGeneration": true}},
            "telemetryGateway": {"enabled": true},
            "telemetryGatewayCustomization": {"disableCertGeneration": true}
        }),
    ));
    write_list(w, "byo.json", out)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `trustkeep audit --profile PROFILE --at <test time>` against the live sandbox.
fn audit_live(live: &Live, profile: &Path) -> util::Run {
    let mut a = vec![
        "audit".to_string(),
        "--profile".into(),
        s(profile).into(),
        "--at".into(),
        util::AT.into(),
    ];
    a.extend(live.target());
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    tk(&a)
}

/// The profile's role → namespace/name (or `absent`) pairs.
fn roles(profile: &Value) -> Vec<String> {
    profile["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| match e["name"].as_str() {
            Some(n) => format!(
                "{}={}/{n}",
                e["role"].as_str().unwrap(),
                e["namespace"].as_str().unwrap()
            ),
            None => format!("{}=absent", e["role"].as_str().unwrap()),
        })
        .collect()
}

const EXPECTED: &[&str] = &[
    "relay-server=gloo-mesh/gloo-mesh-mgmt-server-tls-secret",
    "relay-signing=absent",
    "relay-root=absent",
    "relay-identity-token=absent",
    "relay-client=absent",
    "root-trust=gloo-mesh/root-trust-policy.gloo-mesh",
    "istio-cacerts=absent",
    "telemetry-gateway=gloo-mesh/gloo-telemetry-gateway-tls-secret",
];

#[test]
fn discover_from_a_file_and_a_live_cluster_gives_the_profile_and_never_the_license() {
    let w = Work::new();
    let setup = byo_setup(&w);
    let r = tk(&["discover", "--from", s(&setup)]);
    assert_eq!(r.code, 0, "{r:?}");
    let from_file: Value = serde_saphyr::from_str(&r.stdout).unwrap();
    assert_eq!(from_file["apiVersion"], "trustkeep.io/v1");
    assert_eq!(from_file["kind"], "Profile");
    assert_eq!(from_file["relayMode"], "mtls-byo");
    assert_eq!(from_file["clusterKind"], "management");
    assert_eq!(roles(&from_file), EXPECTED);
    assert_eq!(
        from_file["discovered"]["helmReleases"],
        json!(["gloo-mesh/gloo-platform revision 2"])
    );
    // The Role grants get on exactly the names in use.
    assert_eq!(
        from_file["rbac"],
        json!([{"namespace": "gloo-mesh", "rules": [
            {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"],
             "resourceNames": [SERVER, TELEMETRY, "root-trust-policy.gloo-mesh"]},
            {"apiGroups": ["admin.gloo.solo.io"], "resources": ["roottrustpolicies"], "verbs": ["get", "list"]}
        ]}])
    );
    let json_run = tk(&["discover", "--from", s(&setup), "--output", "json"]);
    assert_eq!(json_run.code, 0, "{json_run:?}");
    let as_json: Value = serde_json::from_str(&json_run.stdout).unwrap();
    assert_eq!(roles(&as_json), EXPECTED);

    let live = Live::start(&w, &[s(&setup)], &[], false);
    let mut a = vec!["discover".to_string()];
    a.extend(live.target());
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let lr = tk(&a);
    assert_eq!(lr.code, 0, "{lr:?}");
    let from_live: Value = serde_saphyr::from_str(&lr.stdout).unwrap();
    assert_eq!(roles(&from_live), EXPECTED);
    assert_eq!(from_live["rbac"], from_file["rbac"]);
    assert_eq!(from_live["relayMode"], "mtls-byo");

    // -o: mode 0600, never over an existing file without --force.
    let out = w.path("profile.yaml");
    let wr = tk(&["discover", "--from", s(&setup), "-o", s(&out)]);
    assert_eq!(wr.code, 0, "{wr:?}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let again = tk(&["discover", "--from", s(&setup), "-o", s(&out)]);
    assert_eq!(again.code, 2, "{again:?}");
    assert!(again.stderr.contains("pass --force"), "{}", again.stderr);
    let forced = tk(&["discover", "--from", s(&setup), "-o", s(&out), "--force"]);
    assert_eq!(forced.code, 0, "{forced:?}");
    let written = std::fs::read_to_string(&out).unwrap();

    for text in [
        &r.stdout,
        &r.stderr,
        &json_run.stdout,
        &lr.stdout,
        &lr.stderr,
        &wr.stdout,
        &written,
    ] {
        assert!(!text.contains(LICENSE), "the license leaked: {text}");
        assert!(!text.contains("FAKE-LICENSE"), "the license leaked: {text}");
    }
    // The fixture does carry it, in Helm's encoding (so the test can fail).
    assert!(!std::fs::read_to_string(&setup).unwrap().contains(LICENSE));
}

#[test]
fn backup_with_the_profile_archives_the_renamed_secrets_and_misses_nothing() {
    let w = Work::new();
    let setup = byo_setup(&w);
    let profile = w.path("p.yaml");
    assert_eq!(
        tk(&["discover", "--from", s(&setup), "-o", s(&profile)]).code,
        0
    );

    // Without the profile, the default names are looked for and reported missing.
    let plain = w.path("plain.age");
    let r = tk(&[
        "backup",
        "--from",
        s(&setup),
        "-r",
        &util::recipient(),
        "-o",
        s(&plain),
    ]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stdout.contains("[selection.missing]"), "{}", r.stdout);

    let with = w.path("with.age");
    let r = tk(&[
        "backup",
        "--from",
        s(&setup),
        "-r",
        &util::recipient(),
        "-o",
        s(&with),
        "--profile",
        s(&profile),
    ]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(!r.stdout.contains("selection.missing"), "{}", r.stdout);
    assert!(!r.stdout.contains("profile.drift"), "{}", r.stdout);
    assert_eq!(
        w.archived(&with),
        [
            format!("{SERVER}=relay-server"),
            format!("{TELEMETRY}=included"),
            "root-trust-policy.gloo-mesh=root-trust".to_string(),
        ]
    );

    // Live, with the profile's own RBAC shape: secrets may be got, not listed.
    let live = Live::start(&w, &[s(&setup)], &["list:secrets"], false);
    let (lr, archive) = backup_live(&w, &live, "live.age", &["--profile", s(&profile)]);
    assert_eq!(lr.code, 0, "{lr:?}");
    assert_eq!(w.archived(&archive), w.archived(&with));
}

#[test]
fn audit_with_the_profile_reports_a_deleted_secret_as_drift() {
    let w = Work::new();
    let setup = byo_setup(&w);
    let profile = w.path("p.yaml");
    assert_eq!(
        tk(&["discover", "--from", s(&setup), "-o", s(&profile)]).code,
        0
    );
    let live = Live::start(&w, &[s(&setup)], &[], false);
    let audit = || audit_live(&live, &profile);
    let before = audit();
    assert!(!before.stdout.contains("profile.drift"), "{before:?}");
    assert!(!before.stdout.contains("selection.missing"), "{before:?}");
    assert!(live.sb().remove("secrets", "gloo-mesh", TELEMETRY));
    let after = audit();
    assert_eq!(after.code, 1, "{after:?}");
    assert!(
        after.stdout.contains(&format!(
            "error   [profile.drift] sandbox:gloo-mesh/{TELEMETRY}"
        )),
        "{}",
        after.stdout
    );
}

#[test]
fn a_profile_of_another_version_is_refused() {
    let w = Work::new();
    let p = w.path("p.yaml");
    std::fs::write(&p, "apiVersion: trustkeep.io/v2\nkind: Profile\n").unwrap();
    let r = util::backup("sample/mgmt.yaml", &w.path("x.age"), &["--profile", s(&p)]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.contains("p.yaml"), "{}", r.stderr);
}

const AGENT_SECRET: &str = "gloo-mesh-agent-tls-secret";

/// A cert-manager Certificate issuing `secret` in gloo-mesh from ClusterIssuer `relay-ca`.
fn certificate(name: &str, secret: &str) -> Value {
    json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
        "metadata": {"name": name, "namespace": "gloo-mesh"},
        "spec": {"secretName": secret, "commonName": "x",
            "issuerRef": {"name": "relay-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}}})
}

/// The sample workload cluster made bring-your-own, as the agent-only Helm release of a BYO
/// installation leaves it: no identity token, and either the client secret renamed through
/// `glooAgent.relay.clientTlsSecret.name` (`renamed`) or kept under its default name but
/// issued by cert-manager.
fn byo_workload(w: &Work, renamed: bool) -> PathBuf {
    let client = if renamed {
        AGENT_SECRET
    } else {
        "relay-client-tls-secret"
    };
    let mut out = Vec::new();
    for mut o in sample_objects("sample/cluster-1.yaml") {
        match o["metadata"]["name"].as_str().unwrap_or("") {
            // The sample's default agent release gives way to the BYO one.
            "relay-identity-token-secret" | "sh.helm.release.v1.gloo-agent.v1" => continue,
            "relay-client-tls-secret" => o["metadata"]["name"] = json!(client),
            _ => {}
        }
        out.push(o);
    }
    let relay = if renamed {
        json!({"clientTlsSecret": {"name": AGENT_SECRET}, "serverAddress": "mgmt.example:9900"})
    } else {
        json!({"serverAddress": "mgmt.example:9900"})
    };
    out.push(helm_release(
        1,
        "deployed",
        json!({"common": {"cluster": "cluster-1"}, "glooAgent": {"enabled": true, "relay": relay}}),
    ));
    if !renamed {
        out.push(certificate("gloo-mesh-agent", client));
    }
    write_list(w, &format!("byo-workload-{renamed}.json"), out)
}

fn discover_live(live: &Live, extra: &[&str]) -> util::Run {
    let mut a = vec!["discover".to_string()];
    a.extend(live.target());
    a.extend(extra.iter().map(|s| s.to_string()));
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    tk(&a)
}

#[test]
fn a_byo_workload_cluster_is_read_as_byo_and_audits_without_drift() {
    for renamed in [true, false] {
        let w = Work::new();
        let setup = byo_workload(&w, renamed);
        let r = tk(&["discover", "--from", s(&setup)]);
        assert_eq!(r.code, 0, "{r:?}");
        let p: Value = serde_saphyr::from_str(&r.stdout).unwrap();
        assert_eq!(
            p["relayMode"], "mtls-byo",
            "renamed {renamed}: {}",
            r.stdout
        );
        assert_eq!(p["clusterKind"], "workload");
        let client = if renamed {
            AGENT_SECRET
        } else {
            "relay-client-tls-secret"
        };
        assert_eq!(
            roles(&p),
            [
                "relay-server=absent",
                "relay-signing=absent",
                "relay-root=gloo-mesh/relay-root-tls-secret",
                "relay-identity-token=absent",
                &format!("relay-client=gloo-mesh/{client}"),
                "root-trust=absent",
                "istio-cacerts=istio-system/cacerts",
                "telemetry-gateway=absent",
            ]
        );
        let entry = &p["secrets"][4];
        if renamed {
            assert!(entry.get("managedBy").is_none(), "{entry}");
        } else {
            assert_eq!(
                entry["managedBy"],
                json!({"manager": "cert-manager", "certificate": "gloo-mesh/gloo-mesh-agent",
                    "issuer": {"kind": "ClusterIssuer", "name": "relay-ca", "group": "cert-manager.io"}})
            );
        }
        let profile = w.path("p.yaml");
        std::fs::write(&profile, &r.stdout).unwrap();
        let live = Live::start(&w, &[s(&setup)], &[], false);
        // Live discovery agrees (the Certificate is read through the API).
        let lr = discover_live(&live, &[]);
        assert_eq!(lr.code, 0, "{lr:?}");
        let from_live: Value = serde_saphyr::from_str(&lr.stdout).unwrap();
        assert_eq!(roles(&from_live), roles(&p));
        assert_eq!(from_live["secrets"][4], p["secrets"][4]);
        let audit = audit_live(&live, &profile);
        assert!(!audit.stdout.contains("profile.drift"), "{audit:?}");
        assert!(!audit.stdout.contains("selection.missing"), "{audit:?}");
    }
}

/// A Deployment of `name` mounting `volumes` (volume name, secret) and passing `args`.
fn deployment(name: &str, volumes: &[(&str, &str)], args: &[&str]) -> Value {
    let volumes: Vec<Value> = volumes
        .iter()
        .map(|(v, secret)| json!({"name": v, "secret": {"secretName": secret}}))
        .collect();
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "gloo-mesh", "labels": {"app": name}},
        "spec": {"selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {
                "containers": [{"name": "c", "image": "gcr.io/gloo-mesh/x", "args": args,
                    "env": [{"name": "LICENSE_KEY", "valueFrom": {"secretKeyRef": {"name": "gloo-mesh-enterprise-license-keys", "key": "k"}}}]}],
                "volumes": volumes}}}})
}

#[test]
fn without_a_helm_release_the_deployments_name_the_components_and_secrets() {
    let w = Work::new();
    // The BYO management cluster installed with `helm template`: no release secret at all;
    // its server secret is issued by cert-manager and mounted by the management server.
    let mut items: Vec<Value> = sample_objects(s(&byo_setup(&w)))
        .into_iter()
        .filter(|o| o["type"] != "helm.sh/release.v1")
        .collect();
    items.push(deployment(
        "gloo-mesh-mgmt-server",
        &[("relay-server-tls", SERVER)],
        &["--cluster=mgmt", "--telemetry-secret-name", TELEMETRY],
    ));
    items.push(certificate("mgmt-server", SERVER));
    let setup = write_list(&w, "gitops.json", items);
    let r = tk(&["discover", "--from", s(&setup)]);
    assert_eq!(r.code, 0, "{r:?}");
    let p: Value = serde_saphyr::from_str(&r.stdout).unwrap();
    assert_eq!(p["relayMode"], "mtls-byo", "{}", r.stdout);
    assert_eq!(roles(&p), EXPECTED);
    assert!(p["discovered"].get("helmReleases").is_none());
    assert_eq!(
        p["discovered"]["deployments"],
        json!([{"deployment": "gloo-mesh/gloo-mesh-mgmt-server", "component": "mgmt-server",
            "secrets": [SERVER, "gloo-mesh-enterprise-license-keys", TELEMETRY]}])
    );
    assert_eq!(
        p["secrets"][0]["managedBy"]["certificate"],
        "gloo-mesh/mgmt-server"
    );
    let notes = p["discovered"]["notes"].to_string();
    assert!(
        notes.contains("no Helm release in namespace gloo-mesh"),
        "{notes}"
    );

    // Live, RBAC forbids listing Certificates: a note naming the permission, not a failure;
    // without the Certificate nothing says BYO, and the profile says what it assumed.
    // One LIST per kind, never one call per object.
    let live = Live::start(&w, &[s(&setup)], &["list:certificates"], false);
    live.sb().reset_requests();
    let lr = discover_live(&live, &[]);
    assert_eq!(lr.code, 0, "{lr:?}");
    let lp: Value = serde_saphyr::from_str(&lr.stdout).unwrap();
    assert_eq!(lp["relayMode"], "mtls-generated");
    assert_eq!(roles(&lp)[0], EXPECTED[0]);
    assert!(lp["secrets"][0].get("managedBy").is_none(), "not readable");
    let notes = lp["discovered"]["notes"].to_string();
    assert!(
        notes.contains("relay mode taken as mtls-generated"),
        "{notes}"
    );
    assert!(
        notes.contains("listing certificates.cert-manager.io in namespace gloo-mesh is forbidden (403): grant list on certificates.cert-manager.io"),
        "{notes}"
    );
    let reqs = live.sb().requests();
    let count = |resource: &str| {
        reqs.iter()
            .filter(|r| r.resource.as_deref() == Some(resource))
            .map(|r| r.verb.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(count("deployments"), ["list"]);
    assert_eq!(
        count("certificates"),
        ["list", "list", "list"],
        "all, then the two namespaces"
    );
    // A backup never reads these kinds.
    live.sb().reset_requests();
    let (b, _) = backup_live(&w, &live, "b.age", &[]);
    assert!(b.code <= 1, "{b:?}");
    assert!(live
        .sb()
        .requests()
        .iter()
        .all(|r| !matches!(r.resource.as_deref(), Some("deployments" | "certificates"))));

    // With the Certificate readable, live gives the file's profile.
    let open = Live::start(&w, &[s(&setup)], &[], false);
    let or = discover_live(&open, &[]);
    let op: Value = serde_saphyr::from_str(&or.stdout).unwrap();
    assert_eq!(roles(&op), EXPECTED);
    assert_eq!(op["secrets"][0]["managedBy"], p["secrets"][0]["managedBy"]);
    // Without the cert-manager CRD (404), no failure and no note about Certificates.
    let bare = Live::start(&w, &[s(&setup)], &[], true);
    let br = discover_live(&bare, &[]);
    assert_eq!(br.code, 0, "{br:?}");
    let bp: Value = serde_saphyr::from_str(&br.stdout).unwrap();
    assert!(!bp["discovered"]["notes"].to_string().contains("403"));
}

#[test]
fn a_release_whose_component_has_no_deployment_says_so() {
    let w = Work::new();
    let mut items = sample_objects(s(&byo_setup(&w)));
    items.push(deployment("unrelated", &[], &[]));
    let setup = write_list(&w, "nodeploy.json", items);
    let r = tk(&["discover", "--from", s(&setup)]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(
        r.stdout
            .contains("the Helm release enables glooMgmtServer but file"),
        "{}",
        r.stdout
    );
    let mut items = sample_objects(s(&setup));
    items.push(deployment("gloo-mesh-mgmt-server", &[("tls", SERVER)], &[]));
    let setup = write_list(&w, "deploy.json", items);
    let r = tk(&["discover", "--from", s(&setup)]);
    assert!(!r.stdout.contains("enables glooMgmtServer"), "{}", r.stdout);
}

#[test]
fn the_emitted_role_lets_a_backup_take_exactly_the_profile_and_no_name_less() {
    let w = Work::new();
    let setup = byo_setup(&w);
    let profile = w.path("p.yaml");
    assert_eq!(
        tk(&["discover", "--from", s(&setup), "-o", s(&profile)]).code,
        0
    );
    let r = tk(&["discover", "--from", s(&setup), "--emit-role"]);
    assert_eq!(r.code, 0, "{r:?}");
    let objects: Vec<Value> = serde_saphyr::from_multiple(&r.stdout).unwrap();
    let kinds: Vec<&str> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["Role", "RoleBinding"]);
    assert_eq!(
        objects[1]["subjects"],
        json!([{"kind": "ServiceAccount", "name": "trustkeep", "namespace": "gloo-mesh"}])
    );
    let p: Value = serde_saphyr::from_str(&std::fs::read_to_string(&profile).unwrap()).unwrap();
    assert_eq!(
        objects[0]["rules"], p["rbac"][0]["rules"],
        "exactly the profile's rbac"
    );

    let backup = |rbac: &[Value], name: &str| {
        let rbac = Rbac::for_service_account(rbac, "gloo-mesh", "trustkeep").unwrap();
        let opts = sandbox::Options {
            rbac: Some(rbac),
            ..Default::default()
        };
        let live = Live::start_with(&w, &[s(&setup)], opts);
        backup_live(&w, &live, name, &["--profile", s(&profile)])
    };
    let (ok, archive) = backup(&objects, "full.age");
    assert_eq!(ok.code, 0, "{ok:?}");
    let names = archived_names(&w, &archive);
    let mut granted: Vec<String> = objects[0]["rules"][0]["resourceNames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    let mut taken = names.clone();
    taken.sort();
    granted.sort();
    assert_eq!(
        taken, granted,
        "the archive holds exactly the names granted"
    );

    for (i, name) in granted.iter().enumerate() {
        let mut fewer = objects.clone();
        let list = fewer[0]["rules"][0]["resourceNames"]
            .as_array_mut()
            .unwrap();
        list.retain(|n| n != name);
        let (r, _) = backup(&fewer, &format!("less-{i}.age"));
        assert_ne!(r.code, 0, "without {name}: {r:?}");
        assert!(
            r.stderr
                .contains(&format!("secret gloo-mesh/{name}: forbidden (403)")),
            "without {name}: {}",
            r.stderr
        );
    }
    // A ServiceAccount of your own.
    let other = tk(&[
        "discover",
        "--from",
        s(&setup),
        "--emit-role",
        "--service-account",
        "backup/tk",
    ]);
    assert!(
        other.stdout.contains("namespace: backup"),
        "{}",
        other.stdout
    );
    let bad = tk(&[
        "discover",
        "--from",
        s(&setup),
        "--emit-role",
        "--service-account",
        "tk",
    ]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(
        bad.stderr.contains("expected NAMESPACE/NAME"),
        "{}",
        bad.stderr
    );
}

#[test]
fn discover_gives_the_default_profile_on_each_sample_file() {
    let mgmt_roles = [
        "relay-server=gloo-mesh/relay-server-tls-secret",
        "relay-signing=gloo-mesh/relay-tls-signing-secret",
        "relay-root=gloo-mesh/relay-root-tls-secret",
        "relay-identity-token=gloo-mesh/relay-identity-token-secret",
        "relay-client=absent",
        "root-trust=gloo-mesh/root-trust-policy.gloo-mesh",
        "istio-cacerts=absent",
        "telemetry-gateway=absent",
    ];
    let workload_roles = [
        "relay-server=absent",
        "relay-signing=absent",
        "relay-root=gloo-mesh/relay-root-tls-secret",
        "relay-identity-token=gloo-mesh/relay-identity-token-secret",
        "relay-client=gloo-mesh/relay-client-tls-secret",
        "root-trust=absent",
        "istio-cacerts=istio-system/cacerts",
        "telemetry-gateway=absent",
    ];
    let w = Work::new();
    for (file, kind, expected, deployment) in [
        (
            "sample/mgmt.yaml",
            "management",
            &mgmt_roles,
            Some("gloo-mesh-mgmt-server"),
        ),
        ("sample/mgmt.json", "management", &mgmt_roles, None),
        (
            "sample/cluster-1.yaml",
            "workload",
            &workload_roles,
            Some("gloo-mesh-agent"),
        ),
        (
            "sample/cluster-2.yaml",
            "workload",
            &workload_roles,
            Some("gloo-mesh-agent"),
        ),
    ] {
        let path = fixture(file);
        let r = tk(&["discover", "--from", s(&path)]);
        assert_eq!(r.code, 0, "{file}: {r:?}");
        assert!(!r.stdout.contains("FAKE-LICENSE"), "{file}: {}", r.stdout);
        let p: Value = serde_saphyr::from_str(&r.stdout).unwrap();
        assert_eq!(p["relayMode"], "mtls-generated", "{file}");
        assert_eq!(p["clusterKind"], kind, "{file}");
        assert_eq!(roles(&p), expected, "{file}");
        assert!(
            p["discovered"].get("notes").is_none(),
            "{file}: {}",
            r.stdout
        );
        let deployments = &p["discovered"]["deployments"];
        match deployment {
            Some(d) => assert_eq!(deployments[0]["deployment"], format!("gloo-mesh/{d}")),
            None => assert!(deployments.is_null(), "{file}"),
        }
        // The default profile backs up the sample as the defaults do: nothing missing.
        let profile = w.path(&format!("{}.profile.yaml", file.replace('/', "-")));
        std::fs::write(&profile, &r.stdout).unwrap();
        let b = util::backup(
            file,
            &w.path(&format!("{}.age", file.replace('/', "-"))),
            &["--profile", s(&profile)],
        );
        assert_eq!(b.code, 0, "{file}: {b:?}");
        assert!(!b.stdout.contains("profile.drift"), "{file}: {}", b.stdout);
    }
}
