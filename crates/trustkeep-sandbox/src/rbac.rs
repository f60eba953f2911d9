//! RBAC enforcement for the sandbox: the permissions of one service account, taken from real
//! `Role`, `ClusterRole`, `RoleBinding` and `ClusterRoleBinding` objects (e.g. the output of
//! `kubectl kustomize packaging/kubernetes/...`), evaluated as the API server's RBAC
//! authorizer does (apiGroups, resources, verbs, resourceNames; a RoleBinding grants in its
//! namespace only, a ClusterRoleBinding everywhere). A request it does not allow is answered
//! 403 by the same hook as `--forbid`. It owns no routing and no store access.

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding};
use serde_json::Value;

use super::error::SandboxError;

/// What one service account may do.
#[derive(Clone, Debug, Default)]
pub struct Rbac {
    /// Rules and the namespace they apply in (`None`: every namespace and cluster scope).
    grants: Vec<(Option<String>, PolicyRule)>,
}

fn parse<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, SandboxError> {
    serde_json::from_value(v.clone()).map_err(|e| SandboxError::Object {
        object: format!("{} {}", v["kind"], v["metadata"]["name"]),
        message: format!("not a valid RBAC object: {e}"),
    })
}

impl Rbac {
    /// The permissions of service account `namespace/name` under the RBAC objects among
    /// `objects` (other kinds are ignored).
    pub fn for_service_account(
        objects: &[Value],
        namespace: &str,
        name: &str,
    ) -> Result<Rbac, SandboxError> {
        let (mut roles, mut cluster_roles, mut bindings) = (Vec::new(), Vec::new(), Vec::new());
        for o in objects {
            match o["kind"].as_str() {
                Some("Role") => roles.push(parse::<Role>(o)?),
                Some("ClusterRole") => cluster_roles.push(parse::<ClusterRole>(o)?),
                Some("RoleBinding") => {
                    let b = parse::<RoleBinding>(o)?;
                    let ns = b.metadata.namespace.clone();
                    bindings.push((ns, b.role_ref, b.subjects));
                }
                Some("ClusterRoleBinding") => {
                    let b = parse::<ClusterRoleBinding>(o)?;
                    bindings.push((None, b.role_ref, b.subjects));
                }
                _ => {}
            }
        }
        let mut grants = Vec::new();
        for (scope, role_ref, subjects) in bindings {
            let bound = subjects.iter().flatten().any(|s| {
                s.kind == "ServiceAccount"
                    && s.name == name
                    && s.namespace.as_deref().or(scope.as_deref()) == Some(namespace)
            });
            if !bound {
                continue;
            }
            let rules = match role_ref.kind.as_str() {
                "Role" => roles
                    .iter()
                    .find(|r| {
                        r.metadata.name.as_deref() == Some(&role_ref.name)
                            && r.metadata.namespace == scope
                    })
                    .and_then(|r| r.rules.clone()),
                _ => cluster_roles
                    .iter()
                    .find(|r| r.metadata.name.as_deref() == Some(&role_ref.name))
                    .and_then(|r| r.rules.clone()),
            };
            grants.extend(rules.into_iter().flatten().map(|r| (scope.clone(), r)));
        }
        Ok(Rbac { grants })
    }

    /// Whether `verb` on `group`/`resource` (object `name`, in `namespace`) is allowed.
    pub fn allows(
        &self,
        verb: &str,
        group: &str,
        resource: &str,
        namespace: Option<&str>,
        name: Option<&str>,
    ) -> bool {
        let has = |list: &Option<Vec<String>>, want: &str| {
            list.iter().flatten().any(|x| x == want || x == "*")
        };
        self.grants.iter().any(|(scope, rule)| {
            let in_scope = scope.is_none() || scope.as_deref() == namespace;
            let named = match rule.resource_names.as_deref() {
                None | Some([]) => true,
                // A name list grants requests for those objects only (never list or watch).
                Some(names) => name.is_some_and(|n| names.iter().any(|x| x == n)),
            };
            in_scope
                && named
                && has(&rule.api_groups, group)
                && has(&rule.resources, resource)
                && rule.verbs.iter().any(|v| v == verb || v == "*")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bindings_grant_their_role_in_their_namespace_only() {
        let objects = [
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": "r", "namespace": "a"},
                "rules": [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["s"], "verbs": ["get"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                "metadata": {"name": "rb", "namespace": "a"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "r"},
                "subjects": [{"kind": "ServiceAccount", "name": "tk", "namespace": "a"}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "c"},
                "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get"]}]}),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": "crb"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "c"},
                "subjects": [{"kind": "ServiceAccount", "name": "other", "namespace": "a"}]}),
        ];
        let r = Rbac::for_service_account(&objects, "a", "tk").unwrap();
        assert!(r.allows("get", "", "secrets", Some("a"), Some("s")));
        assert!(
            !r.allows("get", "", "secrets", Some("a"), Some("t")),
            "another name"
        );
        assert!(!r.allows("list", "", "secrets", Some("a"), None), "no list");
        assert!(
            !r.allows("get", "", "secrets", Some("b"), Some("s")),
            "another namespace"
        );
        assert!(
            !r.allows("get", "", "namespaces", Some("x"), Some("x")),
            "bound to another SA"
        );
        let other = Rbac::for_service_account(&objects, "a", "other").unwrap();
        assert!(other.allows("get", "", "namespaces", Some("x"), Some("x")));
    }
}
