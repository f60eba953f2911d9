//! Restarts after a restore: the Deployments that read the restored secrets when they start
//! and keep them in memory, so that a restored (or re-issued) certificate is used. The
//! management server (`gloo-mesh-mgmt-server`) after the relay and root-trust secrets of the
//! management cluster; the agent (`gloo-mesh-agent`) after a workload cluster's relay secrets;
//! `istiod` after `cacerts`; in that order. A restart is what `kubectl rollout restart` does
//! (the pod template's `kubectl.kubernetes.io/restartedAt` annotation), made only when asked
//! (`--restart`), only for what was written, and only on a live cluster.

use serde::Serialize;

use super::{Action, Item};
use crate::gloo::{ClusterKind, Role, ISTIOD_DEPLOYMENT, ISTIO_NAMESPACE};
use crate::workload::{AGENT_DEPLOYMENT, MGMT_SERVER_DEPLOYMENT};

/// A Deployment to restart, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Restart {
    pub namespace: String,
    pub deployment: String,
    /// The restored secrets it reads (`namespace/name`).
    pub secrets: Vec<String>,
    /// What happened (`restarted`, `no such deployment`, `failed: …`); none until restarted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
}

impl Restart {
    /// Whether the restart did not fail (absent Deployments are nothing to restart).
    pub fn ok(&self) -> bool {
        !self
            .result
            .as_deref()
            .is_some_and(|r| r.starts_with("failed"))
    }
}

/// The Deployment (namespace, name) that reads a secret of `role` in namespace `ns` of a
/// `kind` cluster when it starts, with its rank in the restart order.
fn reader(role: Role, kind: ClusterKind, ns: &str) -> Option<(u8, String, &'static str)> {
    use Role::*;
    match (kind, role) {
        (
            ClusterKind::Management,
            RelayServer | RelaySigning | RelayRoot | RelayIdentityToken | RootTrust,
        ) => Some((0, ns.to_string(), MGMT_SERVER_DEPLOYMENT)),
        (ClusterKind::Workload, RelayClient | RelayRoot | RelayIdentityToken) => {
            Some((1, ns.to_string(), AGENT_DEPLOYMENT))
        }
        (_, IstioCacerts) => Some((2, ISTIO_NAMESPACE.to_string(), ISTIOD_DEPLOYMENT)),
        _ => None,
    }
}

/// The restarts the secret lines `items` of a `kind` cluster call for, in order: those planned
/// to be written to the cluster (`applied`: those written).
pub(super) fn needed(items: &[Item], kind: ClusterKind, applied: bool) -> Vec<Restart> {
    let mut out: Vec<(u8, Restart)> = Vec::new();
    for it in items {
        let writes = matches!(
            it.action,
            Action::Create | Action::Replace | Action::Recreate
        );
        let (Some(role), true) = (it.role, writes && (!applied || it.restored)) else {
            continue;
        };
        let ns = it.id().split('/').next().unwrap_or_default();
        let Some((rank, namespace, deployment)) = reader(role, kind, ns) else {
            continue;
        };
        match out
            .iter_mut()
            .find(|(_, r)| r.namespace == namespace && r.deployment == deployment)
        {
            Some((_, r)) => r.secrets.push(it.id().to_string()),
            None => out.push((
                rank,
                Restart {
                    namespace,
                    deployment: deployment.to_string(),
                    secrets: vec![it.id().to_string()],
                    result: None,
                },
            )),
        }
    }
    out.sort_by_key(|(rank, _)| *rank);
    out.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::tests::rec;
    use crate::secret::SecretId;

    fn line(ns: &str, name: &str, role: Role, action: Action, restored: bool) -> Item {
        let mut r = rec("Opaque", b"x");
        r.id = SecretId::new(ns, name);
        let mut it = Item::secret(None, r, action, String::new(), None);
        it.role = Some(role);
        it.restored = restored;
        it
    }

    #[test]
    fn readers_restart_in_order_and_only_for_what_is_written() {
        let items = [
            line(
                "istio-system",
                "cacerts",
                Role::IstioCacerts,
                Action::Create,
                true,
            ),
            line(
                "gloo-mesh",
                "relay-client-tls-secret",
                Role::RelayClient,
                Action::Replace,
                true,
            ),
            line(
                "gloo-mesh",
                "relay-root-tls-secret",
                Role::RelayRoot,
                Action::Create,
                false,
            ),
            line(
                "gloo-mesh",
                "relay-identity-token-secret",
                Role::RelayIdentityToken,
                Action::Unchanged,
                true,
            ),
        ];
        let planned = needed(&items, ClusterKind::Workload, false);
        let names: Vec<(&str, usize)> = planned
            .iter()
            .map(|r| (r.deployment.as_str(), r.secrets.len()))
            .collect();
        assert_eq!(names, [("gloo-mesh-agent", 2), ("istiod", 1)]);
        let applied = needed(&items, ClusterKind::Workload, true);
        assert_eq!(
            applied[0].secrets,
            ["gloo-mesh/relay-client-tls-secret"],
            "the root was not written"
        );
        let mgmt = [line(
            "gloo-mesh",
            "root-trust.x",
            Role::RootTrust,
            Action::Recreate,
            true,
        )];
        assert_eq!(
            needed(&mgmt, ClusterKind::Management, true)[0].deployment,
            "gloo-mesh-mgmt-server"
        );
        let written = [line(
            "gloo-mesh",
            "relay-server-tls-secret",
            Role::RelayServer,
            Action::Write,
            true,
        )];
        assert!(
            needed(&written, ClusterKind::Management, true).is_empty(),
            "manifests restart nothing"
        );
    }
}
