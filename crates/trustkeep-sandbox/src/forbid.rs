//! `--forbid` rules: requests the sandbox refuses with 403, as if RBAC did not allow them.
//! A rule is `VERB:RESOURCE[:NAMESPACE[/NAME]]`, e.g. `list:secrets`,
//! `get:secrets:gloo-mesh/relay-server-tls-secret`, `*:secrets:gloo-mesh`.

use std::str::FromStr;

use super::error::SandboxError;

const VERBS: &[&str] = &[
    "get",
    "list",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "watch",
    "*",
];
const RESOURCES: &[&str] = &[
    "secrets",
    "roottrustpolicies",
    "namespaces",
    "deployments",
    "certificates",
    "*",
];

/// One refusal rule. A rule with a namespace matches only requests in that namespace (like a
/// RoleBinding: listing all namespaces is not "in" any); a rule with a name matches only
/// requests for that object. For `namespaces`, the namespace of a request for namespace X is
/// X, as in RBAC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forbid {
    /// `get`, `list`, `create`, `update`, `patch`, `delete`, `deletecollection`, `watch` or `*`.
    pub verb: String,
    /// `secrets`, `roottrustpolicies`, `namespaces`, `deployments`, `certificates` or `*`.
    pub resource: String,
    pub namespace: Option<String>,
    pub name: Option<String>,
}

impl Forbid {
    /// Whether this rule refuses `verb` on `resource` in `namespace` for `name`.
    pub fn matches(
        &self,
        verb: &str,
        resource: &str,
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> bool {
        (self.verb == "*" || self.verb == verb)
            && (self.resource == "*" || self.resource == resource)
            && self
                .namespace
                .as_deref()
                .is_none_or(|ns| namespace == Some(ns))
            && self.name.as_deref().is_none_or(|n| name == Some(n))
    }
}

fn invalid(rule: &str, message: impl Into<String>) -> SandboxError {
    SandboxError::Forbid {
        rule: rule.to_string(),
        message: message.into(),
    }
}

fn scope(rule: &str, part: &str) -> Result<(Option<String>, Option<String>), SandboxError> {
    let (ns, name) = match part.split_once('/') {
        Some((ns, name)) => (ns, Some(name)),
        None => (part, None),
    };
    if ns.is_empty() {
        return Err(invalid(rule, "the namespace is empty"));
    }
    if name.is_some_and(str::is_empty) {
        return Err(invalid(rule, "the name after '/' is empty"));
    }
    Ok((Some(ns.to_string()), name.map(str::to_string)))
}

impl FromStr for Forbid {
    type Err = SandboxError;

    fn from_str(rule: &str) -> Result<Forbid, SandboxError> {
        let parts: Vec<&str> = rule.split(':').collect();
        let (verb, resource, rest) = match parts.as_slice() {
            [v, r] => (*v, *r, None),
            [v, r, s] => (*v, *r, Some(*s)),
            _ => {
                return Err(invalid(
                    rule,
                    "expected VERB:RESOURCE[:NAMESPACE[/NAME]], e.g. get:secrets:gloo-mesh/relay-server-tls-secret",
                ))
            }
        };
        if !VERBS.contains(&verb) {
            return Err(invalid(
                rule,
                format!("unknown verb {verb:?}; use one of {}", VERBS.join(", ")),
            ));
        }
        if !RESOURCES.contains(&resource) {
            return Err(invalid(
                rule,
                format!(
                    "unknown resource {resource:?}; use one of {}",
                    RESOURCES.join(", ")
                ),
            ));
        }
        let (namespace, name) = match rest {
            Some(s) => scope(rule, s)?,
            None => (None, None),
        };
        Ok(Forbid {
            verb: verb.to_string(),
            resource: resource.to_string(),
            namespace,
            name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rules() {
        let f: Forbid = "get:secrets:gloo-mesh/relay-server-tls-secret"
            .parse()
            .unwrap();
        assert_eq!(f.namespace.as_deref(), Some("gloo-mesh"));
        assert_eq!(f.name.as_deref(), Some("relay-server-tls-secret"));
        assert!(f.matches(
            "get",
            "secrets",
            Some("gloo-mesh"),
            Some("relay-server-tls-secret")
        ));
        assert!(!f.matches("get", "secrets", Some("gloo-mesh"), Some("other")));
        assert!(!f.matches("list", "secrets", Some("gloo-mesh"), None));
        let all: Forbid = "*:secrets:gloo-mesh".parse().unwrap();
        assert!(all.matches("delete", "secrets", Some("gloo-mesh"), Some("x")));
        assert!(!all.matches("list", "secrets", None, None));
        let list: Forbid = "list:secrets".parse().unwrap();
        assert!(list.matches("list", "secrets", None, None));
        assert!(list.matches("list", "secrets", Some("a"), None));
        for bad in [
            "get",
            "fetch:secrets",
            "get:configmaps",
            "get:secrets:",
            "get:secrets:ns/",
            "a:b:c:d",
        ] {
            let e = bad.parse::<Forbid>().unwrap_err();
            assert!(e.to_string().starts_with("invalid --forbid rule"), "{e}");
        }
    }
}
