//! What `trustkeep discover` reads besides secrets: the Gloo Deployments (which secrets their
//! pod templates reference) and cert-manager `Certificate`s (which secret each one issues, and
//! from which issuer), taken from `kubectl get -o yaml|json` objects. Only names are kept:
//! never an environment value, an argument other than a secret's name, or anything else of a
//! pod template. This module does no I/O; `backup`, `audit` and `verify` never read these
//! kinds.

use serde_json::Value;

/// The management server's Deployment (and its pods' `app` label) in the gloo-platform chart.
pub const MGMT_SERVER_DEPLOYMENT: &str = "gloo-mesh-mgmt-server";
/// The agent's Deployment (and its pods' `app` label).
pub const AGENT_DEPLOYMENT: &str = "gloo-mesh-agent";

/// How a pod template refers to a secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    /// `volumes[].secret.secretName` (the volume's name).
    Volume(String),
    /// `volumes[].projected.sources[].secret.name` (the volume's name).
    Projected(String),
    /// `env[].valueFrom.secretKeyRef` (the variable's name).
    Env(String),
    /// `envFrom[].secretRef`.
    EnvFrom,
    /// A `--<flag>=<name>` or `--<flag> <name>` argument whose flag mentions `secret`.
    Arg(String),
}

impl Via {
    /// The name the reference is made under (volume, variable, flag), lowercase: what tells
    /// which role the secret plays.
    pub fn hint(&self) -> String {
        match self {
            Via::Volume(n) | Via::Projected(n) | Via::Env(n) | Via::Arg(n) => n.to_lowercase(),
            Via::EnvFrom => String::new(),
        }
    }
}

/// A secret a pod template refers to (in the Deployment's namespace).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretRef {
    pub name: String,
    pub via: Via,
}

/// A Deployment, reduced to its identity, labels and the secrets its pods reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Deployment {
    pub namespace: String,
    pub name: String,
    /// `spec.template.metadata.labels.app`, else `metadata.labels.app`.
    pub app: Option<String>,
    pub secrets: Vec<SecretRef>,
}

impl Deployment {
    /// Reads a Deployment object (`apps/v1`); `None` without a name.
    pub fn from_value(v: &Value, default_namespace: &str) -> Option<Deployment> {
        let name = v.pointer("/metadata/name")?.as_str()?.to_string();
        let namespace = v
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or(default_namespace)
            .to_string();
        let app = v
            .pointer("/spec/template/metadata/labels/app")
            .or_else(|| v.pointer("/metadata/labels/app"))
            .and_then(Value::as_str)
            .map(str::to_string);
        let pod = v.pointer("/spec/template/spec").unwrap_or(&Value::Null);
        Some(Deployment {
            namespace,
            name,
            app,
            secrets: pod_secrets(pod),
        })
    }

    /// Whether this is the Deployment of component `name` (by name or by `app` label).
    pub fn is(&self, name: &str) -> bool {
        self.name == name || self.app.as_deref() == Some(name)
    }

    /// The distinct secret names referenced, in order of first reference.
    pub fn secret_names(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in &self.secrets {
            if !out.contains(&r.name) {
                out.push(r.name.clone());
            }
        }
        out
    }
}

fn items<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key).and_then(Value::as_array).into_iter().flatten()
}

fn text<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Every secret a pod spec references: volumes (secret, projected), and in each container
/// and init container `env` secretKeyRefs, `envFrom` secretRefs and `--*secret*` arguments.
fn pod_secrets(pod: &Value) -> Vec<SecretRef> {
    let mut out = Vec::new();
    let mut push = |name: &str, via: Via| {
        let r = SecretRef {
            name: name.to_string(),
            via,
        };
        if !out.contains(&r) {
            out.push(r);
        }
    };
    for vol in items(pod, "volumes") {
        let vname = text(vol, "/name").unwrap_or("").to_string();
        if let Some(s) = text(vol, "/secret/secretName") {
            push(s, Via::Volume(vname.clone()));
        }
        for src in items(vol.get("projected").unwrap_or(&Value::Null), "sources") {
            if let Some(s) = text(src, "/secret/name") {
                push(s, Via::Projected(vname.clone()));
            }
        }
    }
    let containers = items(pod, "initContainers").chain(items(pod, "containers"));
    for c in containers {
        for e in items(c, "env") {
            if let Some(s) = text(e, "/valueFrom/secretKeyRef/name") {
                push(s, Via::Env(text(e, "/name").unwrap_or("").to_string()));
            }
        }
        for e in items(c, "envFrom") {
            if let Some(s) = text(e, "/secretRef/name") {
                push(s, Via::EnvFrom);
            }
        }
        let args: Vec<&str> = items(c, "command")
            .chain(items(c, "args"))
            .filter_map(Value::as_str)
            .collect();
        for (i, a) in args.iter().enumerate() {
            let Some(flag) = a.strip_prefix("--").or_else(|| a.strip_prefix('-')) else {
                continue;
            };
            let (flag, value) = match flag.split_once('=') {
                Some((f, v)) => (f, Some(v)),
                None => (
                    flag,
                    args.get(i + 1).copied().filter(|v| !v.starts_with('-')),
                ),
            };
            if flag.to_lowercase().contains("secret") {
                // `--x-secret=ns/name` or `name`; booleans (`--disable-secret=true`) are not names.
                let name = value.map(|v| v.rsplit('/').next().unwrap_or(v));
                if let Some(n) = name.filter(|n| !n.is_empty() && *n != "true" && *n != "false") {
                    push(n, Via::Arg(flag.to_string()));
                }
            }
        }
    }
    out
}

/// A cert-manager Certificate, reduced to the secret it issues and its issuer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    pub namespace: String,
    pub name: String,
    /// `spec.secretName`, in the Certificate's namespace.
    pub secret_name: String,
    /// `spec.issuerRef`: kind (default `Issuer`), name, group (default `cert-manager.io`).
    pub issuer_kind: String,
    pub issuer_name: String,
    pub issuer_group: String,
}

impl Certificate {
    /// Reads a Certificate object (`cert-manager.io/v1`); `None` without a name or secretName.
    pub fn from_value(v: &Value, default_namespace: &str) -> Option<Certificate> {
        Some(Certificate {
            name: text(v, "/metadata/name")?.to_string(),
            namespace: text(v, "/metadata/namespace")
                .unwrap_or(default_namespace)
                .to_string(),
            secret_name: text(v, "/spec/secretName")?.to_string(),
            issuer_kind: text(v, "/spec/issuerRef/kind")
                .unwrap_or("Issuer")
                .to_string(),
            issuer_name: text(v, "/spec/issuerRef/name").unwrap_or("").to_string(),
            issuer_group: text(v, "/spec/issuerRef/group")
                .unwrap_or("cert-manager.io")
                .to_string(),
        })
    }
}

/// The Deployments and Certificates a source holds, and what could not be read.
#[derive(Clone, Debug, Default)]
pub struct Workloads {
    pub deployments: Vec<Deployment>,
    pub certificates: Vec<Certificate>,
    /// Whether the Deployments were read: a live cluster that allowed listing them, or a
    /// file holding at least one Deployment (a secrets-only export says nothing of them).
    pub deployments_known: bool,
    /// What reading could not do, each naming the permission to grant (e.g. a 403 listing
    /// Certificates). Recorded in the profile, never a failure.
    pub notes: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn collects_every_kind_of_reference_and_no_values() {
        let d = json!({"metadata": {"name": "gloo-mesh-agent", "namespace": "gloo-mesh"},
            "spec": {"template": {"metadata": {"labels": {"app": "gloo-mesh-agent"}}, "spec": {
                "volumes": [
                    {"name": "relay-client-tls", "secret": {"secretName": "agent-tls"}},
                    {"name": "bundle", "projected": {"sources": [{"secret": {"name": "relay-root"}}, {"configMap": {"name": "cm"}}]}},
                    {"name": "cfg", "configMap": {"name": "x"}}],
                "containers": [{"name": "agent",
                    "args": ["--relay-identity-token-secret-name=relay-identity-token-secret", "--cluster", "c1",
                             "--relay-root-secret", "gloo-mesh/root-ca", "--disable-secret-watch=true"],
                    "env": [{"name": "LICENSE_KEY", "valueFrom": {"secretKeyRef": {"name": "license", "key": "k"}}},
                            {"name": "PLAIN", "value": "NOT-A-SECRET-NAME"}],
                    "envFrom": [{"secretRef": {"name": "extra"}}]}]}}}});
        let d = Deployment::from_value(&d, "x").unwrap();
        assert!(d.is(AGENT_DEPLOYMENT));
        assert_eq!(
            d.secret_names(),
            [
                "agent-tls",
                "relay-root",
                "license",
                "extra",
                "relay-identity-token-secret",
                "root-ca"
            ]
        );
        assert_eq!(d.secrets[0].via, Via::Volume("relay-client-tls".into()));
        assert_eq!(d.secrets[2].via.hint(), "license_key");
        let c = Certificate::from_value(
            &json!({"metadata": {"name": "c"}, "spec": {"secretName": "s", "issuerRef": {"name": "ca"}}}),
            "gloo-mesh",
        )
        .unwrap();
        assert_eq!(
            (
                c.namespace.as_str(),
                c.issuer_kind.as_str(),
                c.issuer_group.as_str()
            ),
            ("gloo-mesh", "Issuer", "cert-manager.io")
        );
    }
}
