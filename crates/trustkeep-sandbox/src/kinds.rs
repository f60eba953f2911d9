//! The kinds of objects the sandbox serves (Namespace, Secret, RootTrustPolicy, Deployment,
//! cert-manager Certificate), the API groups they belong to, and their API names: group,
//! version, plural, list kind, scope and verbs.

/// The API group of Gloo Mesh's admin resources.
pub const GLOO_ADMIN_GROUP: &str = "admin.gloo.solo.io";
/// The served version of [`GLOO_ADMIN_GROUP`].
pub const GLOO_ADMIN_VERSION: &str = "v2";
/// cert-manager's API group (its CRDs).
pub const CERT_MANAGER_GROUP: &str = "cert-manager.io";

/// The named API groups served, with their one version, in discovery's order. Groups made by
/// CRDs (Gloo's, cert-manager's) are served only when `crd`; `apps` always is.
pub fn served_groups(crd: bool) -> Vec<(&'static str, &'static str)> {
    let mut groups = Vec::new();
    if crd {
        groups.push((GLOO_ADMIN_GROUP, GLOO_ADMIN_VERSION));
        groups.push((CERT_MANAGER_GROUP, "v1"));
    }
    groups.push(("apps", "v1"));
    groups
}

/// One kind of object the sandbox stores. The order is the storage (and listing) order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Namespace,
    Secret,
    RootTrustPolicy,
    /// `apps/v1` Deployment (read by `trustkeep discover`).
    Deployment,
    /// `cert-manager.io/v1` Certificate (read by `trustkeep discover`).
    Certificate,
}

impl Kind {
    /// Every kind, core kinds first.
    pub const ALL: [Kind; 5] = [
        Kind::Namespace,
        Kind::Secret,
        Kind::RootTrustPolicy,
        Kind::Deployment,
        Kind::Certificate,
    ];

    /// The `kind` field, e.g. `Secret`.
    pub fn kind(self) -> &'static str {
        match self {
            Kind::Namespace => "Namespace",
            Kind::Secret => "Secret",
            Kind::RootTrustPolicy => "RootTrustPolicy",
            Kind::Deployment => "Deployment",
            Kind::Certificate => "Certificate",
        }
    }

    /// The resource name in URLs, e.g. `secrets`.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Namespace => "namespaces",
            Kind::Secret => "secrets",
            Kind::RootTrustPolicy => "roottrustpolicies",
            Kind::Deployment => "deployments",
            Kind::Certificate => "certificates",
        }
    }

    pub fn singular(self) -> &'static str {
        match self {
            Kind::Namespace => "namespace",
            Kind::Secret => "secret",
            Kind::RootTrustPolicy => "roottrustpolicy",
            Kind::Deployment => "deployment",
            Kind::Certificate => "certificate",
        }
    }

    /// The API group: empty for the core group.
    pub fn group(self) -> &'static str {
        match self {
            Kind::Namespace | Kind::Secret => "",
            Kind::RootTrustPolicy => GLOO_ADMIN_GROUP,
            Kind::Deployment => "apps",
            Kind::Certificate => CERT_MANAGER_GROUP,
        }
    }

    pub fn version(self) -> &'static str {
        match self {
            Kind::Namespace | Kind::Secret | Kind::Deployment | Kind::Certificate => "v1",
            Kind::RootTrustPolicy => GLOO_ADMIN_VERSION,
        }
    }

    /// The `apiVersion` field, e.g. `v1` or `admin.gloo.solo.io/v2`.
    pub fn api_version(self) -> String {
        match self.group() {
            "" => self.version().to_string(),
            g => format!("{g}/{}", self.version()),
        }
    }

    /// The kind of a list of these, e.g. `SecretList`.
    pub fn list_kind(self) -> String {
        format!("{}List", self.kind())
    }

    pub fn namespaced(self) -> bool {
        !matches!(self, Kind::Namespace)
    }

    /// Whether this kind is a custom resource (served by a CRD on a real cluster).
    pub fn is_custom(self) -> bool {
        matches!(self, Kind::RootTrustPolicy | Kind::Certificate)
    }

    /// Whether this kind is in the core group (`/api/v1`), not a named one (`/apis/...`).
    pub fn is_core(self) -> bool {
        self.group().is_empty()
    }

    /// Abbreviations kubectl accepts (`kubectl get ns`).
    pub fn short_names(self) -> Option<&'static [&'static str]> {
        match self {
            Kind::Namespace => Some(&["ns"]),
            Kind::Deployment => Some(&["deploy"]),
            Kind::Certificate => Some(&["cert", "certs"]),
            Kind::Secret | Kind::RootTrustPolicy => None,
        }
    }

    /// The resource as the API server names it in messages: `secrets` or
    /// `roottrustpolicies.admin.gloo.solo.io`.
    pub fn qualified(self) -> String {
        match self.group() {
            "" => self.plural().to_string(),
            g => format!("{}.{g}", self.plural()),
        }
    }

    /// The verbs discovery advertises (watch is not served).
    pub fn verbs(self) -> &'static [&'static str] {
        match self {
            Kind::Namespace => &["create", "delete", "get", "list", "patch", "update"],
            Kind::Secret | Kind::RootTrustPolicy | Kind::Deployment | Kind::Certificate => &[
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
            ],
        }
    }

    /// The kind whose resource is `plural` (e.g. `secrets`); plurals are unique across the
    /// served groups.
    pub fn from_plural(plural: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.plural() == plural)
    }

    /// The kind of an object with this `kind` field (and `apiVersion`'s group).
    pub fn from_kind(api_version: &str, kind: &str) -> Option<Kind> {
        let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
        Kind::ALL
            .into_iter()
            .find(|k| k.kind() == kind && k.group() == group)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(Kind::Secret.qualified(), "secrets");
        assert_eq!(
            Kind::RootTrustPolicy.qualified(),
            "roottrustpolicies.admin.gloo.solo.io"
        );
        assert_eq!(
            Kind::from_kind("admin.gloo.solo.io/v2", "RootTrustPolicy"),
            Some(Kind::RootTrustPolicy)
        );
        assert_eq!(Kind::from_kind("v1", "Secret"), Some(Kind::Secret));
        assert_eq!(Kind::from_kind("v1", "ConfigMap"), None);
        assert_eq!(Kind::from_plural("namespaces"), Some(Kind::Namespace));
        assert_eq!(
            Kind::from_plural("roottrustpolicies"),
            Some(Kind::RootTrustPolicy)
        );
        assert_eq!(Kind::from_plural("configmaps"), None);
        assert_eq!(Kind::RootTrustPolicy.list_kind(), "RootTrustPolicyList");
        assert_eq!(
            Kind::from_kind("apps/v1", "Deployment"),
            Some(Kind::Deployment)
        );
        assert_eq!(
            Kind::from_kind("cert-manager.io/v1", "Certificate"),
            Some(Kind::Certificate)
        );
        assert_eq!(
            Kind::Certificate.qualified(),
            "certificates.cert-manager.io"
        );
        assert!(!Kind::Deployment.is_custom() && !Kind::Deployment.is_core());
    }
}
