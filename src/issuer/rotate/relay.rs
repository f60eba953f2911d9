//! The relay root's rotation: the agents' trust bundle first (every relay secret's `ca.crt`
//! trusts both roots, the old one first), then the management cluster (a new signing CA and
//! server certificate under the new root), then each agent's client certificate, then the old
//! root leaves every `ca.crt`. The relay server verifies agents by its `ca.crt` and agents the
//! server by `relay-root-tls-secret`'s, so both roots must be in both until the last agent has
//! switched.

use super::{
    certs, chain_root, describe, like, new_root, refuse, roots_of, short, two, with_bundle, Ctx,
    Edits, Fleet, Member, Phase, Standing,
};
use crate::gloo::Role;
use crate::issuer::birth::request;
use crate::issuer::ca::Ca;
use crate::issuer::keys::KeyType;
use crate::issuer::profiles::{Profile as CertProfile, Request};
use crate::issuer::reissue::key_type_of;
use crate::issuer::{records, IssueError};
use crate::pki::{self, Cert};
use crate::secret::{SecretBytes, SecretId};

/// The relay secrets that carry a `ca.crt` trust bundle.
const BUNDLED: [Role; 4] = [
    Role::RelayServer,
    Role::RelaySigning,
    Role::RelayRoot,
    Role::RelayClient,
];

/// Every root of every relay `ca.crt`, oldest first.
pub(super) fn relay_roots(f: &Fleet) -> Vec<Cert> {
    let mut found = Vec::new();
    for m in &f.members {
        for s in m.snap.secrets.iter().filter(|s| BUNDLED.contains(&s.role)) {
            found.extend(certs(&s.record, "ca.crt"));
        }
    }
    roots_of(found)
}

/// The relay side of a setup: the roots, the server's and each agent's root.
struct RelayView<'a> {
    roots: Vec<Cert>,
    mgmt: &'a Member,
    server: Option<Cert>,
    agents: Vec<(&'a Member, Option<Cert>)>,
}

fn view(f: &Fleet) -> Result<RelayView<'_>, IssueError> {
    let roots = relay_roots(f);
    let mgmt = f.management().expect("checked when read");
    let Some(server) = mgmt.secret(Role::RelayServer) else {
        return Err(IssueError::Design(format!("cluster {}: its archive holds no gloo-mesh/relay-server-tls-secret; pass the management cluster's latest archive", mgmt.name)));
    };
    let agents = f
        .workloads()
        .map(|m| {
            let root =
                (m.secret(Role::RelayClient)).and_then(|r| chain_root(r, "tls.crt", &[], &roots));
            (m, root)
        })
        .collect();
    if roots.len() > 2 {
        return Err(refuse(format!("{} relay roots are trusted at once: finish or roll back the rotation in progress first", roots.len())));
    }
    Ok(RelayView {
        server: chain_root(server, "tls.crt", &[], &roots),
        roots,
        mgmt,
        agents,
    })
}

/// One phase of a relay root rotation; returns (old root, new root).
pub(super) fn phase(
    ctx: &Ctx<'_>,
    f: &Fleet,
    phase: Phase,
    e: &mut Edits,
) -> Result<(Option<Cert>, Option<Cert>), IssueError> {
    let v = view(f)?;
    let istio: Vec<Cert> = f
        .workloads()
        .filter_map(|m| m.secret(Role::IstioCacerts))
        .flat_map(|r| certs(r, "root-cert.pem"))
        .collect();
    if v.roots.iter().any(|r| istio.contains(r)) {
        return Err(IssueError::Design("the relay root is the Istio root too (a shared-root architecture): pki rotate rotates the roots of the separate-roots architecture only; rotating a shared root is not supported yet".into()));
    }
    match phase {
        Phase::Add => add(ctx, f, &v, e),
        Phase::Switch => switch(ctx, f, &v, e),
        Phase::Remove => remove(ctx, f, &v, e),
    }
}

/// Every relay `ca.crt` of `f` set to `roots`.
fn bundles(ctx: &Ctx<'_>, f: &Fleet, roots: &[&Cert], why: &str, e: &mut Edits) {
    for m in &f.members {
        for s in m.snap.secrets.iter().filter(|s| BUNDLED.contains(&s.role)) {
            if s.record.get("ca.crt").is_some() {
                let rec = with_bundle(&s.record, "ca.crt", roots, &ctx.by);
                e.secret(&m.name, s.role, rec, why);
            }
        }
    }
}

fn add(
    ctx: &Ctx<'_>,
    f: &Fleet,
    v: &RelayView<'_>,
    e: &mut Edits,
) -> Result<(Option<Cert>, Option<Cert>), IssueError> {
    let [old] = v.roots.as_slice() else {
        return Err(refuse(format!("a relay root rotation is already in progress: old root {}, new root {}; next: --phase switch (the management cluster first), or --phase remove once every agent has switched", describe(&v.roots[0]), describe(&v.roots[v.roots.len() - 1]))));
    };
    let (root, _) = new_root(ctx, CertProfile::Root { relay: true }, old)?;
    let fp = short(root.cert());
    e.offline_add(
        &format!("relay-root-ca-{fp}"),
        &root,
        "intermediate-cas",
        &ctx.by,
    );
    bundles(
        ctx,
        f,
        &[old, root.cert()],
        "ca.crt: the old root (still issuing) then the new one",
        e,
    );
    Ok((Some(old.clone()), Some(root.cert().clone())))
}

/// Which clusters this switch takes: the management cluster (server and signing CA) and the
/// agents, refusing an agent before the server.
fn chosen<'a>(
    ctx: &Ctx<'_>,
    v: &'a RelayView<'a>,
    new: &Cert,
) -> Result<(bool, Vec<&'a Member>), IssueError> {
    let mgmt_pending = v.server.as_ref() != Some(new);
    let pending: Vec<&Member> = (v.agents.iter())
        .filter(|(_, r)| r.as_ref() != Some(new))
        .map(|(m, _)| *m)
        .collect();
    if ctx.o.clusters.is_empty() {
        if !mgmt_pending && pending.is_empty() {
            return Err(refuse("the relay server and every agent already chain to the new relay root: next is --phase remove".into()));
        }
        return Ok((mgmt_pending, pending));
    }
    let take_mgmt = ctx.o.clusters.contains(&v.mgmt.name);
    if take_mgmt && !mgmt_pending {
        return Err(refuse(format!(
            "--cluster {}: the relay server already chains to the new relay root",
            v.mgmt.name
        )));
    }
    let mut agents = Vec::new();
    for c in ctx.o.clusters.iter().filter(|c| **c != v.mgmt.name) {
        let Some(m) = pending.iter().find(|m| &m.name == c) else {
            return Err(refuse(format!("--cluster {c}: not an agent waiting to switch (switched already, or not a workload cluster)")));
        };
        if mgmt_pending && !take_mgmt {
            return Err(refuse(format!("cluster {c}: an agent switches after the relay server (its new certificate comes from the new signing CA): run --phase switch --cluster {} first", v.mgmt.name)));
        }
        agents.push(*m);
    }
    Ok((take_mgmt, agents))
}

fn switch(
    ctx: &Ctx<'_>,
    f: &Fleet,
    v: &RelayView<'_>,
    e: &mut Edits,
) -> Result<(Option<Cert>, Option<Cert>), IssueError> {
    let (old, new) = two(&v.roots, "relay", Phase::Switch)?;
    for m in &f.members {
        for s in m.snap.secrets.iter().filter(|s| BUNDLED.contains(&s.role)) {
            if s.record.get("ca.crt").is_some() && !certs(&s.record, "ca.crt").contains(&new) {
                return Err(refuse(format!("cluster {}: {} ca.crt does not trust the new relay root yet: --phase add has not reached it; apply the add phase's archive of {} before switching", m.name, s.record.id, m.name)));
            }
        }
    }
    let (take_mgmt, agents) = chosen(ctx, v, &new)?;
    let signing = match take_mgmt {
        true => Some(switch_mgmt(ctx, f, v.mgmt, &old, &new, e)?),
        false => None,
    };
    let signing = match &signing {
        Some(s) => s,
        None => &super::ca_of(f, |c| {
            c.ca.root_cert() == &new
                && c.ca.path.len() >= 2
                && (c.role == Role::RelaySigning || c.issues.iter().any(|i| i == "relay-client"))
        })
        .ok_or_else(|| IssueError::NoIssuer(format!("no archive given holds the new relay signing CA (under {}) with its key: pass the management cluster's archive written by --phase switch --cluster {} (--from)", describe(&new), v.mgmt.name)))?
        .ca,
    };
    for m in agents {
        switch_agent(ctx, m, signing, &old, &new, e)?;
    }
    Ok((Some(old), Some(new)))
}

/// A request for `profile` with the DNS names of the certificate it replaces.
fn request_like(profile: CertProfile, old: Option<&Cert>, ctx: &Ctx<'_>) -> Request {
    let mut r = request(profile, ctx.now);
    let dns = old.map(|c| pki::dns_names(c.x509())).unwrap_or_default();
    if !dns.is_empty() {
        r.dns_names = Some(dns);
    }
    r
}

/// The management cluster's switch: a new signing CA under the new root (in
/// relay-tls-signing-secret, or offline where the design keeps it out of the cluster), a new
/// server certificate from it, the relay root secret's bundle (and, where it holds the root's
/// key, the new root).
fn switch_mgmt(
    ctx: &Ctx<'_>,
    f: &Fleet,
    m: &Member,
    old: &Cert,
    new: &Cert,
    e: &mut Edits,
) -> Result<Ca, IssueError> {
    let root = super::ca_of(f, |c| c.ca.path.len() == 1 && c.ca.cert() == new)
        .ok_or_else(|| IssueError::NoIssuer(format!("no archive given holds the new relay root {} with its key: pass the management cluster's archive written by --phase add (--from)", describe(new))))?;
    let bundle = Bundle {
        roots: &[new, old],
        why: "ca.crt: the new root then the old one",
        signing: "a new signing CA under the new root",
    };
    issue_mgmt(ctx, m, &root.ca, &bundle, e)
}

/// The relay bundle the management cluster's new secrets carry, and what to say of them.
struct Bundle<'a> {
    roots: &'a [&'a Cert],
    why: &'a str,
    signing: &'a str,
}

/// A new signing CA under `root` (in relay-tls-signing-secret, or offline where the design
/// keeps it out of the cluster), a new server certificate from it, and the relay root
/// secret's bundle (and, where it holds the root's key, the root), all with `b`'s `ca.crt`.
fn issue_mgmt(
    ctx: &Ctx<'_>,
    m: &Member,
    root: &Ca,
    b: &Bundle<'_>,
    e: &mut Edits,
) -> Result<Ca, IssueError> {
    let new = root.cert();
    let kt: KeyType = key_type_of(new).unwrap_or_default();
    let v = &ctx.o.validity;
    let signing = root.issue_ca(
        request(CertProfile::RelaySigning { shared: false }, ctx.now),
        v,
        kt,
    )?;
    let both = b.roots;
    let why = b.why;
    match m.secret(Role::RelaySigning) {
        Some(r) => {
            let made = records::relay_signing(&r.id.namespace, &signing, &ctx.by);
            let rec = with_bundle(&like(r, made, &ctx.by), "ca.crt", both, &ctx.by);
            e.secret(
                &m.name,
                Role::RelaySigning,
                rec,
                &format!("{}; {why}", b.signing),
            );
        }
        None => e.offline_add(
            &format!("relay-signing-ca-{}", short(signing.cert())),
            &signing,
            "relay-server relay-client",
            &ctx.by,
        ),
    }
    let server = m.secret(Role::RelayServer).expect("checked by view");
    let old_cert = certs(server, "tls.crt").into_iter().next();
    let issued = signing.issue(
        request_like(CertProfile::RelayServer, old_cert.as_ref(), ctx),
        v,
        kt,
    )?;
    let made = records::relay_tls(server.id.clone(), &issued, &signing, &ctx.by);
    let rec = with_bundle(&like(server, made, &ctx.by), "ca.crt", both, &ctx.by);
    e.secret(
        &m.name,
        Role::RelayServer,
        rec,
        &format!("a new server certificate from the new signing CA; {why}"),
    );
    if let Some(r) = m.secret(Role::RelayRoot).filter(|r| {
        certs(r, "ca.crt") != both.iter().map(|c| (*c).clone()).collect::<Vec<_>>()
            || r.get("tls.key")
                .is_some_and(|_| certs(r, "tls.crt").first() != Some(new))
    }) {
        let mut rec = with_bundle(r, "ca.crt", both, &ctx.by);
        if r.get("tls.key").is_some() {
            rec.data.insert(
                "tls.crt".into(),
                SecretBytes::new(new.to_pem().into_bytes()),
            );
            rec.data.insert(
                "tls.key".into(),
                SecretBytes::new(root.key.pem().as_bytes().to_vec()),
            );
        }
        e.secret(&m.name, Role::RelayRoot, rec, why);
    }
    Ok(signing)
}

/// An agent's switch: a new client certificate from the new signing CA, both bundles the new
/// root first.
fn switch_agent(
    ctx: &Ctx<'_>,
    m: &Member,
    signing: &Ca,
    old: &Cert,
    new: &Cert,
    e: &mut Edits,
) -> Result<(), IssueError> {
    let both = [new, old];
    let Some(client) = m.secret(Role::RelayClient) else {
        return Err(IssueError::Design(format!(
            "cluster {}: its archive holds no gloo-mesh/relay-client-tls-secret",
            m.name
        )));
    };
    let old_cert = certs(client, "tls.crt").into_iter().next();
    let kt = old_cert.as_ref().and_then(key_type_of).unwrap_or_default();
    let req = request_like(
        CertProfile::RelayClient(m.name.clone()),
        old_cert.as_ref(),
        ctx,
    );
    let issued = signing.issue(req, &ctx.o.validity, kt)?;
    let id = SecretId::new(client.id.namespace.clone(), client.id.name.clone());
    let made = records::relay_tls(id, &issued, signing, &ctx.by);
    let rec = with_bundle(&like(client, made, &ctx.by), "ca.crt", &both, &ctx.by);
    e.secret(
        &m.name,
        Role::RelayClient,
        rec,
        "a new agent certificate from the new signing CA; ca.crt: the new root then the old one",
    );
    if let Some(r) = m.secret(Role::RelayRoot) {
        let rec = with_bundle(r, "ca.crt", &both, &ctx.by);
        e.secret(
            &m.name,
            Role::RelayRoot,
            rec,
            "ca.crt: the new root then the old one",
        );
    }
    Ok(())
}

fn remove(
    ctx: &Ctx<'_>,
    f: &Fleet,
    v: &RelayView<'_>,
    e: &mut Edits,
) -> Result<(Option<Cert>, Option<Cert>), IssueError> {
    let (old, new) = two(&v.roots, "relay", Phase::Remove)?;
    let mut pending: Vec<String> = Vec::new();
    if v.server.as_ref() != Some(&new) {
        pending.push(v.mgmt.name.clone());
    }
    pending.extend(
        (v.agents.iter())
            .filter(|(_, r)| r.as_ref() != Some(&new))
            .map(|(m, _)| m.name.clone()),
    );
    if !pending.is_empty() {
        return Err(refuse(format!("the old relay root {} still issues the certificates of cluster(s) {}: removing it now would cut them off the relay; first trustkeep pki rotate relay-root --phase switch --cluster {}", describe(&old), pending.join(", "), pending.join(" --cluster "))));
    }
    bundles(ctx, f, &[&new], "ca.crt: the new root only", e);
    e.offline_drop_root(&old);
    Ok((Some(old), Some(new)))
}

/// `relay-signing`: the relay's intermediate alone, in one step: a new signing CA (a new key)
/// under the same relay root and the server certificate from it. Every bundle keeps its one
/// root, so agents trust the new server certificate at once, and their own certificates,
/// issued by the old signing CA, still chain to the root until the management server issues
/// them again from the new one.
pub(super) fn signing_alone(
    ctx: &Ctx<'_>,
    f: &Fleet,
    e: &mut Edits,
) -> Result<(Option<Cert>, Option<Cert>), IssueError> {
    let v = view(f)?;
    let [root] = v.roots.as_slice() else {
        return Err(refuse(format!("{} relay roots are trusted: a relay root rotation is in progress; its switch of the management cluster issues a new signing CA anyway: finish it (--phase switch, --phase remove) first", v.roots.len())));
    };
    if !ctx.o.clusters.is_empty() && ctx.o.clusters != [v.mgmt.name.clone()] {
        return Err(IssueError::Design(format!("relay-signing: the signing CA lives with the management cluster: --cluster {} or no --cluster", v.mgmt.name)));
    }
    let ca = super::ca_of(f, |c| c.ca.path.len() == 1 && c.ca.cert() == root)
        .ok_or_else(|| IssueError::NoIssuer(format!("no archive given holds the relay root {} with its key: pass the management cluster's birth archive (or the archive that keeps the root offline) with --from", describe(root))))?;
    let bundle = Bundle {
        roots: &[root],
        why: "ca.crt: the same root",
        signing: "a new signing CA (a new key) under the same root",
    };
    issue_mgmt(ctx, v.mgmt, &ca.ca, &bundle, e)?;
    Ok((Some(root.clone()), None))
}

/// Where the relay server and each agent stand, and the next step.
pub(super) fn standings(f: &Fleet) -> (Vec<Standing>, String) {
    let Ok(v) = view(f) else {
        return (Vec::new(), String::new());
    };
    let new = (v.roots.len() == 2).then(|| &v.roots[1]);
    let stand = |root: &Option<Cert>, what: &str| match (new, root) {
        (None, _) => "one root, no rotation in progress".to_string(),
        (Some(n), Some(r)) if r == n => format!("switched: {what} from the new root; trusts both"),
        _ => format!("not switched: {what} from the old root; trusts both"),
    };
    let mut out = vec![Standing {
        cluster: v.mgmt.name.clone(),
        stands: stand(&v.server, "the server certificate and signing CA"),
    }];
    for (m, r) in &v.agents {
        out.push(Standing {
            cluster: m.name.clone(),
            stands: stand(r, "the agent certificate"),
        });
    }
    let pending: Vec<&str> = (v.agents.iter())
        .filter(|(_, r)| new.is_some() && r.as_ref() != new)
        .map(|(m, _)| m.name.as_str())
        .collect();
    let next = match new {
        None => "the rotation is complete: every relay bundle holds one root; back the clusters up".to_string(),
        Some(n) if v.server.as_ref() != Some(n) => format!("once the agents and the server have restarted and the audit is clean: --phase switch --cluster {} (the relay server and signing CA first)", v.mgmt.name),
        Some(_) if !pending.is_empty() => format!("once the server has restarted and the agents reconnected: --phase switch --cluster {} (one at a time, or all)", pending.join(" --cluster ")),
        Some(_) => "once every agent has reconnected with its new certificate and the audit is clean: --phase remove".to_string(),
    };
    (out, next)
}
