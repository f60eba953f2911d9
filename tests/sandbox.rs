//! The sandbox Kubernetes API server, driven as clients drive real clusters: the `kube` crate
//! in-process, and kubectl (ignored unless kubectl is installed) against an in-process
//! sandbox or the `trustkeep sandbox` binary.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::ByteString;
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::Client;
use serde_json::{json, Value};
use trustkeep_sandbox::{load_objects, Forbid, Options, Sandbox, SandboxError};

use crate::util::{ext, fixture, run, Run};

const NS: &str = "gloo-mesh";
const SERVER_TLS: &str = "relay-server-tls-secret";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Runtime::new().expect("tokio runtime")
}

fn sample_objects() -> Vec<Value> {
    let text = std::fs::read_to_string(fixture("sample/mgmt.yaml")).expect("sample fixture");
    load_objects(&text).expect("sample objects")
}

/// A field of the sample's Secret `name` in gloo-mesh (base64, as stored).
fn sample_data(name: &str, key: &str) -> String {
    sample_objects()
        .into_iter()
        .find(|o| o["kind"] == "Secret" && o["metadata"]["name"] == name)
        .and_then(|o| o["data"][key].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("sample has no {name} {key}"))
}

async fn client_with(kubeconfig: &str) -> Client {
    let kc = Kubeconfig::from_yaml(kubeconfig).expect("kubeconfig parses");
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("kube config");
    Client::try_from(config).expect("kube client")
}

async fn client(sb: &Sandbox) -> Client {
    client_with(&sb.kubeconfig("test")).await
}

/// A sandbox serving the sample management cluster, and a client for it.
async fn sample() -> (Sandbox, Client) {
    sandbox(Options {
        objects: sample_objects(),
        ..Options::default()
    })
    .await
}

async fn sandbox(opts: Options) -> (Sandbox, Client) {
    let sb = Sandbox::start(opts).await.expect("sandbox starts");
    let c = client(&sb).await;
    (sb, c)
}

/// The Status of a failed call.
fn status(e: kube::Error) -> Box<kube::core::Status> {
    match e {
        kube::Error::Api(s) => s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn secret(name: &str, data: &[(&str, &str)]) -> Secret {
    let mut s = Secret::default();
    s.metadata.name = Some(name.to_string());
    s.data = Some(
        data.iter()
            .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
            .collect(),
    );
    s
}

fn rtp_resource() -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(
        "admin.gloo.solo.io",
        "v2",
        "RootTrustPolicy",
    ))
}

fn names(list: &kube::core::ObjectList<Secret>) -> Vec<String> {
    list.items
        .iter()
        .filter_map(|s| s.metadata.name.clone())
        .collect()
}

#[test]
fn serves_the_loaded_sample() {
    runtime().block_on(async {
        let (sb, c) = sample().await;
        let secrets: Api<Secret> = Api::namespaced(c.clone(), NS);
        let list = secrets.list(&ListParams::default()).await.expect("list");
        assert_eq!(names(&list).len(), 7, "{:?}", names(&list));
        assert!(names(&list).contains(&SERVER_TLS.to_string()));
        let list_rv: u64 = list
            .metadata
            .resource_version
            .as_deref()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            list_rv >= 923_440,
            "the counter is above every loaded resourceVersion"
        );

        let all: Api<Secret> = Api::all(c.clone());
        assert_eq!(
            all.list(&ListParams::default()).await.unwrap().items.len(),
            8
        );

        let tls = secrets.get(SERVER_TLS).await.expect("get");
        let crt = &tls.data.as_ref().unwrap()["tls.crt"].0;
        assert_eq!(STANDARD.encode(crt), sample_data(SERVER_TLS, "tls.crt"));
        assert_eq!(tls.type_.as_deref(), Some("kubernetes.io/tls"));
        assert_eq!(
            tls.metadata.resource_version.as_deref(),
            Some("471943"),
            "kept as loaded"
        );
        assert_eq!(
            tls.metadata.uid.as_deref(),
            sb.secret(NS, SERVER_TLS).unwrap()["metadata"]["uid"].as_str()
        );

        let rtps: Api<DynamicObject> = Api::namespaced_with(c.clone(), NS, &rtp_resource());
        let rtp = rtps.get("root-trust-policy").await.expect("rtp");
        assert_eq!(rtp.data["spec"]["config"]["autoRestartPods"], true);
        let all_rtps: Api<DynamicObject> = Api::all_with(c, &rtp_resource());
        assert_eq!(
            all_rtps
                .list(&ListParams::default())
                .await
                .unwrap()
                .items
                .len(),
            1
        );
        sb.shutdown().await;
    });
}

#[test]
fn namespaces_are_precreated_and_kube_system_identifies_the_cluster() {
    runtime().block_on(async {
        let (sb, c) = sample().await;
        let namespaces: Api<Namespace> = Api::all(c.clone());
        let mut names: Vec<String> = namespaces
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter_map(|n| n.metadata.name)
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["default", "gloo-mesh", "istio-system", "kube-system"]
        );
        let ks = namespaces.get("kube-system").await.unwrap();
        assert_eq!(ks.metadata.uid.as_deref(), Some(sb.cluster_uid().as_str()));
        let again = namespaces.get("kube-system").await.unwrap();
        assert_eq!(again.metadata.uid, ks.metadata.uid, "stable");

        let mut ns = Namespace::default();
        ns.metadata.name = Some("drill".into());
        let created = namespaces
            .create(&PostParams::default(), &ns)
            .await
            .unwrap();
        assert_eq!(created.status.unwrap().phase.as_deref(), Some("Active"));
        let secrets: Api<Secret> = Api::namespaced(c, "drill");
        secrets
            .create(&PostParams::default(), &secret("s", &[("k", "v")]))
            .await
            .expect("create in the new namespace");
        sb.shutdown().await;
    });
}

#[test]
fn create_sets_server_fields() {
    runtime().block_on(async {
        let (sb, c) = sample().await;
        let secrets: Api<Secret> = Api::namespaced(c, NS);
        let mut s = secret("new", &[]);
        s.data = None;
        s.string_data = Some([("password".to_string(), "hunter2".to_string())].into());
        let created = secrets.create(&PostParams::default(), &s).await.unwrap();
        let m = &created.metadata;
        assert_eq!(
            uuid::Uuid::parse_str(m.uid.as_deref().unwrap())
                .unwrap()
                .get_version_num(),
            4
        );
        let rv: u64 = m.resource_version.as_deref().unwrap().parse().unwrap();
        assert!(rv > 923_440);
        let ts = m.creation_timestamp.as_ref().unwrap().0;
        assert!((now_secs() - ts.as_second()).abs() < 60);
        assert_eq!(created.type_.as_deref(), Some("Opaque"));
        assert!(created.string_data.is_none());
        assert_eq!(created.data.unwrap()["password"].0, b"hunter2");
        let stored = sb.secret(NS, "new").unwrap();
        assert_eq!(stored["data"]["password"], STANDARD.encode("hunter2"));
        let raw_ts = stored["metadata"]["creationTimestamp"].as_str().unwrap();
        assert!(
            chrono::DateTime::parse_from_rfc3339(raw_ts).is_ok()
                && raw_ts.ends_with('Z')
                && raw_ts.len() == 20,
            "{raw_ts}"
        );
        sb.shutdown().await;
    });
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}

#[test]
fn replace_checks_resource_versions() {
    runtime().block_on(async {
        let (sb, c) = sample().await;
        let secrets: Api<Secret> = Api::namespaced(c, NS);
        let current = secrets.get(SERVER_TLS).await.unwrap();
        let mut changed = current.clone();
        changed.data.as_mut().unwrap().insert("extra".into(), ByteString(b"x".to_vec()));
        let replaced = secrets.replace(SERVER_TLS, &PostParams::default(), &changed).await.unwrap();
        assert_ne!(replaced.metadata.resource_version, current.metadata.resource_version);
        assert_eq!(replaced.metadata.uid, current.metadata.uid);
        assert_eq!(replaced.metadata.creation_timestamp, current.metadata.creation_timestamp);

        // `changed` still carries the old resourceVersion.
        let e = status(secrets.replace(SERVER_TLS, &PostParams::default(), &changed).await.unwrap_err());
        assert_eq!((e.code, e.reason.as_str()), (409, "Conflict"));
        assert_eq!(
            e.message,
            "Operation cannot be fulfilled on secrets \"relay-server-tls-secret\": the object has been modified; please apply your changes to the latest version and try again"
        );

        // No resourceVersion: an unconditional update.
        let mut unconditional = replaced.clone();
        unconditional.metadata.resource_version = None;
        unconditional.data.as_mut().unwrap().remove("extra");
        let done = secrets.replace(SERVER_TLS, &PostParams::default(), &unconditional).await.unwrap();
        assert!(!done.data.unwrap().contains_key("extra"));

        let e = status(secrets.replace("absent", &PostParams::default(), &secret("absent", &[])).await.unwrap_err());
        assert_eq!(e.code, 404);
        sb.shutdown().await;
    });
}

#[test]
fn create_errors_are_the_api_servers() {
    runtime().block_on(async {
        let (sb, c) = sample().await;
        let secrets: Api<Secret> = Api::namespaced(c.clone(), NS);
        let pp = PostParams::default();

        let e = status(
            secrets
                .create(&pp, &secret(SERVER_TLS, &[]))
                .await
                .unwrap_err(),
        );
        assert_eq!((e.code, e.reason.as_str()), (409, "AlreadyExists"));
        assert_eq!(
            e.message,
            "secrets \"relay-server-tls-secret\" already exists"
        );

        let mut tls = secret("half-tls", &[("tls.crt", "CERT")]);
        tls.type_ = Some("kubernetes.io/tls".into());
        let e = status(secrets.create(&pp, &tls).await.unwrap_err());
        assert_eq!((e.code, e.reason.as_str()), (422, "Invalid"));
        assert_eq!(
            e.message,
            "Secret \"half-tls\" is invalid: data[tls.key]: Required value"
        );
        let cause = &e.details.unwrap().causes[0];
        assert_eq!(cause.field, "data[tls.key]");

        let e = status(
            secrets
                .create(&pp, &secret("Bad_Name", &[]))
                .await
                .unwrap_err(),
        );
        assert_eq!(e.code, 422);
        assert!(
            e.message
                .contains("metadata.name: Invalid value: \"Bad_Name\""),
            "{}",
            e.message
        );

        let e = status(
            secrets
                .create(&pp, &secret("k", &[("a/b", "x")]))
                .await
                .unwrap_err(),
        );
        assert_eq!(e.code, 422);
        assert!(e.message.contains("data[a/b]"), "{}", e.message);

        let elsewhere: Api<Secret> = Api::namespaced(c.clone(), "nope");
        let e = status(elsewhere.create(&pp, &secret("x", &[])).await.unwrap_err());
        assert_eq!((e.code, e.reason.as_str()), (404, "NotFound"));
        assert_eq!(e.message, "namespaces \"nope\" not found");
        let details = e.details.unwrap();
        assert_eq!(
            (details.name.as_str(), details.kind.as_str()),
            ("nope", "namespaces")
        );
        assert!(elsewhere
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty());

        let e = status(secrets.get("absent").await.unwrap_err());
        assert_eq!(e.message, "secrets \"absent\" not found");

        // Bad base64 cannot come from typed clients: send it as a dynamic object.
        let raw: Api<DynamicObject> =
            Api::namespaced_with(c, NS, &ApiResource::erase::<Secret>(&()));
        let bad: DynamicObject = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "bad-b64"}, "data": {"k": "not base64!"}
        }))
        .unwrap();
        let e = status(raw.create(&pp, &bad).await.unwrap_err());
        assert_eq!(e.code, 400);
        assert!(e.message.contains("illegal base64 data"), "{}", e.message);
        assert!(sb.secret(NS, "bad-b64").is_none());
        sb.shutdown().await;
    });
}

#[test]
fn type_is_immutable() {
    runtime().block_on(async {
        let (sb, c) = sample().await;
        let secrets: Api<Secret> = Api::namespaced(c, NS);
        let mut s = secrets.get("relay-root-tls-secret").await.unwrap();
        s.type_ = Some("kubernetes.io/tls".into());
        let e = status(secrets.replace("relay-root-tls-secret", &PostParams::default(), &s).await.unwrap_err());
        assert_eq!(e.code, 422);
        assert_eq!(
            e.message,
            "Secret \"relay-root-tls-secret\" is invalid: type: Invalid value: \"kubernetes.io/tls\": field is immutable"
        );
        let patch = Patch::Merge(json!({"type": "Opaque"}));
        let e = status(secrets.patch(SERVER_TLS, &PatchParams::default(), &patch).await.unwrap_err());
        assert_eq!(e.code, 422);
        assert!(e.message.ends_with("field is immutable"), "{}", e.message);
        assert_eq!(sb.secret(NS, SERVER_TLS).unwrap()["type"], "kubernetes.io/tls");
        sb.shutdown().await;
    });
}

#[test]
fn patches() {
    runtime().block_on(async {
        let (sb, c) = sample().await;
        let secrets: Api<Secret> = Api::namespaced(c.clone(), NS);
        let pp = PatchParams::default();
        let before = secrets.get(SERVER_TLS).await.unwrap();

        let merge = Patch::Merge(json!({"data": {"ca.crt": null, "note": STANDARD.encode("m")}}));
        let p = secrets.patch(SERVER_TLS, &pp, &merge).await.unwrap();
        let data = p.data.unwrap();
        assert!(!data.contains_key("ca.crt"));
        assert_eq!(data["note"].0, b"m");
        assert_ne!(
            p.metadata.resource_version,
            before.metadata.resource_version
        );

        let strategic = Patch::Strategic(json!({"metadata": {"labels": {"drill": "yes"}}}));
        let p = secrets.patch(SERVER_TLS, &pp, &strategic).await.unwrap();
        assert_eq!(p.metadata.labels.unwrap()["drill"], "yes");

        let ops = json!([
            {"op": "test", "path": "/type", "value": "kubernetes.io/tls"},
            {"op": "remove", "path": "/data/note"}
        ]);
        let p: Secret = c
            .request(
                http::Request::patch(format!("/api/v1/namespaces/{NS}/secrets/{SERVER_TLS}"))
                    .header("content-type", "application/json-patch+json")
                    .body(serde_json::to_vec(&ops).unwrap())
                    .unwrap(),
            )
            .await
            .expect("json patch");
        assert!(!p.data.unwrap().contains_key("note"));

        let stale = Patch::Merge(json!({"metadata": {"resourceVersion": "1"}, "data": {}}));
        let e = status(secrets.patch(SERVER_TLS, &pp, &stale).await.unwrap_err());
        assert_eq!(e.code, 409);

        let apply = Patch::Apply(json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "applied", "namespace": NS}, "stringData": {"k": "v"}}));
        let p = secrets
            .patch("applied", &PatchParams::apply("trustkeep-test"), &apply)
            .await
            .expect("server-side apply creates");
        assert_eq!(p.data.unwrap()["k"].0, b"v");

        let e = status(secrets.patch("absent", &pp, &merge).await.unwrap_err());
        assert_eq!(e.code, 404);
        sb.shutdown().await;
    });
}

#[test]
fn delete_and_dry_runs() {
    runtime().block_on(async {
        let (sb, c) = sample().await;
        let secrets: Api<Secret> = Api::namespaced(c, NS);
        let dry = secrets
            .delete(
                SERVER_TLS,
                &DeleteParams {
                    dry_run: true,
                    ..DeleteParams::default()
                },
            )
            .await
            .unwrap();
        assert!(dry.is_right());
        assert!(
            sb.secret(NS, SERVER_TLS).is_some(),
            "a dry run deletes nothing"
        );

        let pp = PostParams {
            dry_run: true,
            ..PostParams::default()
        };
        let created = secrets
            .create(&pp, &secret("dry", &[("k", "v")]))
            .await
            .unwrap();
        assert!(created.metadata.uid.is_some());
        assert!(sb.secret(NS, "dry").is_none(), "a dry run creates nothing");

        let deleted = secrets
            .delete(SERVER_TLS, &DeleteParams::default())
            .await
            .unwrap();
        let status_ok = deleted.right().expect("a Status");
        assert_eq!(status_ok.details.unwrap().name, SERVER_TLS);
        assert!(sb.secret(NS, SERVER_TLS).is_none());
        let e = status(
            secrets
                .delete(SERVER_TLS, &DeleteParams::default())
                .await
                .unwrap_err(),
        );
        assert_eq!(e.code, 404);

        let stale = DeleteParams {
            preconditions: Some(kube::api::Preconditions {
                resource_version: Some("1".into()),
                uid: None,
            }),
            ..DeleteParams::default()
        };
        let e = status(
            secrets
                .delete("relay-root-tls-secret", &stale)
                .await
                .unwrap_err(),
        );
        assert_eq!(e.code, 409);
        sb.shutdown().await;
    });
}

#[test]
fn selectors() {
    runtime().block_on(async {
        let (sb, c) = sample().await;
        let all: Api<Secret> = Api::all(c.clone());
        let gm: Api<Secret> = Api::namespaced(c, NS);
        let count = |api: Api<Secret>, lp: ListParams| async move {
            names(&api.list(&lp).await.expect("list"))
        };
        let l = |s: &str| ListParams::default().labels(s);
        let f = |s: &str| ListParams::default().fields(s);
        assert_eq!(
            count(all.clone(), l("app=orders-db")).await,
            ["db-password"]
        );
        assert_eq!(
            count(gm.clone(), l("app.kubernetes.io/managed-by==Helm"))
                .await
                .len(),
            2
        );
        assert_eq!(
            count(gm.clone(), l("app=gloo-mesh-mgmt-server,!owner"))
                .await
                .len(),
            4
        );
        assert_eq!(
            count(gm.clone(), l("app!=gloo-mesh-mgmt-server"))
                .await
                .len(),
            3
        );
        assert_eq!(
            count(gm.clone(), l("owner")).await,
            ["sh.helm.release.v1.gloo-platform.v1"]
        );
        assert_eq!(
            count(all.clone(), l("app in (orders-db, nothing)")).await,
            ["db-password"]
        );
        assert_eq!(
            count(gm.clone(), f("metadata.name=relay-server-tls-secret")).await,
            [SERVER_TLS]
        );
        assert_eq!(
            count(gm.clone(), f("type=kubernetes.io/tls")).await.len(),
            2
        );
        assert_eq!(
            count(all.clone(), f("metadata.namespace=default")).await,
            ["db-password"]
        );
        assert_eq!(
            count(
                gm.clone(),
                f("type=kubernetes.io/tls,metadata.name!=relay-server-tls-secret")
            )
            .await,
            ["relay-tls-signing-secret"]
        );
        let e = status(gm.list(&f("spec.bogus=1")).await.unwrap_err());
        assert_eq!(e.code, 400);
        let e = status(gm.list(&l("a b c")).await.unwrap_err());
        assert_eq!(e.code, 400);
        sb.shutdown().await;
    });
}

#[test]
fn wrong_token_is_unauthorized() {
    runtime().block_on(async {
        let sb = Sandbox::start(Options {
            token: Some("right-token".into()),
            ..Options::default()
        })
        .await
        .unwrap();
        assert_eq!(sb.token(), "right-token");
        let kubeconfig = sb.kubeconfig("t").replace("right-token", "wrong-token");
        let c = client_with(&kubeconfig).await;
        let secrets: Api<Secret> = Api::namespaced(c, NS);
        let e = status(secrets.list(&ListParams::default()).await.unwrap_err());
        assert_eq!((e.code, e.reason.as_str()), (401, "Unauthorized"));
        let records = sb.requests();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].status, 401);
        sb.shutdown().await;
    });
}

#[test]
fn forbid_rules_answer_403() {
    runtime().block_on(async {
        let forbid: Vec<Forbid> = ["list:secrets", "get:secrets:gloo-mesh/relay-server-tls-secret", "*:secrets:istio-system"]
            .iter()
            .map(|r| r.parse().expect("rule"))
            .collect();
        let (sb, c) = sandbox(Options { objects: sample_objects(), forbid, ..Options::default() }).await;
        let gm: Api<Secret> = Api::namespaced(c.clone(), NS);
        let e = status(gm.list(&ListParams::default()).await.unwrap_err());
        assert_eq!((e.code, e.reason.as_str()), (403, "Forbidden"));
        assert_eq!(
            e.message,
            "secrets is forbidden: User \"trustkeep-sandbox\" cannot list resource \"secrets\" in API group \"\" in the namespace \"gloo-mesh\""
        );
        let e = status(gm.get(SERVER_TLS).await.unwrap_err());
        assert_eq!(
            e.message,
            "secrets \"relay-server-tls-secret\" is forbidden: User \"trustkeep-sandbox\" cannot get resource \"secrets\" in API group \"\" in the namespace \"gloo-mesh\""
        );
        gm.get("relay-root-tls-secret").await.expect("other secrets are readable");
        let istio: Api<Secret> = Api::namespaced(c, "istio-system");
        let e = status(istio.create(&PostParams::default(), &secret("cacerts", &[])).await.unwrap_err());
        assert_eq!(e.code, 403);
        assert!(sb.secret("istio-system", "cacerts").is_none());
        let forbidden: Vec<_> = sb.requests().into_iter().filter(|r| r.status == 403).collect();
        assert_eq!(forbidden.len(), 3);
        sb.shutdown().await;
    });
}

#[test]
fn forbid_rules_parse_errors_name_the_rule() {
    let e = "read:secrets".parse::<Forbid>().unwrap_err();
    assert!(matches!(e, SandboxError::Forbid { .. }));
    assert!(
        e.to_string()
            .starts_with("invalid --forbid rule \"read:secrets\": unknown verb"),
        "{e}"
    );
}

#[test]
fn without_crd_the_gloo_group_is_absent() {
    runtime().block_on(async {
        let (sb, c) = sandbox(Options {
            objects: sample_objects(),
            without_crd: true,
            ..Options::default()
        })
        .await;
        let rtps: Api<DynamicObject> = Api::all_with(c.clone(), &rtp_resource());
        let e = status(rtps.list(&ListParams::default()).await.unwrap_err());
        assert_eq!((e.code, e.reason.as_str()), (404, "NotFound"));
        assert_eq!(
            e.message,
            "the server could not find the requested resource"
        );
        let groups = c.list_api_groups().await.unwrap();
        let names: Vec<&str> = groups.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["apps"], "no CRD-made group, apps stays");
        assert!(!sb.objects().iter().any(|o| o["kind"] == "RootTrustPolicy"));
        // Secrets still load and serve.
        let gm: Api<Secret> = Api::namespaced(c, NS);
        assert_eq!(
            gm.list(&ListParams::default()).await.unwrap().items.len(),
            7
        );
        sb.shutdown().await;

        let (sb, c) = sample().await;
        let groups = c.list_api_groups().await.unwrap();
        assert_eq!(groups.groups[0].name, "admin.gloo.solo.io");
        let resources = c
            .list_api_group_resources("admin.gloo.solo.io/v2")
            .await
            .unwrap();
        assert_eq!(resources.resources[0].kind, "RootTrustPolicy");
        assert!(resources.resources[0].namespaced);
        let version = c.apiserver_version().await.unwrap();
        assert_eq!(version.git_version, "v1.32.0-trustkeep-sandbox");
        sb.shutdown().await;
    });
}

#[test]
fn requests_are_recorded() {
    runtime().block_on(async {
        let (sb, c) = sample().await;
        sb.reset_requests();
        let gm: Api<Secret> = Api::namespaced(c, NS);
        gm.get(SERVER_TLS).await.unwrap();
        gm.get("relay-root-tls-secret").await.unwrap();
        gm.list(&ListParams::default().labels("app=x"))
            .await
            .unwrap();
        let _ = gm.get("absent").await;
        let records = sb.requests();
        let verbs: Vec<&str> = records.iter().map(|r| r.verb.as_str()).collect();
        assert_eq!(verbs, ["get", "get", "list", "get"]);
        let first = &records[0];
        assert_eq!(first.method, "GET");
        assert_eq!(
            first.path,
            "/api/v1/namespaces/gloo-mesh/secrets/relay-server-tls-secret"
        );
        assert_eq!(first.resource.as_deref(), Some("secrets"));
        assert_eq!(first.namespace.as_deref(), Some(NS));
        assert_eq!(first.name.as_deref(), Some(SERVER_TLS));
        assert_eq!(first.status, 200);
        assert!(records[2]
            .query
            .as_deref()
            .unwrap()
            .contains("labelSelector=app%3Dx"));
        assert_eq!(records[3].status, 404);
        sb.reset_requests();
        assert!(sb.requests().is_empty());
        sb.shutdown().await;
    });
}

#[test]
fn test_helpers_put_and_remove() {
    runtime().block_on(async {
        let (sb, c) = sandbox(Options::default()).await;
        sb.put(json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": "planted", "namespace": "fresh-ns"}, "data": {"k": "dg=="}}))
            .unwrap();
        let api: Api<Secret> = Api::namespaced(c.clone(), "fresh-ns");
        let got = api.get("planted").await.unwrap();
        assert_eq!(got.type_.as_deref(), Some("Opaque"));
        let namespaces: Api<Namespace> = Api::all(c);
        namespaces
            .get("fresh-ns")
            .await
            .expect("put creates the namespace");
        assert!(sb.remove("secrets", "fresh-ns", "planted"));
        assert!(!sb.remove("secrets", "fresh-ns", "planted"));
        assert_eq!(status(api.get("planted").await.unwrap_err()).code, 404);
        let e = sb.put(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}));
        assert!(e
            .unwrap_err()
            .to_string()
            .starts_with("object ConfigMap c: kind \"ConfigMap\""));
        assert!(
            sb.try_put(json!({"kind": "Secret"})).is_err(),
            "try_put is put"
        );
        sb.shutdown().await;
    });
}

#[test]
fn bad_objects_stop_the_start() {
    runtime().block_on(async {
        let e = Sandbox::start(Options {
            objects: vec![
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"namespace": "x"}}),
            ],
            ..Options::default()
        })
        .await
        .unwrap_err();
        assert_eq!(e.to_string(), "object #1: the object has no metadata.name");
        let e = load_objects("kind: [").unwrap_err();
        assert!(e.to_string().starts_with("not valid YAML or JSON"), "{e}");
    });
}

#[test]
fn shutdown_stops_serving() {
    runtime().block_on(async {
        let sb = Sandbox::start(Options::default()).await.unwrap();
        let addr = sb.address();
        assert!(sb.url().starts_with("https://127.0.0.1:"));
        assert!(sb.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        tokio::net::TcpStream::connect(addr)
            .await
            .expect("listening");
        sb.shutdown().await;
        assert!(
            tokio::net::TcpStream::connect(addr).await.is_err(),
            "no longer listening"
        );
    });
}

/// Sends a raw request through the client (TLS and token included).
async fn raw(
    c: &Client,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Value, Box<kube::core::Status>> {
    let mut builder = http::Request::builder().method(method).uri(path);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let req = builder.body(body.to_vec()).expect("request");
    c.request::<Value>(req).await.map_err(status)
}

#[test]
fn malformed_and_unserved_requests_get_statuses() {
    runtime().block_on(async {
        let (sb, c) = sample().await;
        let secrets = format!("/api/v1/namespaces/{NS}/secrets");
        let json_type = [("content-type", "application/json")];

        let e = raw(&c, "POST", &secrets, &json_type, b"{not json").await.unwrap_err();
        assert_eq!((e.code, e.reason.as_str()), (400, "BadRequest"));
        let e = raw(&c, "GET", "/api/v1/configmaps", &[], b"").await.unwrap_err();
        assert_eq!(e.code, 404);
        assert_eq!(e.message, "the server could not find the requested resource");
        let body = br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"x","namespace":"gloo-mesh"}}"#;
        let e = raw(&c, "POST", "/api/v1/secrets", &json_type, body).await.unwrap_err();
        assert_eq!(e.code, 405);
        let e = raw(&c, "GET", &format!("{secrets}?watch=true"), &[], b"").await.unwrap_err();
        assert_eq!(e.code, 405);
        let e = raw(&c, "PATCH", &format!("{secrets}/{SERVER_TLS}"), &json_type, b"{}").await.unwrap_err();
        assert_eq!(e.code, 415);
        let big = vec![b' '; 3 * 1024 * 1024 + 1];
        let e = raw(&c, "POST", &secrets, &json_type, &big).await.unwrap_err();
        assert_eq!(e.code, 413);

        let strict = format!("{secrets}?fieldValidation=Strict");
        let unknown = br#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"u"},"bogus":1}"#;
        let e = raw(&c, "POST", &strict, &json_type, unknown).await.unwrap_err();
        assert_eq!(e.code, 400);
        assert!(e.message.ends_with("strict decoding error: unknown field \"bogus\""), "{}", e.message);
        let created = raw(&c, "POST", &secrets, &json_type, unknown).await.expect("unknown fields dropped");
        assert!(created.get("bogus").is_none());

        let yaml = b"apiVersion: v1\nkind: Secret\nmetadata:\n  name: from-yaml\nstringData:\n  k: v\n";
        raw(&c, "POST", &secrets, &[("content-type", "application/yaml")], yaml)
            .await
            .expect("YAML bodies");
        assert_eq!(sb.secret(NS, "from-yaml").unwrap()["data"]["k"], "dg==");
        sb.shutdown().await;
    });
}

#[test]
fn kubectl_documents_tables_and_openapi() {
    runtime().block_on(async {
        let (sb, c) = sample().await;
        let accept = [(
            "accept",
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
        )];
        let t = raw(
            &c,
            "GET",
            &format!("/api/v1/namespaces/{NS}/secrets"),
            &accept,
            b"",
        )
        .await
        .unwrap();
        assert_eq!(t["kind"], "Table");
        let columns: Vec<&str> = t["columnDefinitions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(columns, ["Name", "Type", "Data", "Age"]);
        assert_eq!(t["rows"].as_array().unwrap().len(), 7);
        let list = raw(
            &c,
            "GET",
            &format!("/api/v1/namespaces/{NS}/secrets"),
            &[],
            b"",
        )
        .await
        .unwrap();
        assert_eq!(list["kind"], "SecretList");
        assert!(
            list["items"][0].get("kind").is_none(),
            "core list items omit kind, like the API server"
        );

        let root = raw(&c, "GET", "/openapi/v3", &[], b"").await.unwrap();
        let url = root["paths"]["api/v1"]["serverRelativeURL"]
            .as_str()
            .unwrap()
            .to_string();
        let doc = raw(&c, "GET", &url, &[], b"").await.unwrap();
        let patch = &doc["paths"]["/api/v1/namespaces/{namespace}/secrets/{name}"]["patch"];
        assert!(patch["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "fieldValidation"));
        assert!(patch["requestBody"]["content"]
            .get("application/strategic-merge-patch+json")
            .is_some());
        let groups = raw(&c, "GET", "/apis", &[], b"").await.unwrap();
        assert_eq!(
            groups["groups"][0]["preferredVersion"]["groupVersion"],
            "admin.gloo.solo.io/v2"
        );
        sb.shutdown().await;
    });
}

// ---------------------------------------------------------------------------------------
// limits and hardening

/// A TLS connection (HTTP/1.1, no ALPN) to the sandbox, trusting its CA.
async fn tls_connect(sb: &Sandbox) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(sb.ca_pem().as_bytes()).expect("CA PEM"))
        .expect("CA");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(sb.address())
        .await
        .expect("connect");
    tokio_rustls::TlsConnector::from(std::sync::Arc::new(config))
        .connect(ServerName::IpAddress(sb.address().ip().into()), tcp)
        .await
        .expect("TLS handshake")
}

/// Reads until the end of the response headers (or EOF); returns them.
async fn response_head(stream: &mut (impl tokio::io::AsyncRead + Unpin)) -> String {
    use tokio::io::AsyncReadExt;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte).await {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

#[test]
fn unauthenticated_requests_are_answered_before_their_body() {
    use tokio::io::AsyncWriteExt;
    runtime().block_on(async {
        let sb = Sandbox::start(Options::default()).await.unwrap();
        let mut tls = tls_connect(&sb).await;
        // Announce a 3 MB body, send none of it: the 401 must not wait for it.
        let head = format!(
            "POST /api/v1/namespaces/{NS}/secrets HTTP/1.1\r\nhost: x\r\nauthorization: Bearer wrong\r\ncontent-type: application/json\r\ncontent-length: 3000000\r\n\r\n"
        );
        tls.write_all(head.as_bytes()).await.unwrap();
        let answer = tokio::time::timeout(std::time::Duration::from_secs(5), response_head(&mut tls))
            .await
            .expect("answered without waiting for the body");
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
        sb.shutdown().await;
    });
}

#[test]
fn unauthenticated_requests_are_recorded_briefly() {
    use tokio::io::AsyncWriteExt;
    runtime().block_on(async {
        let sb = Sandbox::start(Options::default()).await.unwrap();
        // 60 KB in all (hyper refuses URIs of 64 KiB and more).
        let long = "x".repeat(20_000);
        let mut tls = tls_connect(&sb).await;
        let head = format!(
            "GET /api/v1/namespaces/{long}/secrets/{long}?q={long} HTTP/1.1\r\nhost: x\r\n\r\n"
        );
        tls.write_all(head.as_bytes()).await.unwrap();
        let answer = response_head(&mut tls).await;
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
        let records = sb.requests();
        assert_eq!(records.len(), 1);
        let r = &records[0];
        assert_eq!(r.status, 401);
        let stored = r.path.len()
            + r.query.as_ref().map_or(0, String::len)
            + r.namespace.as_ref().map_or(0, String::len)
            + r.name.as_ref().map_or(0, String::len);
        assert!(
            stored <= 1024,
            "{stored} bytes kept of an unauthenticated request"
        );
        assert!(r.path.starts_with("/api/v1/namespaces/xxx"), "{}", r.path);
        sb.shutdown().await;
    });
}

/// The resourceVersion of the Secret list in `ns`.
async fn list_revision(api: &Api<Secret>) -> u64 {
    api.list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn deletes_advance_the_resource_version() {
    runtime().block_on(async {
        let (sb, c) = sample().await;
        let gm: Api<Secret> = Api::namespaced(c.clone(), NS);
        let before = list_revision(&gm).await;
        gm.delete(SERVER_TLS, &DeleteParams::default()).await.unwrap();
        let after_delete = list_revision(&gm).await;
        assert!(after_delete > before, "{after_delete} > {before}");

        let dry = DeleteParams { dry_run: true, ..DeleteParams::default() };
        gm.delete("relay-root-tls-secret", &dry).await.unwrap();
        assert_eq!(list_revision(&gm).await, after_delete, "a dry run changes nothing");

        gm.delete_collection(&DeleteParams::default(), &ListParams::default())
            .await
            .unwrap();
        let after_collection = list_revision(&gm).await;
        assert!(after_collection > after_delete);

        let namespaces: Api<Namespace> = Api::all(c.clone());
        namespaces.delete("istio-system", &DeleteParams::default()).await.unwrap();
        let ns_rv: u64 = namespaces
            .list(&ListParams::default())
            .await
            .unwrap()
            .metadata
            .resource_version
            .unwrap()
            .parse()
            .unwrap();
        assert!(ns_rv > after_collection);

        assert!(!sb.remove("secrets", "default", "absent"));
        sb.put(json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "p", "namespace": NS}}))
            .unwrap();
        let planted = list_revision(&gm).await;
        assert!(sb.remove("secrets", NS, "p"));
        assert!(list_revision(&gm).await > planted, "removing is a change too");
        sb.shutdown().await;
    });
}

/// PATCHes `name` in gloo-mesh with a JSON patch; the status code.
async fn json_patch_status(c: &Client, name: &str, ops: &Value) -> u16 {
    let req = http::Request::patch(format!("/api/v1/namespaces/{NS}/secrets/{name}"))
        .header("content-type", "application/json-patch+json")
        .body(serde_json::to_vec(ops).unwrap())
        .unwrap();
    match c.request::<Value>(req).await {
        Ok(_) => 200,
        Err(e) => status(e).code,
    }
}

#[test]
fn json_patches_are_bounded() {
    runtime().block_on(async {
        let (sb, c) = sample().await;
        // Each copy doubles /metadata/annotations/x: 2^20 copies of 100 bytes unbounded.
        let mut ops = vec![json!({"op": "add", "path": "/metadata/annotations", "value": {"x": ["a".repeat(100)]}})];
        ops.extend((0..20).map(|_| json!({"op": "copy", "from": "/metadata/annotations/x", "path": "/metadata/annotations/x/-"})));
        assert_eq!(json_patch_status(&c, SERVER_TLS, &Value::Array(ops)).await, 413);

        let too_many: Vec<Value> = (0..10_001)
            .map(|_| json!({"op": "test", "path": "/type", "value": "kubernetes.io/tls"}))
            .collect();
        assert_eq!(json_patch_status(&c, SERVER_TLS, &Value::Array(too_many)).await, 413);
        let enough: Vec<Value> = (0..10_000)
            .map(|_| json!({"op": "test", "path": "/type", "value": "kubernetes.io/tls"}))
            .collect();
        assert_eq!(json_patch_status(&c, SERVER_TLS, &Value::Array(enough)).await, 200);

        // A document grown past the limit by adds alone. Each request body stays under the
        // body limit (a larger body is refused before it is read, and the client may then see
        // the connection close mid-write instead of the 413): the second patch is the one that
        // would push the stored document over.
        let chunk = "a".repeat(1024 * 1024);
        let adds = |from: usize, n: usize| -> Value {
            (from..from + n)
                .map(|i| json!({"op": "add", "path": format!("/data/k{i}"), "value": chunk}))
                .collect()
        };
        assert_eq!(json_patch_status(&c, SERVER_TLS, &adds(0, 1)).await, 200);
        assert_eq!(json_patch_status(&c, SERVER_TLS, &adds(1, 2)).await, 413);
        let data = &sb.secret(NS, SERVER_TLS).unwrap()["data"];
        assert!(data.get("k0").is_some() && data.get("k1").is_none() && data.get("k2").is_none());
        sb.shutdown().await;
    });
}

#[test]
fn yaml_errors_do_not_quote_the_input() {
    let text = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: x\ndata:\n  tls.key: TOPSECRETKEYMATERIAL\n  tls.crt: [unclosed\n  other: MORESECRET\n";
    let e = load_objects(text).unwrap_err().to_string();
    assert!(e.starts_with("not valid YAML or JSON"), "{e}");
    assert!(!e.contains("TOPSECRET") && !e.contains("MORESECRET"), "{e}");

    runtime().block_on(async {
        let (sb, c) = sample().await;
        let e = raw(
            &c,
            "POST",
            &format!("/api/v1/namespaces/{NS}/secrets"),
            &[("content-type", "application/yaml")],
            text.as_bytes(),
        )
        .await
        .unwrap_err();
        assert_eq!(e.code, 400);
        assert!(e.message.contains("invalid YAML"), "{}", e.message);
        assert!(
            !e.message.contains("TOPSECRET") && !e.message.contains("MORESECRET"),
            "{}",
            e.message
        );
        sb.shutdown().await;
    });
}

#[test]
fn a_specific_listen_address_is_in_the_certificate() {
    runtime().block_on(async {
        // 127.0.0.2 is loopback on Linux but not in the default SANs.
        let (sb, c) = sandbox(Options {
            listen: "127.0.0.2:0".parse().unwrap(),
            ..Options::default()
        })
        .await;
        assert!(sb.url().starts_with("https://127.0.0.2:"), "{}", sb.url());
        let namespaces: Api<Namespace> = Api::all(c);
        namespaces
            .list(&ListParams::default())
            .await
            .expect("the server certificate is valid for the URL");
        assert!(!sb.reachable_from_network());
        sb.shutdown().await;
    });
}

#[test]
fn path_segments_must_be_names() {
    runtime().block_on(async {
        let (sb, c) = sample().await;
        for path in [
            "/api/v1/namespaces/../secrets",
            "/api/v1/namespaces/./secrets",
            "/api/v1/namespaces//secrets",
            "/api/v1/namespaces/gloo-mesh/secrets/..",
            "/api/v1/namespaces/..",
            "/api/v1/namespaces/gloo-mesh/secrets/a%2Fb",
        ] {
            let e = raw(&c, "GET", path, &[], b"").await.unwrap_err();
            assert_eq!(
                (e.code, e.reason.as_str()),
                (400, "BadRequest"),
                "{path}: {}",
                e.message
            );
        }
        sb.shutdown().await;
    });
}

// ---------------------------------------------------------------------------------------
// kubectl

/// kubectl against one kubeconfig, with a private discovery cache.
struct Kubectl {
    kubeconfig: PathBuf,
    cache: tempfile::TempDir,
}

impl Kubectl {
    fn new(kubeconfig: &Path) -> Kubectl {
        Kubectl {
            kubeconfig: kubeconfig.to_path_buf(),
            cache: tempfile::tempdir().expect("cache dir"),
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.cache.path())
            .args(args);
        run(cmd)
    }

    fn ok(&self, args: &[&str]) -> String {
        let r = self.run(args);
        assert_eq!(r.code, 0, "kubectl {args:?} failed: {}", r.stderr);
        r.stdout
    }
}

/// An in-process sandbox serving the sample, its kubeconfig file and the runtime serving it.
struct Served {
    sandbox: Sandbox,
    dir: tempfile::TempDir,
    runtime: tokio::runtime::Runtime,
}

impl Served {
    fn sample() -> Served {
        let runtime = runtime();
        let sandbox = runtime
            .block_on(Sandbox::start(Options {
                objects: sample_objects(),
                ..Options::default()
            }))
            .expect("sandbox");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("kubeconfig"), sandbox.kubeconfig("drill")).unwrap();
        Served {
            sandbox,
            dir,
            runtime,
        }
    }

    fn kubectl(&self) -> Kubectl {
        Kubectl::new(&self.dir.path().join("kubeconfig"))
    }

    fn stop(self) {
        self.runtime.block_on(self.sandbox.shutdown());
    }
}

#[test]
#[ignore = "needs kubectl"]
fn kubectl_reads_the_sandbox() {
    let s = Served::sample();
    let k = s.kubectl();
    let out = k.ok(&["get", "secret", "-n", NS]);
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(header, ["NAME", "TYPE", "DATA", "AGE"]);
    assert!(
        out.lines()
            .any(|l| l.starts_with(SERVER_TLS) && l.contains("kubernetes.io/tls")),
        "{out}"
    );
    assert_eq!(out.lines().count(), 8);
    let crt = k.ok(&[
        "get",
        "secret",
        SERVER_TLS,
        "-n",
        NS,
        "-o",
        "jsonpath={.data.tls\\.crt}",
    ]);
    assert_eq!(crt, sample_data(SERVER_TLS, "tls.crt"));
    let ns = k.ok(&["get", "ns"]);
    assert!(
        ns.lines()
            .any(|l| l.starts_with("gloo-mesh ") && l.contains("Active")),
        "{ns}"
    );
    let rtp = k.ok(&["get", "roottrustpolicies", "-A", "-o", "name"]);
    assert_eq!(
        rtp.trim(),
        "roottrustpolicy.admin.gloo.solo.io/root-trust-policy"
    );
    let r = k.run(&["get", "secret", "absent", "-n", NS]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("secrets \"absent\" not found"),
        "{}",
        r.stderr
    );
    s.stop();
}

/// A Deployment and a cert-manager Certificate beside the sample.
fn workload_objects() -> Vec<Value> {
    vec![
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "gloo-mesh-mgmt-server", "namespace": NS, "labels": {"app": "gloo-mesh-mgmt-server"}},
            "spec": {"selector": {"matchLabels": {"app": "gloo-mesh-mgmt-server"}},
                "template": {"metadata": {"labels": {"app": "gloo-mesh-mgmt-server"}},
                    "spec": {"containers": [{"name": "mgmt", "image": "x"}],
                        "volumes": [{"name": "tls", "secret": {"secretName": SERVER_TLS}}]}}}}),
        json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate",
            "metadata": {"name": "relay-server", "namespace": NS},
            "spec": {"secretName": SERVER_TLS, "issuerRef": {"name": "relay-ca", "kind": "ClusterIssuer"}}}),
    ]
}

#[test]
fn deployments_and_certificates_are_served_listed_and_forbidden_like_the_rest() {
    runtime().block_on(async {
        let mut objects = sample_objects();
        objects.extend(workload_objects());
        let (sb, c) = sandbox(Options {
            objects: objects.clone(),
            forbid: vec!["list:certificates:istio-system".parse().unwrap()],
            ..Options::default()
        })
        .await;
        let deployments: Api<DynamicObject> = Api::namespaced_with(
            c.clone(),
            NS,
            &ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("apps", "v1", "Deployment"),
                "deployments",
            ),
        );
        let l = deployments.list(&ListParams::default()).await.unwrap();
        assert_eq!(l.items.len(), 1);
        assert_eq!(
            l.items[0].data["spec"]["template"]["spec"]["volumes"][0]["secret"]["secretName"],
            SERVER_TLS
        );
        let cert = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("cert-manager.io", "v1", "Certificate"),
            "certificates",
        );
        let all: Api<DynamicObject> = Api::all_with(c.clone(), &cert);
        let l = all.list(&ListParams::default()).await.unwrap();
        assert_eq!(l.items[0].data["spec"]["secretName"], SERVER_TLS);
        let istio: Api<DynamicObject> = Api::namespaced_with(c.clone(), "istio-system", &cert);
        let e = status(istio.list(&ListParams::default()).await.unwrap_err());
        assert_eq!(e.code, 403);
        assert!(
            e.message.contains("certificates.cert-manager.io"),
            "{}",
            e.message
        );
        let groups = c.list_api_groups().await.unwrap();
        let names: Vec<&str> = groups.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, ["admin.gloo.solo.io", "cert-manager.io", "apps"]);
        sb.shutdown().await;

        // Without the CRDs, Certificates are a 404 (and dropped), Deployments still served.
        let (sb, c) = sandbox(Options {
            objects,
            without_crd: true,
            ..Options::default()
        })
        .await;
        let all: Api<DynamicObject> = Api::all_with(c.clone(), &cert);
        let e = status(all.list(&ListParams::default()).await.unwrap_err());
        assert_eq!(e.code, 404);
        assert!(!sb.objects().iter().any(|o| o["kind"] == "Certificate"));
        assert!(sb.objects().iter().any(|o| o["kind"] == "Deployment"));
        sb.shutdown().await;
    });
}

#[test]
#[ignore = "needs kubectl"]
fn kubectl_gets_deployments_and_certificates() {
    let runtime = runtime();
    let mut objects = sample_objects();
    objects.extend(workload_objects());
    let sandbox = runtime
        .block_on(Sandbox::start(Options {
            objects,
            ..Options::default()
        }))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    std::fs::write(&kc, sandbox.kubeconfig("drill")).unwrap();
    let k = Kubectl::new(&kc);
    let out = k.ok(&[
        "get",
        "deployments,certificates.cert-manager.io",
        "-n",
        NS,
        "-o",
        "name",
    ]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "deployment.apps/gloo-mesh-mgmt-server",
            "certificate.cert-manager.io/relay-server"
        ]
    );
    let table = k.ok(&["get", "deploy", "-n", NS]);
    assert!(table.starts_with("NAME"), "{table}");
    assert!(table.contains("gloo-mesh-mgmt-server"), "{table}");
    let secret = k.ok(&[
        "get",
        "cert",
        "relay-server",
        "-n",
        NS,
        "-o",
        "jsonpath={.spec.secretName}",
    ]);
    assert_eq!(secret, SERVER_TLS);
    runtime.block_on(sandbox.shutdown());
}

/// The sample's server certificate and key, as PEM files in `dir`.
fn export_fixture_tls(dir: &Path) -> (PathBuf, PathBuf) {
    let write = |key: &str, file: &str| {
        let pem = STANDARD
            .decode(sample_data(SERVER_TLS, key))
            .expect("base64");
        let path = dir.join(file);
        std::fs::write(&path, pem).unwrap();
        path
    };
    (write("tls.crt", "tls.crt"), write("tls.key", "tls.key"))
}

#[test]
#[ignore = "needs kubectl"]
fn kubectl_creates_and_deletes_secrets() {
    let s = Served::sample();
    let k = s.kubectl();
    let (crt, key) = export_fixture_tls(s.dir.path());
    let (crt, key) = (crt.to_str().unwrap(), key.to_str().unwrap());
    let out = k.ok(&[
        "create", "secret", "tls", "restored", "-n", NS, "--cert", crt, "--key", key,
    ]);
    assert_eq!(out.trim(), "secret/restored created");
    let stored = s.sandbox.secret(NS, "restored").expect("stored");
    assert_eq!(stored["type"], "kubernetes.io/tls");
    assert_eq!(
        stored["data"]["tls.crt"],
        sample_data(SERVER_TLS, "tls.crt")
    );
    assert_eq!(
        stored["data"]["tls.key"],
        sample_data(SERVER_TLS, "tls.key")
    );

    let r = k.run(&[
        "create", "secret", "tls", "restored", "-n", NS, "--cert", crt, "--key", key,
    ]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("secrets \"restored\" already exists"),
        "{}",
        r.stderr
    );

    k.ok(&["create", "namespace", "drill"]);
    k.ok(&[
        "create",
        "secret",
        "generic",
        "g",
        "-n",
        "drill",
        "--from-literal=password=s3cret",
    ]);
    assert_eq!(
        s.sandbox.secret("drill", "g").unwrap()["data"]["password"],
        STANDARD.encode("s3cret")
    );

    let out = k.ok(&["delete", "secret", "restored", "-n", NS]);
    assert_eq!(out.trim(), "secret \"restored\" deleted");
    assert!(s.sandbox.secret(NS, "restored").is_none());
    let r = k.run(&["delete", "secret", "restored", "-n", NS]);
    assert_eq!(r.code, 1);
    s.stop();
}

#[test]
#[ignore = "needs kubectl"]
fn kubectl_apply_validates_on_the_server() {
    let s = Served::sample();
    let k = s.kubectl();
    let manifest = s.dir.path().join("secret.yaml");
    let write = |data: &str, extra: &str| {
        std::fs::write(
            &manifest,
            format!("apiVersion: v1\nkind: Secret\nmetadata:\n  name: applied\n  namespace: gloo-mesh\n  labels: {{app: drill}}\ntype: Opaque\ndata:\n  k: {data}\n{extra}"),
        )
        .unwrap();
    };
    let file = manifest.to_str().unwrap();
    write("dg==", "");
    assert_eq!(
        k.ok(&["apply", "-f", file]).trim(),
        "secret/applied created"
    );
    let rv = s.sandbox.secret(NS, "applied").unwrap()["metadata"]["resourceVersion"].clone();
    assert_eq!(
        k.ok(&["apply", "-f", file]).trim(),
        "secret/applied unchanged"
    );
    assert_eq!(
        s.sandbox.secret(NS, "applied").unwrap()["metadata"]["resourceVersion"],
        rv
    );
    write("dw==", "");
    assert_eq!(
        k.ok(&["apply", "-f", file]).trim(),
        "secret/applied configured"
    );
    assert_eq!(
        s.sandbox.secret(NS, "applied").unwrap()["data"]["k"],
        "dw=="
    );

    // Validation happens on the server (fieldValidation=Strict), no --validate=false needed.
    write("dw==", "bogus: 1\n");
    let r = k.run(&["apply", "-f", file]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("unknown field \"bogus\""), "{}", r.stderr);
    let used_openapi_v2 = s
        .sandbox
        .requests()
        .iter()
        .any(|r| r.path.starts_with("/openapi/v2"));
    assert!(!used_openapi_v2, "kubectl needed no OpenAPI v2");
    s.stop();
}

// ---------------------------------------------------------------------------------------
// the `trustkeep sandbox` binary

/// A `trustkeep sandbox` child process, killed when dropped (even when a test panics).
struct Running {
    child: Child,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `trustkeep sandbox ARGS`; returns it and its first stdout line.
fn spawn_sandbox(args: &[&str]) -> (Running, String) {
    spawn_sandbox_env(args, &[])
}

/// [`spawn_sandbox`] with environment variables (`RUST_LOG` is unset unless given).
fn spawn_sandbox_env(args: &[&str], env: &[(&str, &str)]) -> (Running, String) {
    let child = Command::new(crate::util::bin())
        .arg("sandbox")
        .args(args)
        .env_remove("RUST_LOG")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn trustkeep sandbox");
    let mut guard = Running { child };
    let stdout = guard.child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read stdout");
    if line.is_empty() {
        let _ = guard.child.wait();
        let mut err = String::new();
        if let Some(mut e) = guard.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        panic!("trustkeep sandbox printed nothing; stderr: {err}");
    }
    (guard, line)
}

#[test]
fn the_binary_serves_until_sigterm() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kc.yaml");
    let sample = fixture("sample/mgmt.yaml");
    let (mut child, line) = spawn_sandbox(&[
        "--load",
        sample.to_str().unwrap(),
        "--kubeconfig-out",
        kubeconfig.to_str().unwrap(),
        "--context",
        "drill",
    ]);
    let expected_tail = format!("; kubeconfig: {}\n", kubeconfig.display());
    assert!(
        line.starts_with("sandbox listening on https://127.0.0.1:"),
        "{line}"
    );
    assert!(line.ends_with(&expected_tail), "{line}");
    let mode = std::fs::metadata(&kubeconfig).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let text = std::fs::read_to_string(&kubeconfig).unwrap();
    assert!(text.contains("current-context: drill"), "{text}");

    runtime().block_on(async {
        let c = client_with(&text).await;
        let gm: Api<Secret> = Api::namespaced(c, NS);
        let tls = gm.get(SERVER_TLS).await.expect("served");
        assert_eq!(
            STANDARD.encode(&tls.data.unwrap()["tls.crt"].0),
            sample_data(SERVER_TLS, "tls.crt")
        );
    });

    let pid = child.child.id().to_string();
    assert_eq!(ext("kill", &["-TERM", &pid]).code, 0);
    let status = child.child.wait().expect("wait");
    assert_eq!(status.code(), Some(0), "a clean exit on SIGTERM");
}

#[test]
fn the_binary_reports_bad_load_files() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.yaml");
    let r = crate::util::tk(&["sandbox", "--load", missing.to_str().unwrap()]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr
            .contains(&format!("cannot read --load file {}", missing.display())),
        "{}",
        r.stderr
    );
    let r = crate::util::tk(&["sandbox", "--forbid", "get"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("invalid --forbid rule"), "{}", r.stderr);
}

#[test]
fn the_binary_never_overwrites_a_kubeconfig_unless_forced() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let existing = dir.path().join("config");
    std::fs::write(&existing, "precious").unwrap();
    let r = crate::util::tk(&["sandbox", "--kubeconfig-out", existing.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(
        r.stderr.contains(&format!(
            "cannot write kubeconfig {}: it already exists; use --force to replace it",
            existing.display()
        )),
        "{}",
        r.stderr
    );
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "precious");

    // --force replaces a symlink itself, never the file it points to.
    let link = dir.path().join("link");
    std::os::unix::fs::symlink(&existing, &link).unwrap();
    let (mut child, line) = spawn_sandbox(&["--kubeconfig-out", link.to_str().unwrap(), "--force"]);
    assert!(
        line.starts_with("sandbox listening on https://127.0.0.1:"),
        "{line}"
    );
    assert_eq!(std::fs::read_to_string(&existing).unwrap(), "precious");
    let meta = std::fs::symlink_metadata(&link).unwrap();
    assert!(meta.file_type().is_file());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(&link)
        .unwrap()
        .contains("current-context: trustkeep-sandbox"));
    let _ = child.child.kill();
}

#[test]
fn the_binary_stays_quiet_about_reachability_on_loopback() {
    // Which addresses are reachable from the network is unit-tested
    // (trustkeep_sandbox::tests::reachability); tests never bind a non-loopback address.
    let (mut child, line) = spawn_sandbox(&[]);
    assert!(
        line.starts_with("sandbox listening on https://127.0.0.1:"),
        "{line}"
    );
    let pid = child.child.id().to_string();
    assert_eq!(ext("kill", &["-TERM", &pid]).code, 0);
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!stderr.contains("reachable"), "{stderr}");
}

#[test]
#[ignore = "needs kubectl"]
fn kubectl_against_the_binary() {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kc.yaml");
    let sample = fixture("sample/mgmt.yaml");
    let (_child, _line) = spawn_sandbox(&[
        "--load",
        sample.to_str().unwrap(),
        "--kubeconfig-out",
        kubeconfig.to_str().unwrap(),
        "--forbid",
        "get:secrets:gloo-mesh/relay-tls-signing-secret",
    ]);
    let k = Kubectl::new(&kubeconfig);
    let out = k.ok(&["get", "secret", "-n", NS, "-o", "name"]);
    assert!(
        out.lines().any(|l| l == "secret/relay-server-tls-secret"),
        "{out}"
    );
    let r = k.run(&["get", "secret", "relay-tls-signing-secret", "-n", NS]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("Forbidden") && r.stderr.contains("cannot get resource \"secrets\""),
        "{}",
        r.stderr
    );
}
