//! The commands an unattended job runs and monitors (`backup`, `verify`, `audit`): resolve,
//! run, render, then hand the result to [`crate::metrics`], which also describes a run that
//! failed. A command's own error wins over a metrics error; a metrics error after a good run
//! is the run's error (exit 2), because a job that cannot report is running blind.

use super::args::{AuditArgs, BackupArgs, VerifyArgs};
use super::resolve::{self, format};
use crate::commands::{audit, backup, verify};
use crate::error::Result;
use crate::metrics::{self, BackupRun, Metrics, MetricsOptions};
use crate::world::World;
use crate::Outcome;
use std::io::Write;

/// Publishes the metrics `m` makes of a run that ended with `result` (made only when they
/// go somewhere); logs a metrics error when the run failed anyway.
async fn finish<T>(
    opts: &MetricsOptions,
    m: impl FnOnce(&Result<T>) -> Metrics,
    result: Result<T>,
) -> Result<T> {
    if opts.is_empty() {
        return result;
    }
    let m = m(&result);
    finish_with(result, metrics::publish(opts, m).await)
}

/// The run's own error wins; a metrics error after a good run is the run's error.
fn finish_with<T>(result: Result<T>, published: Result<()>) -> Result<T> {
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
    let fleet = opts.sources.len() > 1;
    let attempts = backup::run(&opts, world).await;
    let published = if m_opts.is_empty() {
        Ok(())
    } else {
        let runs = attempts
            .iter()
            .map(|at| {
                metrics::backup(&BackupRun {
                    cluster: &at.cluster,
                    backup: at.result.as_ref().ok(),
                    now: world.now,
                    duration: at.duration,
                })
            })
            .collect();
        metrics::publish_all(&m_opts, runs).await
    };
    for b in attempts.iter().filter_map(|at| at.result.as_ref().ok()) {
        for p in &b.pruned {
            super::notice(false, &format!("pruned {p}"));
        }
    }
    if !fleet {
        // One cluster: its error is the command's, as before there were fleets.
        let Some(at) = attempts.into_iter().next() else {
            return Ok(Ok(Outcome::Success));
        };
        let b = finish_with(at.result, published)?;
        return Ok(backup::render(out, &b, format(a.format)).map(|_| Outcome::from_ok(b.ok)));
    }
    published?;
    let rendered = backup::render_fleet(out, &attempts, format(a.format));
    let mut failed = 0;
    for at in &attempts {
        if let Err(e) = &at.result {
            failed += 1;
            // Errors name their cluster (or the archive, named after it).
            super::notice(true, &e.to_string());
        }
    }
    let outcome = if failed > 0 {
        Outcome::Incomplete
    } else {
        Outcome::from_ok(backup::all_ok(&attempts))
    };
    Ok(rendered.map(|_| outcome))
}

pub(super) async fn audit(
    a: &AuditArgs,
    world: &World,
    out: &mut dyn Write,
) -> Result<std::io::Result<Outcome>> {
    let m_opts = resolve::metrics(&a.metrics)?;
    let result = audit::run(&resolve::audit(a, world.now)?, world).await;
    let m = |result: &Result<_>| match result {
        Ok(r) => metrics::audit(r, world.now),
        Err(_) => metrics::audit_failed(world.now),
    };
    let r = finish(&m_opts, m, result).await?;
    let rendered = audit::render(out, &r, format(a.check.format));
    for u in &r.unreadable {
        super::notice(true, &u.error);
    }
    Ok(rendered.map(|_| r.outcome()))
}

pub(super) async fn verify(
    a: &VerifyArgs,
    world: &World,
    out: &mut dyn Write,
) -> Result<std::io::Result<Outcome>> {
    let m_opts = resolve::metrics(&a.metrics)?;
    let result = verify::run(&resolve::verify(a, world.now)?, world).await;
    let m = |result: &Result<_>| match result {
        Ok(r) => metrics::verify(r, world.now),
        Err(_) => metrics::verify_failed(world.now),
    };
    let r = finish(&m_opts, m, result).await?;
    let rendered = verify::render(out, &r, format(a.check.format));
    if r.unreadable > 0 {
        let n = r.unreadable;
        super::notice(true, &format!("{n} archive(s) could not be read"));
    }
    Ok(rendered.map(|_| r.outcome()))
}
