//! Fleet benchmark: `trustkeep audit --all-contexts` (then `backup --all-contexts`) of K clusters, each a sandbox API server
//! behind a proxy that delays every chunk it forwards by LATENCY_MS (default 25) in each
//! direction, as a cluster in another region would. Reports, for K = 1, 20 and 100 (override
//! with FLEET_SIZES=1,20), the audit time, its ratio to K = 1, the API requests per cluster,
//! the round trips of one cluster (the time of K = 1 over the round-trip time, handshakes
//! included) and the audit's peak memory (from /usr/bin/time). Run: `cargo bench --bench fleet`.
//!
//! Everything listens on 127.0.0.1 only; the run is bounded by the fleet sizes.

#[path = "common/mod.rs"]
mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use trustkeep_sandbox::{self as sandbox, Sandbox};

/// Forwards one direction, holding each chunk for `delay` first.
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        tokio::time::sleep(delay).await;
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// A proxy on 127.0.0.1 in front of `upstream`; returns its port.
async fn proxy(upstream: std::net::SocketAddr, delay: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(upstream).await else {
                    return;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pipe(cr, sw, delay));
                pipe(sr, cw, delay).await;
            });
        }
    });
    port
}

struct Run {
    seconds: f64,
    requests_per_cluster: f64,
    peak_kib: u64,
    clusters: usize,
}

/// Runs `verb --all-contexts` (`audit`, or `backup` into a fresh directory) over K clusters.
fn fleet(verb: &str, k: usize, delay: Duration, dir: &Path, rt: &tokio::runtime::Runtime) -> Run {
    let now = chrono::Utc::now() - chrono::Duration::minutes(5);
    let setup = trustkeep::sample::generate(now, k - 1);
    let clusters: Vec<_> = std::iter::once(("mgmt".to_string(), setup.mgmt))
        .chain(setup.workloads)
        .collect();
    let mut sandboxes = Vec::new();
    let mut configs = Vec::new();
    for (name, objects) in clusters {
        let sb = rt
            .block_on(Sandbox::start(sandbox::Options {
                objects,
                ..Default::default()
            }))
            .unwrap();
        let port = rt.block_on(proxy(sb.address(), delay));
        let kc = sb
            .kubeconfig(&name)
            .replace(&sb.url(), &format!("https://127.0.0.1:{port}"));
        let path = dir.join(format!("kc-{verb}-{k}-{name}"));
        std::fs::write(&path, kc).unwrap();
        configs.push(path.display().to_string());
        sandboxes.push(sb);
    }
    let at = chrono::Utc::now().to_rfc3339();
    let out_dir = dir.join(format!("archives-{k}"));
    let recipient = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/identities/test-only-age-recipient.txt"
    ))
    .unwrap();
    let args: Vec<&str> = match verb {
        "audit" => vec!["--at", &at],
        _ => {
            std::fs::create_dir_all(&out_dir).unwrap();
            vec!["-r", recipient.trim(), "-o", out_dir.to_str().unwrap()]
        }
    };
    let start = Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "peak-kib %M"])
        .arg(common::trustkeep_bin())
        .args([verb, "--all-contexts", "--parallel", "100"])
        .args(args)
        .args(["--output", "json"])
        .env("KUBECONFIG", configs.join(":"))
        .output()
        .expect("run /usr/bin/time trustkeep (Debian package time)");
    let seconds = start.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{verb} of {k} clusters failed: {stderr}"
    );
    let peak_kib = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak-kib "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    let requests: usize = sandboxes.iter().map(|s| s.requests().len()).sum();
    for sb in sandboxes {
        rt.block_on(sb.shutdown());
    }
    Run {
        seconds,
        requests_per_cluster: requests as f64 / k as f64,
        peak_kib,
        clusters: k,
    }
}

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let latency_ms: u64 = std::env::var("LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25);
    let sizes: Vec<usize> = std::env::var("FLEET_SIZES")
        .unwrap_or_else(|_| "1,20,100".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .filter(|k| *k >= 1)
        .collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let delay = Duration::from_millis(latency_ms);
    for verb in ["audit", "backup"] {
        let runs: Vec<Run> = sizes
            .iter()
            .map(|k| fleet(verb, *k, delay, dir.path(), &rt))
            .collect();
        table(verb, &runs, latency_ms);
    }
}

fn table(verb: &str, runs: &[Run], latency_ms: u64) {
    let one = runs.iter().find(|r| r.clusters == 1).map(|r| r.seconds);
    let rtt = 2.0 * latency_ms as f64 / 1000.0;
    println!("fleet {verb}, {latency_ms} ms one-way latency per cluster");
    println!("| clusters | {verb} time | vs 1 cluster | API requests per cluster | peak RSS |");
    println!("|---|---|---|---|---|");
    for r in runs {
        let ratio = one
            .map(|o| format!("{:.2}x", r.seconds / o))
            .unwrap_or("-".into());
        println!(
            "| {} | {:.2} s | {ratio} | {:.1} | {:.1} MiB |",
            r.clusters,
            r.seconds,
            r.requests_per_cluster,
            r.peak_kib as f64 / 1024.0
        );
    }
    if let Some(o) = one {
        println!(
            "one cluster: {:.1} round trips of {:.0} ms (TCP and TLS handshakes included, process start included)\n",
            o / rtt,
            rtt * 1000.0
        );
    }
}
