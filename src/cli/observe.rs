//! The commands an unattended job runs and monitors (`backup`, `verify`, `audit`): resolve,
//! run, render, then hand the result to [`crate::metrics`], which also describes a run that
//! failed. A command's own error wins over a metrics error; a metrics error after a good run
//! is the run's error (exit 2), because a job that cannot report is running blind.

use std::io::Write;
use std::time::Instant;

use super::args::{AuditArgs, BackupArgs, VerifyArgs};
use super::resolve::{self, format};
use crate::commands::{audit, backup, verify};
use crate::error::Result;
use crate::metrics::{self, BackupRun, Metrics, MetricsOptions};
use crate::world::World;
use crate::Outcome;

/// Publishes the metrics of a run that ended with `result`; logs a metrics error when the
/// run failed anyway.
async fn finish<T>(opts: &MetricsOptions, m: Metrics, result: Result<T>) -> Result<T> {
    if opts.is_empty() {
        return result;
    }
    let published = metrics::publish(opts, m).await;
    match (result, published) {
        (Ok(v), Ok(())) => Ok(v),
        (Ok(_), Err(e)) => Err(e),
        (Err(e), Ok(())) => Err(e),
        (Err(e), Err(m)) => {
            tracing::error!(error = %m, "metrics not delivered");
            Err(e)
        }
    }
}

pub(super) async fn backup(
    a: &BackupArgs,
    world: &World,
    out: &mut dyn Write,
) -> Result<std::io::Result<Outcome>> {
    let m_opts = resolve::metrics(&a.metrics)?;
    let opts = resolve::backup(a)?;
    let started = Instant::now();
    let result = backup::run(&opts, world).await;
    let cluster = opts
        .cluster
        .clone()
        .or_else(|| opts.source.default_name())
        .unwrap_or_else(|| "unknown".into());
    let m = metrics::backup(&BackupRun {
        cluster: &cluster,
        backup: result.as_ref().ok(),
        now: world.now,
        duration: started.elapsed(),
    });
    let b = finish(&m_opts, m, result).await?;
    for p in &b.pruned {
        super::notice(false, &format!("pruned {p}"));
    }
    Ok(backup::render(out, &b, format(a.format)).map(|_| Outcome::from_ok(b.ok)))
}

pub(super) async fn audit(
    a: &AuditArgs,
    world: &World,
    out: &mut dyn Write,
) -> Result<std::io::Result<Outcome>> {
    let m_opts = resolve::metrics(&a.metrics)?;
    let result = audit::run(&resolve::audit(a, world.now)?, world).await;
    let m = match &result {
        Ok(r) => metrics::audit(r, world.now),
        Err(_) => metrics::audit_failed(world.now),
    };
    let r = finish(&m_opts, m, result).await?;
    let rendered = audit::render(out, &r, format(a.check.format));
    for u in &r.unreadable {
        super::notice(true, &u.error);
    }
    Ok(rendered.map(|_| audit::outcome(&r)))
}

pub(super) async fn verify(
    a: &VerifyArgs,
    world: &World,
    out: &mut dyn Write,
) -> Result<std::io::Result<Outcome>> {
    let m_opts = resolve::metrics(&a.metrics)?;
    let result = verify::run(&resolve::verify(a, world.now)?, world).await;
    let m = match &result {
        Ok(r) => metrics::verify(r, world.now),
        Err(_) => metrics::verify_failed(world.now),
    };
    let r = finish(&m_opts, m, result).await?;
    let rendered = verify::render(out, &r, format(a.check.format));
    if r.unreadable > 0 {
        let n = r.unreadable;
        super::notice(true, &format!("{n} archive(s) could not be read"));
    }
    Ok(rendered.map(|_| verify::outcome(&r)))
}
