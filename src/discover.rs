//! Discovery: what a Gloo Mesh setup says about itself, turned into a [`Profile`].
//!
//! Reads, from an [`Inventory`] (a `--from` file or a live cluster), the Gloo Helm release
//! secrets (`sh.helm.release.v1.<release>.v<N>`: the `release` key is base64 of gzip of JSON;
//! the latest `deployed` revision of each release), the RootTrustPolicies, the Gloo
//! Deployments and cert-manager Certificates ([`crate::workload`]). Helm values are decoded in
//! memory only and read for a fixed list of secret names and flags; nothing else of a release
//! (it may hold a license key) is kept, logged or printed. The user's values (`config`) win
//! over the chart's defaults (`chart.values`).
//!
//! Without a Helm release (installed with `helm template` or GitOps) the Deployments stand in
//! for it: the values a release would hold are inferred from the secrets their pods
//! reference ([`values_from_deployments`]) and read by the same rules. A Certificate whose
//! `secretName` is a secret of the profile marks that entry `managedBy` cert-manager. This
//! module does no I/O.

use std::collections::BTreeMap;
use std::io::Read;

use base64::Engine;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::gloo;
use crate::gloo::ClusterKind;
use crate::gloo::RelayMode;
use crate::inventory::{Inventory, RootSource};
use crate::profile::{
    DeploymentSecrets, Discovered, Entry, IssuerRef, ManagedBy, Profile, ProfileRole,
};
use crate::secret::{SecretId, SecretRecord};
use crate::workload::{Deployment, AGENT_DEPLOYMENT, MGMT_SERVER_DEPLOYMENT};

/// The type Helm 3 gives its release secrets.
pub const HELM_RELEASE_TYPE: &str = "helm.sh/release.v1";
/// The telemetry gateway's TLS secret (no chart value renames it that trustkeep knows of).
pub const TELEMETRY_GATEWAY_SECRET: &str = "gloo-telemetry-gateway-tls-secret";
/// Largest decompressed release read (a release with its chart is a few MiB).
const MAX_RELEASE_BYTES: u64 = 64 * 1024 * 1024;

/// Why discovery could not make a profile.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    #[error("no Gloo Helm release (secret sh.helm.release.v1.*, type helm.sh/release.v1, status deployed) and no Gloo Deployment (gloo-mesh-mgmt-server, gloo-mesh-agent) in namespace {0}; is Gloo installed there? (use --namespace; with --from, export the Deployments too)")]
    NoRelease(String),
    #[error("Helm release {0} enables neither glooMgmtServer nor glooAgent: no relay secrets to learn from it; back up without a profile")]
    NoComponent(String),
    #[error("secret {secret}: not a Helm release ({why})")]
    BadRelease { secret: String, why: &'static str },
}

/// One deployed Helm release, decoded: only its values are kept, and only until the names
/// and flags are read from them.
pub struct Release {
    pub namespace: String,
    pub name: String,
    pub version: u64,
    /// `config`: the user's values.
    config: Value,
    /// `chart.values`: the chart's defaults.
    defaults: Value,
    chart: String,
}

/// The Gloo chart generations discovery reads, each with its own value names. Values are
/// read under gloo-platform's names: [`canonical`] moves an older generation's values there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generation {
    /// `gloo-platform` (2.3+): `glooMgmtServer.*`, `glooAgent.*`, `common.insecure`.
    Platform,
    /// `gloo-mesh-enterprise` (2.0–2.2): `glooMeshMgmtServer.relay.*`, `insecure`.
    MeshEnterprise,
    /// `gloo-mesh-agent` (2.0–2.2): `glooMeshAgent.enabled`, `relay.*`, `insecure`.
    MeshAgent,
    /// `enterprise-networking` (1.x): `relayTlsSecret`, `signingTlsSecret`, `tokenSecret`,
    /// `selfSigned`, `disableRelayCa`, `global.insecure`.
    Networking,
    /// `enterprise-agent` (1.x): `relay.clientCertSecret`, `relay.rootTlsSecret`,
    /// `relay.tokenSecret`, `relay.authority`, `relay.insecure`, `global.insecure`.
    EnterpriseAgent,
}

impl Generation {
    /// The generation of a chart by its name; none for charts that are not Gloo's relay.
    pub fn of(chart: &str) -> Option<Generation> {
        Some(match chart {
            "gloo-platform" => Generation::Platform,
            "gloo-mesh-enterprise" => Generation::MeshEnterprise,
            "gloo-mesh-agent" => Generation::MeshAgent,
            "enterprise-networking" => Generation::Networking,
            "enterprise-agent" => Generation::EnterpriseAgent,
            _ => return None,
        })
    }

    /// How a note names it.
    pub fn describe(self) -> &'static str {
        match self {
            Generation::Platform => "gloo-platform (2.3+)",
            Generation::MeshEnterprise => "gloo-mesh-enterprise (Gloo Mesh 2.0-2.2)",
            Generation::MeshAgent => "gloo-mesh-agent (Gloo Mesh 2.0-2.2)",
            Generation::Networking => "enterprise-networking (Gloo Mesh 1.x)",
            Generation::EnterpriseAgent => "enterprise-agent (Gloo Mesh 1.x)",
        }
    }
}

/// `values` of a chart of `generation` under gloo-platform's value names: what the
/// relay's secrets, switches and authority are called there. Values the generation does not
/// have stay absent (the chart's own defaults, moved the same way, fill them in).
pub fn canonical(generation: Generation, values: &Value) -> Value {
    use serde_json::json;
    let at = |p: &str| values.pointer(p).cloned().unwrap_or(Value::Null);
    let any_true = |ps: &[&str]| -> Value {
        let set: Vec<&Value> = ps.iter().filter_map(|p| values.pointer(p)).collect();
        if set.is_empty() {
            Value::Null
        } else {
            Value::Bool(
                set.iter()
                    .any(|v| v.as_bool() == Some(true) || v.as_str() == Some("true")),
            )
        }
    };
    match generation {
        Generation::Platform => {
            let mut v = values.clone();
            // gloo-platform has no such value; only the Deployments' stand-in sets it.
            if let Some(Value::Object(relay)) = v.pointer_mut("/glooMgmtServer/relay") {
                relay.remove("rootTlsSecret");
            }
            if let Some(common) = values.pointer("/common/insecure").cloned() {
                for c in ["glooMgmtServer", "glooAgent"] {
                    if let Some(Value::Object(m)) = v.get_mut(c) {
                        m.entry("insecure").or_insert(common.clone());
                    }
                }
            }
            v
        }
        Generation::MeshEnterprise => json!({"glooMgmtServer": {
            "enabled": at("/glooMeshMgmtServer/enabled"),
            "insecure": at("/insecure"),
            "relay": at("/glooMeshMgmtServer/relay"),
        }}),
        Generation::MeshAgent => json!({"glooAgent": {
            "enabled": at("/glooMeshAgent/enabled"),
            "insecure": at("/insecure"),
            "relay": {
                "clientTlsSecret": at("/relay/clientTlsSecret"),
                "rootTlsSecret": at("/relay/rootTlsSecret"),
                "tokenSecret": at("/relay/tokenSecret"),
                "authority": at("/relay/authority"),
            },
        }}),
        Generation::Networking => json!({"glooMgmtServer": {
            "enabled": true,
            "insecure": at("/global/insecure"),
            "relay": {
                "tlsSecret": at("/relayTlsSecret"),
                "signingTlsSecret": at("/signingTlsSecret"),
                "tokenSecret": at("/tokenSecret"),
                "disableCa": at("/disableRelayCa"),
                // selfSigned: false: the relay certificates are the user's own.
                "disableCaCertGeneration": match at("/selfSigned") {
                    Value::Bool(b) => Value::Bool(!b),
                    _ => Value::Null,
                },
            },
        }}),
        Generation::EnterpriseAgent => json!({"glooAgent": {
            "enabled": true,
            "insecure": any_true(&["/relay/insecure", "/global/insecure"]),
            "relay": {
                "clientTlsSecret": at("/relay/clientCertSecret"),
                "rootTlsSecret": at("/relay/rootTlsSecret"),
                "tokenSecret": at("/relay/tokenSecret"),
                "authority": at("/relay/authority"),
            },
        }}),
    }
}

impl Release {
    /// The value at `path` (dotted), from the user's values, else the chart's defaults.
    fn get(&self, path: &str) -> Option<&Value> {
        let pointer = format!("/{}", path.replace('.', "/"));
        self.config
            .pointer(&pointer)
            .filter(|v| !v.is_null())
            .or_else(|| self.defaults.pointer(&pointer).filter(|v| !v.is_null()))
    }
    /// Whether the user set `path` (not just the chart's default).
    fn set_by_user(&self, path: &str) -> bool {
        self.config
            .pointer(&format!("/{}", path.replace('.', "/")))
            .is_some_and(|v| !v.is_null())
    }
    fn flag(&self, path: &str) -> bool {
        match self.get(path) {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true",
            _ => false,
        }
    }
    fn string(&self, path: &str) -> Option<String> {
        self.get(path)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }
    /// `<prefix>.name` and `<prefix>.namespace` (default: the release's namespace).
    fn secret(&self, prefix: &str, default_name: &str) -> SecretId {
        let name = self
            .string(&format!("{prefix}.name"))
            .unwrap_or_else(|| default_name.to_string());
        let ns = self
            .string(&format!("{prefix}.namespace"))
            .unwrap_or_else(|| self.namespace.clone());
        SecretId::new(ns, name)
    }
    fn is_gloo(&self) -> bool {
        Generation::of(&self.chart).is_some()
            || self.get("glooMgmtServer").is_some()
            || self.get("glooAgent").is_some()
    }

    /// Which chart generation it is, when not gloo-platform's (for the profile's notes).
    fn older_generation(&self) -> Option<Generation> {
        Generation::of(&self.chart).filter(|g| *g != Generation::Platform)
    }
}

/// Decodes a Helm release secret's `release` key: base64 → gzip → JSON. `None` when the
/// secret is not a release; values are never part of an error.
pub fn decode_release(rec: &SecretRecord) -> Result<Release, DiscoverError> {
    let bad = |why| DiscoverError::BadRelease {
        secret: rec.id.to_string(),
        why,
    };
    let raw = rec
        .get("release")
        .ok_or_else(|| bad("no data key release"))?;
    let text: Vec<u8> = raw
        .expose()
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    let gz = Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(&text)
            .map_err(|_| bad("release is not base64"))?,
    );
    let mut json = Zeroizing::new(Vec::new());
    flate2::read::GzDecoder::new(gz.as_slice())
        .take(MAX_RELEASE_BYTES)
        .read_to_end(&mut json)
        .map_err(|_| bad("release is not gzip"))?;
    let mut doc: Value = serde_json::from_slice(&json).map_err(|_| bad("release is not JSON"))?;
    let take = |doc: &mut Value, p: &str| doc.pointer_mut(p).map(Value::take).unwrap_or_default();
    let mut config = take(&mut doc, "/config");
    let mut defaults = take(&mut doc, "/chart/values");
    let chart = doc
        .pointer("/chart/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if let Some(g) = Generation::of(&chart) {
        config = canonical(g, &config);
        defaults = canonical(g, &defaults);
    }
    let label = |k: &str| rec.labels.get(k).cloned().unwrap_or_default();
    Ok(Release {
        namespace: rec.id.namespace.clone(),
        name: label("name"),
        version: label("version").parse().unwrap_or(0),
        config,
        defaults,
        chart,
    })
}

/// The latest deployed revision of each Helm release of the inventory (label `owner=helm`,
/// `status=deployed`, the highest `version`).
pub fn deployed_releases(inv: &Inventory) -> Vec<&SecretRecord> {
    let mut latest: BTreeMap<(String, String), (u64, &SecretRecord)> = BTreeMap::new();
    for rec in &inv.secrets {
        let l = |k: &str| rec.labels.get(k).map(String::as_str);
        if rec.type_ != HELM_RELEASE_TYPE
            || l("owner") != Some("helm")
            || l("status") != Some("deployed")
        {
            continue;
        }
        let version = l("version").and_then(|v| v.parse().ok()).unwrap_or(0);
        let key = (
            rec.id.namespace.clone(),
            l("name").unwrap_or("").to_string(),
        );
        if latest.get(&key).is_none_or(|(v, _)| version > *v) {
            latest.insert(key, (version, rec));
        }
    }
    latest.into_values().map(|(_, r)| r).collect()
}

/// The profile of an inventory whose Gloo releases live in namespace `ns`.
pub fn discover(inv: &Inventory, ns: &str) -> Result<Profile, DiscoverError> {
    let w = &inv.workloads;
    let find = |component: &str| {
        w.deployments
            .iter()
            .find(|d| d.namespace == ns && d.is(component))
    };
    let (mgmt_dep, agent_dep) = (find(MGMT_SERVER_DEPLOYMENT), find(AGENT_DEPLOYMENT));
    let mut notes = w.notes.clone();
    let mut releases = gloo_releases(inv, ns)?;
    let helm_releases: Vec<String> = releases
        .iter()
        .map(|r| format!("{}/{} revision {}", r.namespace, r.name, r.version))
        .collect();
    if releases.is_empty() {
        if mgmt_dep.is_none() && agent_dep.is_none() {
            return Err(DiscoverError::NoRelease(ns.to_string()));
        }
        releases.push(values_from_deployments(
            inv, ns, mgmt_dep, agent_dep, &mut notes,
        ));
    } else if w.deployments_known {
        note_missing_deployments(inv, ns, &releases, [mgmt_dep, agent_dep], &mut notes);
    }
    for r in &releases {
        if let Some(g) = r.older_generation() {
            notes.push(format!("Helm release {}/{} is of chart {}: its values were read under their own names (see docs/operations.md, \"Discovery and profiles\")", r.namespace, r.name, g.describe()));
        }
    }
    let mgmt = releases.iter().find(|r| r.flag("glooMgmtServer.enabled"));
    let agent = releases.iter().find(|r| r.flag("glooAgent.enabled"));
    if mgmt.is_none() && agent.is_none() {
        let names: Vec<String> = releases
            .iter()
            .map(|r| format!("{}/{}", r.namespace, r.name))
            .collect();
        return Err(DiscoverError::NoComponent(names.join(", ")));
    }
    let mode = relay_mode(inv, &releases, mgmt, agent);
    let secrets = entries(inv, &releases, mgmt, agent, mode);
    let deployments = [(mgmt_dep, "mgmt-server"), (agent_dep, "agent")]
        .into_iter()
        .filter_map(|(d, component)| {
            d.map(|d| DeploymentSecrets {
                deployment: format!("{}/{}", d.namespace, d.name),
                component: component.to_string(),
                secrets: d.secret_names(),
            })
        })
        .collect();
    let discovered = Discovered {
        source: inv.origin.to_string(),
        helm_releases,
        root_trust_policies: inv
            .policies
            .iter()
            .map(|p| format!("{}/{}", p.namespace, p.name))
            .collect(),
        deployments,
        notes,
    };
    let kind = if mgmt.is_some() {
        ClusterKind::Management
    } else {
        ClusterKind::Workload
    };
    let mut profile = Profile::new(discovered, kind, mode, ns.to_string(), secrets);
    profile.relay_authority = agent.and_then(|a| a.string("glooAgent.relay.authority"));
    Ok(profile)
}

/// The deployed Gloo Helm releases of namespace `ns`.
fn gloo_releases(inv: &Inventory, ns: &str) -> Result<Vec<Release>, DiscoverError> {
    let mut releases = Vec::new();
    for rec in deployed_releases(inv) {
        if rec.id.namespace != ns {
            continue;
        }
        let r = decode_release(rec)?;
        if r.is_gloo() {
            releases.push(r);
        }
    }
    Ok(releases)
}

/// A note for each component a release enables whose Deployment is not there.
fn note_missing_deployments(
    inv: &Inventory,
    ns: &str,
    releases: &[Release],
    [mgmt_dep, agent_dep]: [Option<&Deployment>; 2],
    notes: &mut Vec<String>,
) {
    for (path, dep, name) in [
        ("glooMgmtServer", mgmt_dep, MGMT_SERVER_DEPLOYMENT),
        ("glooAgent", agent_dep, AGENT_DEPLOYMENT),
    ] {
        if dep.is_none() && releases.iter().any(|r| r.flag(&format!("{path}.enabled"))) {
            notes.push(format!("the Helm release enables {path} but {} has no Deployment {name} in namespace {ns}: not running (or, with --from, not exported)", inv.origin));
        }
    }
}

/// The relay mode the values say: insecure, TLS with the token only, your own CA, or
/// Gloo's generated certificates.
fn relay_mode(
    inv: &Inventory,
    releases: &[Release],
    mgmt: Option<&Release>,
    agent: Option<&Release>,
) -> RelayMode {
    // `common.insecure` (gloo-platform), `insecure` (2.0-2.2) and `global.insecure`,
    // `relay.insecure` (1.x) arrive here under these names ([`canonical`]).
    let insecure = releases
        .iter()
        .any(|r| r.flag("glooMgmtServer.insecure") || r.flag("glooAgent.insecure"));
    let byo = match mgmt {
        Some(m) => {
            m.flag("glooMgmtServer.relay.disableCa")
                || m.flag("glooMgmtServer.relay.disableCaCertGeneration")
        }
        None => agent.is_some_and(|a| agent_brings_its_own(inv, a)),
    };
    let token_only = mgmt.is_some_and(|m| {
        m.string("glooMgmtServer.extraEnvs.RELAY_DISABLE_CLIENT_CERTIFICATE_AUTHENTICATION.value")
            .is_some_and(|v| v == "true")
    });
    if insecure {
        RelayMode::Insecure
    } else if token_only {
        RelayMode::TlsToken
    } else if byo {
        RelayMode::MtlsByo
    } else {
        RelayMode::MtlsGenerated
    }
}

/// Every role's entry, in [`ProfileRole::ALL`]'s order, each with its issuer when a
/// cert-manager Certificate issues it.
fn entries(
    inv: &Inventory,
    releases: &[Release],
    mgmt: Option<&Release>,
    agent: Option<&Release>,
    mode: RelayMode,
) -> Vec<Entry> {
    let mut secrets = Vec::new();
    if mode == RelayMode::Insecure {
        for role in [
            ProfileRole::RelayServer,
            ProfileRole::RelaySigning,
            ProfileRole::RelayRoot,
            ProfileRole::RelayIdentityToken,
            ProfileRole::RelayClient,
        ] {
            secrets.push(Entry::absent(
                role,
                "insecure relay (insecure: true): no relay certificates or token",
            ));
        }
    } else {
        relay_entries(mgmt, agent, mode, &mut secrets);
    }
    root_trust_entries(inv, mgmt.is_some(), &mut secrets);
    let cacerts = SecretId::new(gloo::ISTIO_NAMESPACE, gloo::CACERTS);
    if agent.is_some() || inv.secrets.iter().any(|s| s.id == cacerts) {
        secrets.push(Entry::named(ProfileRole::IstioCacerts, &cacerts));
    } else {
        secrets.push(Entry::absent(
            ProfileRole::IstioCacerts,
            "no Gloo agent in this cluster (glooAgent.enabled: false): no Istio intermediate here",
        ));
    }
    match releases.iter().find(|r| r.flag("telemetryGateway.enabled")) {
        // Made by Gloo, or by cert-manager with telemetryGatewayCustomization.disableCertGeneration:
        // the same secret to keep either way.
        Some(r) => secrets.push(Entry::named(
            ProfileRole::TelemetryGateway,
            &SecretId::new(r.namespace.clone(), TELEMETRY_GATEWAY_SECRET),
        )),
        None => secrets.push(Entry::absent(
            ProfileRole::TelemetryGateway,
            "telemetryGateway.enabled: false",
        )),
    }
    let order = |e: &Entry| ProfileRole::ALL.iter().position(|r| *r == e.role);
    secrets.sort_by_key(order);
    for e in &mut secrets {
        e.managed_by = e.id().and_then(|id| managed_by(inv, &id));
    }
    secrets
}

/// Whether an agent-only release (a workload cluster) runs with its own certificates: the
/// user renamed `glooAgent.relay.clientTlsSecret` away from the secret Gloo's token
/// bootstrap writes, or a cert-manager Certificate issues the agent's client secret.
fn agent_brings_its_own(inv: &Inventory, a: &Release) -> bool {
    let client = a.secret("glooAgent.relay.clientTlsSecret", gloo::RELAY_CLIENT);
    let renamed =
        a.set_by_user("glooAgent.relay.clientTlsSecret.name") && client.name != gloo::RELAY_CLIENT;
    renamed || managed_by(inv, &client).is_some()
}

/// Who issues secret `id`: the cert-manager Certificate whose `spec.secretName` it is, else
/// the `cert-manager.io/*` annotations cert-manager puts on the secrets it writes.
fn managed_by(inv: &Inventory, id: &SecretId) -> Option<ManagedBy> {
    let by_certificate = inv
        .workloads
        .certificates
        .iter()
        .find(|c| c.namespace == id.namespace && c.secret_name == id.name)
        .map(|c| ManagedBy {
            manager: "cert-manager".into(),
            certificate: format!("{}/{}", c.namespace, c.name),
            issuer: IssuerRef {
                kind: c.issuer_kind.clone(),
                name: c.issuer_name.clone(),
                group: c.issuer_group.clone(),
            },
        });
    by_certificate.or_else(|| {
        let rec = inv.secrets.iter().find(|s| &s.id == id)?;
        let ann = |k: &str| {
            rec.annotations
                .get(&format!("cert-manager.io/{k}"))
                .cloned()
        };
        Some(ManagedBy {
            manager: "cert-manager".into(),
            certificate: format!("{}/{}", id.namespace, ann("certificate-name")?),
            issuer: IssuerRef {
                kind: ann("issuer-kind").unwrap_or_else(|| "Issuer".into()),
                name: ann("issuer-name").unwrap_or_default(),
                group: ann("issuer-group").unwrap_or_else(|| "cert-manager.io".into()),
            },
        })
    })
}

/// Which relay role a secret a Deployment references plays, from the name it is referenced
/// under (volume, variable, flag) and its own name; `None` for anything else (a license).
fn role_of(component: &str, hint: &str, name: &str) -> Option<ProfileRole> {
    use ProfileRole::*;
    let h = format!("{hint} {}", name.to_lowercase());
    let has = |w: &str| h.contains(w);
    if has("license") || name.starts_with("sh.helm.release") {
        return None;
    }
    if has("telemetry") {
        return Some(TelemetryGateway);
    }
    let tls = has("tls") || has("cert");
    match component {
        MGMT_SERVER_DEPLOYMENT if has("signing") => Some(RelaySigning),
        _ if has("root") => Some(RelayRoot),
        _ if has("token") => Some(RelayIdentityToken),
        MGMT_SERVER_DEPLOYMENT if tls || has("server") => Some(RelayServer),
        AGENT_DEPLOYMENT if tls || has("client") => Some(RelayClient),
        _ => None,
    }
}

/// The values a Helm release would hold, inferred from the Gloo Deployments when there is no
/// release: which components run, and, for each role one referenced secret unambiguously
/// plays, its name (other roles keep the chart's default names). The relay mode is
/// bring-your-own when a cert-manager Certificate issues the server's or agent's secret and
/// no signing CA is referenced. Ambiguities are notes.
fn values_from_deployments(
    inv: &Inventory,
    ns: &str,
    mgmt: Option<&Deployment>,
    agent: Option<&Deployment>,
    notes: &mut Vec<String>,
) -> Release {
    use serde_json::json;
    let mut config = json!({
        "glooMgmtServer": {"enabled": mgmt.is_some(), "relay": {}},
        "glooAgent": {"enabled": agent.is_some(), "relay": {}},
        "telemetryGateway": {"enabled": false},
    });
    let names = names_from_deployments(mgmt, agent, notes);
    let set = set_pointer;
    const MGMT: &str = "/glooMgmtServer/relay";
    const AGENT: &str = "/glooAgent/relay";
    let paths = [
        (ProfileRole::RelayServer, MGMT, "tlsSecret"),
        (ProfileRole::RelaySigning, MGMT, "signingTlsSecret"),
        (ProfileRole::RelayIdentityToken, MGMT, "tokenSecret"),
        (ProfileRole::RelayClient, AGENT, "clientTlsSecret"),
        (ProfileRole::RelayRoot, AGENT, "rootTlsSecret"),
        (ProfileRole::RelayRoot, MGMT, "rootTlsSecret"),
        (ProfileRole::RelayIdentityToken, AGENT, "tokenSecret"),
    ];
    for (role, at, key) in paths {
        if let Some(name) = names.get(&role) {
            set(&mut config, &format!("{at}/{key}"), json!({ "name": name }));
        }
    }
    let issued = |role: ProfileRole, default: &str| {
        let name = names.get(&role).map_or(default, String::as_str);
        managed_by(inv, &SecretId::new(ns, name)).is_some()
    };
    let byo = !names.contains_key(&ProfileRole::RelaySigning)
        && (mgmt.is_some() && issued(ProfileRole::RelayServer, gloo::RELAY_SERVER)
            || mgmt.is_none() && issued(ProfileRole::RelayClient, gloo::RELAY_CLIENT));
    if !byo {
        notes.push("no cert-manager Certificate (readable) issues the relay server's or agent's secret: relay mode taken as mtls-generated, Gloo's default".into());
    }
    if byo {
        let relay = "/glooMgmtServer/relay";
        for flag in [
            "disableCa",
            "disableCaCertGeneration",
            "disableTokenGeneration",
        ] {
            set(&mut config, &format!("{relay}/{flag}"), json!(true));
        }
        if mgmt.is_none() {
            // What an agent-only release of a BYO installation sets.
            let client = names
                .get(&ProfileRole::RelayClient)
                .cloned()
                .unwrap_or_else(|| gloo::RELAY_CLIENT.into());
            set(
                &mut config,
                "/glooAgent/relay/clientTlsSecret",
                json!({"name": client}),
            );
        }
    }
    let telemetry = names.contains_key(&ProfileRole::TelemetryGateway)
        || inv
            .secrets
            .iter()
            .any(|s| s.id == SecretId::new(ns, TELEMETRY_GATEWAY_SECRET));
    set(&mut config, "/telemetryGateway/enabled", json!(telemetry));
    notes.push(format!("no Helm release in namespace {ns}: components and secret names were read from the Deployments' pod templates"));
    Release {
        namespace: ns.to_string(),
        name: "(deployments)".into(),
        version: 0,
        config,
        defaults: Value::Null,
        chart: "gloo-platform".into(),
    }
}

/// Sets the JSON pointer `path` (whose parent object exists) to `v`.
fn set_pointer(config: &mut Value, path: &str, v: Value) {
    let (parent, key) = path.rsplit_once('/').expect("an absolute pointer");
    if let Some(Value::Object(m)) = config.pointer_mut(parent) {
        m.insert(key.to_string(), v);
    }
}

/// The secret each role uses, as the Deployments' pod templates reference them; a role with
/// several candidates gets a note and no name (the chart's default then stands).
fn names_from_deployments(
    mgmt: Option<&Deployment>,
    agent: Option<&Deployment>,
    notes: &mut Vec<String>,
) -> BTreeMap<ProfileRole, String> {
    let mut names: BTreeMap<ProfileRole, String> = BTreeMap::new();
    for (d, component) in [(mgmt, MGMT_SERVER_DEPLOYMENT), (agent, AGENT_DEPLOYMENT)] {
        let Some(d) = d else { continue };
        let mut by_role: BTreeMap<ProfileRole, Vec<String>> = BTreeMap::new();
        for r in &d.secrets {
            if let Some(role) = role_of(component, &r.via.hint(), &r.name) {
                let list = by_role.entry(role).or_default();
                if !list.contains(&r.name) {
                    list.push(r.name.clone());
                }
            }
        }
        for (role, list) in by_role {
            match list.as_slice() {
                [one] => {
                    names.insert(role, one.clone());
                }
                many => notes.push(format!("Deployment {}/{} references several secrets that may be the {role} secret ({}): the profile names the chart's default; edit it if that is wrong", d.namespace, d.name, many.join(", "))),
            }
        }
    }
    names
}

/// The five relay roles, from the management server's and the agent's values.
fn relay_entries(
    mgmt: Option<&Release>,
    agent: Option<&Release>,
    mode: RelayMode,
    out: &mut Vec<Entry>,
) {
    use ProfileRole::*;
    const S: &str = "glooMgmtServer.relay";
    const A: &str = "glooAgent.relay";
    match mgmt {
        Some(m) => {
            out.push(Entry::named(
                RelayServer,
                &m.secret(&format!("{S}.tlsSecret"), gloo::RELAY_SERVER),
            ));
            let disable_ca = m.flag(&format!("{S}.disableCa"));
            let no_generation = m.flag(&format!("{S}.disableCaCertGeneration"));
            let no_token = m.flag(&format!("{S}.disableTokenGeneration"));
            if mode == RelayMode::TlsToken {
                out.push(Entry::absent(RelaySigning, "tls+token relay (RELAY_DISABLE_CLIENT_CERTIFICATE_AUTHENTICATION): agents get no client certificates"));
            } else if disable_ca {
                out.push(Entry::absent(
                    RelaySigning,
                    format!(
                        "{S}.disableCa: true: the management server signs no agent certificates"
                    ),
                ));
            } else {
                out.push(Entry::named(
                    RelaySigning,
                    &m.secret(&format!("{S}.signingTlsSecret"), gloo::RELAY_SIGNING),
                ));
            }
            if m.set_by_user(&format!("{S}.rootTlsSecret.name")) || !(disable_ca || no_generation) {
                out.push(Entry::named(
                    RelayRoot,
                    &m.secret(&format!("{S}.rootTlsSecret"), gloo::RELAY_ROOT),
                ));
            } else {
                out.push(Entry::absent(RelayRoot, format!("{S}.disableCaCertGeneration/disableCa: Gloo generates no relay root; the root CA is kept outside the cluster")));
            }
            if disable_ca && no_token && mode != RelayMode::TlsToken {
                out.push(Entry::absent(RelayIdentityToken, format!("{S}.disableCa and disableTokenGeneration: true: agents authenticate with their own certificates, no token")));
            } else {
                out.push(Entry::named(
                    RelayIdentityToken,
                    &m.secret(&format!("{S}.tokenSecret"), gloo::RELAY_TOKEN),
                ));
            }
        }
        None => {
            out.push(Entry::absent(
                RelayServer,
                "no management server in this cluster (glooMgmtServer.enabled: false)",
            ));
            out.push(Entry::absent(
                RelaySigning,
                "no management server in this cluster",
            ));
        }
    }
    match agent {
        Some(a) => {
            if mgmt.is_none() {
                out.push(Entry::named(
                    RelayRoot,
                    &a.secret(&format!("{A}.rootTlsSecret"), gloo::RELAY_ROOT),
                ));
                if mode == RelayMode::MtlsByo {
                    out.push(Entry::absent(RelayIdentityToken, "bring-your-own mTLS: agents authenticate with their own certificates, no token"));
                } else {
                    out.push(Entry::named(
                        RelayIdentityToken,
                        &a.secret(&format!("{A}.tokenSecret"), gloo::RELAY_TOKEN),
                    ));
                }
            }
            if mode == RelayMode::TlsToken {
                out.push(Entry::absent(
                    RelayClient,
                    "tls+token relay: agents have no client certificates",
                ));
            } else {
                out.push(Entry::named(
                    RelayClient,
                    &a.secret(&format!("{A}.clientTlsSecret"), gloo::RELAY_CLIENT),
                ));
            }
        }
        None => out.push(Entry::absent(
            RelayClient,
            "no Gloo agent in this cluster (glooAgent.enabled: false)",
        )),
    }
}

/// Root-trust roots: those the RootTrustPolicies name (Vault: absent by design), and any
/// secret of Gloo's generated type.
fn root_trust_entries(inv: &Inventory, management: bool, out: &mut Vec<Entry>) {
    let start = out.len();
    for p in &inv.policies {
        match (p.root_secret(), &p.root) {
            (Some(id), _) => out.push(Entry::named(ProfileRole::RootTrust, &id)),
            (None, RootSource::Vault) => out.push(Entry::absent(
                ProfileRole::RootTrust,
                format!(
                    "RootTrustPolicy {}/{} keeps its root in Vault",
                    p.namespace, p.name
                ),
            )),
            (None, _) => {}
        }
        for id in p.passive_secrets() {
            let e = Entry::named(ProfileRole::RootTrust, &id);
            if !out[start..].contains(&e) {
                out.push(e);
            }
        }
    }
    for rec in &inv.secrets {
        let e = Entry::named(ProfileRole::RootTrust, &rec.id);
        if rec.type_ == gloo::GENERATED_SIGNING_CERT && !out[start..].contains(&e) {
            out.push(e);
        }
    }
    if out.len() == start {
        let why = if management {
            "no RootTrustPolicy and no generated root: Istio roots are not managed by this cluster"
        } else {
            "workload cluster: roots live in the management cluster"
        };
        out.push(Entry::absent(ProfileRole::RootTrust, why));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::file::parse_objects;
    use std::io::Write;

    /// A release secret in Helm's storage format, as `kubectl get -o yaml` prints it.
    fn release_yaml(name: &str, version: u32, status: &str, config: Value) -> String {
        let doc = serde_json::json!({
            "name": "gloo-platform", "version": version,
            "chart": {"metadata": {"name": "gloo-platform"}, "values": {
                "licensing": {"glooMeshLicenseKey": ""},
                "glooMgmtServer": {"enabled": false, "relay": {"tlsSecret": {"name": "relay-server-tls-secret"}, "disableCa": false}},
                "glooAgent": {"enabled": false}, "telemetryGateway": {"enabled": false}}},
            "config": config,
        });
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(doc.to_string().as_bytes()).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let helm = b64.encode(gz.finish().unwrap());
        let data = b64.encode(helm);
        format!("---\nkind: Secret\nmetadata: {{name: {name}, namespace: gloo-mesh, labels: {{owner: helm, name: gloo-platform, status: {status}, version: \"{version}\"}}}}\ntype: helm.sh/release.v1\ndata: {{release: {data}}}\n")
    }

    /// A release of `chart` with the chart's `defaults` and the user's `config`.
    fn chart_release(chart: &str, defaults: Value, config: Value) -> String {
        let doc = serde_json::json!({"name": chart, "version": 1,
            "chart": {"metadata": {"name": chart}, "values": defaults}, "config": config});
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(doc.to_string().as_bytes()).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        let data = b64.encode(b64.encode(gz.finish().unwrap()));
        format!("---\nkind: Secret\nmetadata: {{name: sh.helm.release.v1.{chart}.v1, namespace: gloo-mesh, labels: {{owner: helm, name: {chart}, status: deployed, version: \"1\"}}}}\ntype: helm.sh/release.v1\ndata: {{release: {data}}}\n")
    }

    fn profile_of(chart: &str, defaults: Value, config: Value) -> Profile {
        let y = chart_release(chart, defaults, config);
        let inv = parse_objects(y.as_bytes(), "t", "gloo-mesh").unwrap();
        discover(&inv, "gloo-mesh").unwrap()
    }

    fn named(p: &Profile) -> Vec<String> {
        p.named().map(|(id, r)| format!("{r}={id}")).collect()
    }

    #[test]
    fn every_chart_generation_is_read_under_its_own_value_names() {
        use serde_json::json;
        let token = json!({"name": "relay-identity-token-secret", "namespace": "", "key": "token"});
        // gloo-mesh-enterprise 2.0-2.2, bring-your-own relay certificates.
        let p = profile_of(
            "gloo-mesh-enterprise",
            json!({"insecure": false, "glooMeshMgmtServer": {"enabled": true, "relay": {
                "tlsSecret": {"name": "relay-server-tls-secret"},
                "signingTlsSecret": {"name": "relay-tls-signing-secret"}, "tokenSecret": token,
                "disableCa": false, "disableTokenGeneration": false, "disableCaCertGeneration": false}}}),
            json!({"glooMeshMgmtServer": {"relay": {"tlsSecret": {"name": "gloo-server-tls-cert"},
                "disableCa": true, "disableCaCertGeneration": true, "disableTokenGeneration": true}}}),
        );
        assert_eq!(
            (p.cluster_kind, p.relay_mode),
            (ClusterKind::Management, RelayMode::MtlsByo)
        );
        assert!(
            named(&p).contains(&"relay-server=gloo-mesh/gloo-server-tls-cert".to_string()),
            "{:?}",
            named(&p)
        );
        assert!(p.absent_by_design(ProfileRole::RelaySigning));
        assert!(p
            .discovered
            .notes
            .iter()
            .any(|n| n.contains("gloo-mesh-enterprise (Gloo Mesh 2.0-2.2)")));
        // gloo-mesh-agent 2.0-2.2, insecure.
        let agent_defaults = json!({"insecure": false, "glooMeshAgent": {"enabled": true},
            "relay": {"clientTlsSecret": {"name": "relay-client-tls-secret"},
                "rootTlsSecret": {"name": "relay-root-tls-secret"}, "tokenSecret": token,
                "authority": "gloo-mesh-mgmt-server.gloo-mesh"}});
        let p = profile_of(
            "gloo-mesh-agent",
            agent_defaults.clone(),
            json!({"insecure": true}),
        );
        assert_eq!(
            (p.cluster_kind, p.relay_mode),
            (ClusterKind::Workload, RelayMode::Insecure)
        );
        // ... and the same chart with renamed agent secrets.
        let p = profile_of(
            "gloo-mesh-agent",
            agent_defaults,
            json!({"relay": {"clientTlsSecret": {"name": "my-agent-tls"}, "rootTlsSecret": {"name": "my-root"}}}),
        );
        assert_eq!(
            p.relay_mode,
            RelayMode::MtlsByo,
            "a renamed client secret is the user's own"
        );
        let n = named(&p);
        assert!(
            n.contains(&"relay-client=gloo-mesh/my-agent-tls".to_string())
                && n.contains(&"relay-root=gloo-mesh/my-root".to_string()),
            "{n:?}"
        );
        // enterprise-networking 1.x with its defaults: Gloo's generated relay PKI.
        let p = profile_of(
            "enterprise-networking",
            json!({"global": {"insecure": false}, "relayTlsSecret": {"name": "relay-server-tls-secret"},
                "signingTlsSecret": {"name": "relay-tls-signing-secret"}, "tokenSecret": token,
                "selfSigned": true, "disableRelayCa": false}),
            json!({}),
        );
        assert_eq!(
            (p.cluster_kind, p.relay_mode),
            (ClusterKind::Management, RelayMode::MtlsGenerated)
        );
        let n = named(&p);
        for want in [
            "relay-server=gloo-mesh/relay-server-tls-secret",
            "relay-signing=gloo-mesh/relay-tls-signing-secret",
            "relay-root=gloo-mesh/relay-root-tls-secret",
            "relay-identity-token=gloo-mesh/relay-identity-token-secret",
        ] {
            assert!(n.contains(&want.to_string()), "{want}: {n:?}");
        }
        // ... and global.insecure.
        let p = profile_of(
            "enterprise-networking",
            json!({"global": {"insecure": false}}),
            json!({"global": {"insecure": true}}),
        );
        assert_eq!(p.relay_mode, RelayMode::Insecure);
        // enterprise-agent 1.x: relay.clientCertSecret, relay.insecure.
        let p = profile_of(
            "enterprise-agent",
            json!({"relay": {"clientCertSecret": {"name": "relay-client-tls-secret"}, "insecure": false,
                "authority": "enterprise-networking.gloo-mesh"}}),
            json!({"relay": {"clientCertSecret": {"name": "cluster-1-relay"}}}),
        );
        assert_eq!(p.cluster_kind, ClusterKind::Workload);
        assert!(
            named(&p).contains(&"relay-client=gloo-mesh/cluster-1-relay".to_string()),
            "{:?}",
            named(&p)
        );
        let p = profile_of(
            "enterprise-agent",
            json!({"relay": {"insecure": false}}),
            json!({"relay": {"insecure": true}}),
        );
        assert_eq!(p.relay_mode, RelayMode::Insecure);
        // gloo-platform: common.insecure is its insecure switch, global.insecure is not.
        let p = profile_of(
            "gloo-platform",
            json!({"glooMgmtServer": {"enabled": false}}),
            json!({"common": {"insecure": true}, "glooMgmtServer": {"enabled": true}}),
        );
        assert_eq!(p.relay_mode, RelayMode::Insecure);
        let p = profile_of(
            "gloo-platform",
            json!({"glooMgmtServer": {"enabled": false}}),
            json!({"global": {"insecure": true}, "glooMgmtServer": {"enabled": true}}),
        );
        assert_eq!(
            p.relay_mode,
            RelayMode::MtlsGenerated,
            "global.insecure belongs to the 1.x charts"
        );
        // gloo-platform has no glooMgmtServer.relay.rootTlsSecret: a value of that name is not read.
        let p = profile_of(
            "gloo-platform",
            json!({"glooMgmtServer": {"enabled": false}}),
            json!({"glooMgmtServer": {"enabled": true, "relay": {"rootTlsSecret": {"name": "made-up"}}}}),
        );
        assert!(
            named(&p).contains(&"relay-root=gloo-mesh/relay-root-tls-secret".to_string()),
            "{:?}",
            named(&p)
        );
    }

    #[test]
    fn byo_release_gives_renamed_secrets_and_absences() {
        let byo = serde_json::json!({
            "licensing": {"glooMeshLicenseKey": "LICENSE-VALUE-MUST-NOT-LEAK"},
            "glooMgmtServer": {"enabled": true, "relay": {"tlsSecret": {"name": "gloo-mesh-mgmt-server-tls-secret"},
                "disableCa": true, "disableCaCertGeneration": true, "disableTokenGeneration": true}},
            "glooAgent": {"enabled": true, "relay": {"clientTlsSecret": {"name": "gloo-mesh-agent-tls-secret"}}},
            "telemetryGateway": {"enabled": true}});
        let old = serde_json::json!({"glooMgmtServer": {"enabled": true}});
        let y = release_yaml("sh.helm.release.v1.gloo-platform.v1", 1, "superseded", old)
            + &release_yaml("sh.helm.release.v1.gloo-platform.v2", 2, "deployed", byo);
        let inv = parse_objects(y.as_bytes(), "t", "gloo-mesh").unwrap();
        let p = discover(&inv, "gloo-mesh").unwrap();
        assert_eq!(p.relay_mode, RelayMode::MtlsByo);
        assert_eq!(p.cluster_kind, ClusterKind::Management);
        assert_eq!(
            p.discovered.helm_releases,
            ["gloo-mesh/gloo-platform revision 2"]
        );
        let named: Vec<String> = p.named().map(|(id, r)| format!("{r}={id}")).collect();
        assert_eq!(
            named,
            [
                "relay-server=gloo-mesh/gloo-mesh-mgmt-server-tls-secret",
                "relay-client=gloo-mesh/gloo-mesh-agent-tls-secret",
                "istio-cacerts=istio-system/cacerts",
                "telemetry-gateway=gloo-mesh/gloo-telemetry-gateway-tls-secret",
            ]
        );
        for role in [
            ProfileRole::RelaySigning,
            ProfileRole::RelayIdentityToken,
            ProfileRole::RelayRoot,
            ProfileRole::RootTrust,
        ] {
            assert!(p.absent_by_design(role), "{role}");
        }
        let out = p.to_yaml() + &serde_json::to_string(&p).unwrap();
        assert!(!out.contains("LICENSE-VALUE"), "{out}");
    }

    #[test]
    fn default_release_keeps_the_default_names() {
        let y = release_yaml(
            "sh.helm.release.v1.gloo-platform.v1",
            1,
            "deployed",
            serde_json::json!({"glooMgmtServer": {"enabled": true}}),
        );
        let inv = parse_objects(y.as_bytes(), "t", "gloo-mesh").unwrap();
        let p = discover(&inv, "gloo-mesh").unwrap();
        assert_eq!(p.relay_mode, RelayMode::MtlsGenerated);
        let names: Vec<String> = p.named().map(|(id, _)| id.name).collect();
        assert_eq!(
            names,
            [
                gloo::RELAY_SERVER,
                gloo::RELAY_SIGNING,
                gloo::RELAY_ROOT,
                gloo::RELAY_TOKEN
            ]
        );
        let insecure = release_yaml(
            "sh.helm.release.v1.gloo-platform.v1",
            1,
            "deployed",
            serde_json::json!({"glooAgent": {"enabled": true, "insecure": true}}),
        );
        let inv = parse_objects(insecure.as_bytes(), "t", "gloo-mesh").unwrap();
        let p = discover(&inv, "gloo-mesh").unwrap();
        assert_eq!(p.relay_mode, RelayMode::Insecure);
        assert_eq!(p.cluster_kind, ClusterKind::Workload);
        assert!(p.absent_by_design(ProfileRole::RelayClient));
        let e = discover(
            &parse_objects(b"kind: List\nitems: []\n", "t", "gloo-mesh").unwrap(),
            "gloo-mesh",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("no Gloo Helm release"), "{e}");
    }
}
