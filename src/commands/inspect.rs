//! `trustkeep inspect`: what an archive holds (secrets, keys, certificate subjects and
//! expiry) and who signed it, after checking its origin (with a trust policy) and its
//! integrity. Writes nothing to disk and prints no secret value.

use std::io::Write;

use serde::Serialize;

use super::ArchiveInput;
use crate::archive::{
    manifest::{Manifest, ManifestReport},
    Opened,
};
use crate::error::Result;
use crate::present;
use crate::render::{self, escape, OutputFormat, Table};
use crate::trust_policy::Provenance;
use crate::world::World;

/// Opens the archive, checking its origin, its sidecar and every entry.
pub async fn run(archive: &ArchiveInput, world: &World) -> Result<(Opened, Provenance)> {
    archive.open(world).await
}

#[derive(Serialize)]
struct JsonView<'a> {
    archive: &'a str,
    integrity: &'static str,
    origin: &'a Provenance,
    manifest: ManifestReport,
}

/// Prints an opened archive.
pub fn render(
    out: &mut dyn Write,
    name: &str,
    (opened, origin): &(Opened, Provenance),
    format: OutputFormat,
) -> std::io::Result<()> {
    let m = &opened.manifest;
    if format == OutputFormat::Json {
        return render::json(
            out,
            &JsonView {
                archive: name,
                integrity: "ok",
                origin,
                manifest: m.report(),
            },
        );
    }
    // Names and fields come from the archive (a source path or a cluster name may hold any
    // character): each is escaped before it reaches the terminal.
    let esc = |s: &str| escape(s).into_owned();
    writeln!(out, "archive:  {} (integrity ok)", esc(name))?;
    writeln!(
        out,
        "format:   {} v{}, written by {} {}",
        esc(&m.format),
        m.version,
        esc(&m.tool.name),
        esc(&m.tool.version)
    )?;
    writeln!(
        out,
        "created:  {}",
        m.created.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    )?;
    writeln!(out, "source:   {}", esc(&m.source.to_string()))?;
    writeln!(
        out,
        "origin:   {}: {}",
        origin.status.as_str(),
        esc(&origin.detail)
    )?;
    writeln!(
        out,
        "cluster:  {} ({:?})",
        esc(&m.cluster.name),
        m.cluster.kind
    )?;
    writeln!(out)?;
    present::write_contents(out, m)?;
    write_certificates(out, m)?;
    write_policies(out, m)?;
    present::write_findings(out, &m.findings)
}

/// Every certificate of the archive: subject, issuer, expiry, CA, key type.
fn write_certificates(out: &mut dyn Write, m: &Manifest) -> std::io::Result<()> {
    let mut t = Table::new([
        "SECRET",
        "KEY",
        "SUBJECT",
        "ISSUER",
        "NOT AFTER",
        "CA",
        "KEY TYPE",
    ]);
    for s in &m.secrets {
        for d in &s.data {
            for c in &d.certificates {
                t.row([
                    format!("{}/{}", s.namespace, s.name),
                    d.key.clone(),
                    c.subject.clone(),
                    c.issuer.clone(),
                    c.not_after.format("%Y-%m-%d %H:%M").to_string(),
                    if c.is_ca { "yes".into() } else { "no".into() },
                    c.key.clone(),
                ]);
            }
            if let Some(e) = &d.pem_error {
                t.row([
                    format!("{}/{}", s.namespace, s.name),
                    d.key.clone(),
                    format!("(unparsable: {e})"),
                    String::new(),
                    String::new(),
                    String::new(),
                    String::new(),
                ]);
            }
        }
    }
    if !t.is_empty() {
        writeln!(out)?;
        t.write(out)?;
    }
    Ok(())
}

/// The archived RootTrustPolicies, when there are any.
fn write_policies(out: &mut dyn Write, m: &Manifest) -> std::io::Result<()> {
    if !m.policies.is_empty() {
        // Archived whole; `restore --include-policies` puts them back.
        let mut t = Table::new(["ROOTTRUSTPOLICY", "BYTES", "RESTORED"]);
        for p in &m.policies {
            let restored = "only with restore --include-policies".to_string();
            t.row([
                format!("{}/{}", p.namespace, p.name),
                p.file.size.to_string(),
                restored,
            ]);
        }
        writeln!(out)?;
        t.write(out)?;
    }
    Ok(())
}
