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

use crate::live::{backup_live, Live};
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

/// The sample management cluster made bring-your-own: server secret renamed, no signing CA,
/// token or relay root, a telemetry gateway secret, and the BYO Helm release (revision 2).
fn byo_setup(w: &Work) -> PathBuf {
    let text = std::fs::read_to_string(fixture("sample/mgmt.yaml")).unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
    let mut items = Vec::new();
    for doc in docs {
        match doc["kind"].as_str() {
            Some("List") => items.extend(doc["items"].as_array().unwrap().iter().cloned()),
            _ => items.push(doc),
        }
    }
    let mut out = Vec::new();
    for mut o in items {
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
    let path = w.path("byo.json");
    let list = json!({"apiVersion": "v1", "kind": "List", "items": out});
    std::fs::write(&path, serde_json::to_string_pretty(&list).unwrap()).unwrap();
    path
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
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
    let names = |m: &Value| -> Vec<String> {
        m["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                format!(
                    "{}={}",
                    s["name"].as_str().unwrap(),
                    s["role"].as_str().unwrap()
                )
            })
            .collect()
    };
    let m = w.manifest(&with);
    assert_eq!(
        names(&m),
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
    assert_eq!(names(&w.manifest(&archive)), names(&m));
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
    let audit = || {
        let mut a = vec![
            "audit".to_string(),
            "--profile".into(),
            s(&profile).into(),
            "--at".into(),
            util::AT.into(),
        ];
        a.extend(live.target());
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        tk(&a)
    };
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
