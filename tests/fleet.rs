//! Fleets and the auditor's report: `audit` of many live clusters at once (some down, some
//! forbidding), and `--report` as HTML (opened in headless Chromium) and Markdown (its Mermaid
//! block parsed by the mermaid package in Chromium).

use std::path::{Path, PathBuf};

use chrono::Utc;
use serde_json::Value;
use trustkeep_sandbox::{self as sandbox, Sandbox};

use crate::util::{self, fixture, tk, tk_env, Work};

/// A generated management cluster and `workloads` workload clusters, each served by its own
/// sandbox, with one kubeconfig per cluster (context = the cluster's name).
struct Fleet {
    rt: tokio::runtime::Runtime,
    sandboxes: Vec<Option<Sandbox>>,
    kubeconfigs: Vec<PathBuf>,
    names: Vec<String>,
    at: String,
}

impl Fleet {
    /// `forbidden[i]`: cluster i answers 403 to every read of secrets.
    fn start(w: &Work, workloads: usize, forbidden: &[usize]) -> Fleet {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let now = Utc::now() - chrono::Duration::minutes(5);
        let setup = trustkeep::sample::generate(now, workloads);
        let clusters = std::iter::once(("mgmt".to_string(), setup.mgmt)).chain(setup.workloads);
        let (mut sandboxes, mut kubeconfigs, mut names) = (Vec::new(), Vec::new(), Vec::new());
        for (i, (name, objects)) in clusters.enumerate() {
            let forbid = if forbidden.contains(&i) {
                vec![
                    "list:secrets".parse().unwrap(),
                    "get:secrets".parse().unwrap(),
                ]
            } else {
                Vec::new()
            };
            let sb = rt
                .block_on(Sandbox::start(sandbox::Options {
                    objects,
                    forbid,
                    ..Default::default()
                }))
                .unwrap();
            let kc = w.path(&format!("kc-{name}"));
            std::fs::write(&kc, sb.kubeconfig(&name)).unwrap();
            sandboxes.push(Some(sb));
            kubeconfigs.push(kc);
            names.push(name);
        }
        Fleet {
            rt,
            sandboxes,
            kubeconfigs,
            names,
            at: Utc::now().to_rfc3339(),
        }
    }

    /// Takes cluster i off the network.
    fn stop(&mut self, i: usize) {
        if let Some(sb) = self.sandboxes[i].take() {
            self.rt.block_on(sb.shutdown());
        }
    }

    /// `KUBECONFIG` naming every cluster's kubeconfig.
    fn kubeconfig_env(&self) -> String {
        let paths: Vec<&str> = self
            .kubeconfigs
            .iter()
            .map(|p| p.to_str().unwrap())
            .collect();
        paths.join(":")
    }

    fn audit(&self, extra: &[&str]) -> util::Run {
        let mut args = vec!["audit", "--all-contexts", "--at", &self.at];
        args.extend_from_slice(extra);
        tk_env(&args, &[("KUBECONFIG", &self.kubeconfig_env())])
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for i in 0..self.sandboxes.len() {
            self.stop(i);
        }
    }
}

#[test]
fn a_fleet_is_audited_even_when_some_clusters_are_down_or_forbid() {
    let w = Work::new();
    let mut fleet = Fleet::start(&w, 6, &[4]);
    fleet.stop(2);
    let r = fleet.audit(&["--output", "json", "--parallel", "3"]);
    assert_eq!(
        r.code, 2,
        "unreadable clusters make the audit incomplete: {}",
        r.stderr
    );
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let unreadable: Vec<&str> = v["unreadable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["cluster"].as_str().unwrap())
        .collect();
    assert_eq!(unreadable, ["cluster-2", "cluster-4"], "{}", r.stdout);
    let errors: Vec<String> = v["unreadable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["error"].as_str().unwrap().to_string())
        .collect();
    assert!(
        errors[0].contains("cannot reach the API server"),
        "{errors:?}"
    );
    assert!(errors[1].contains("forbidden (403)"), "{errors:?}");
    // The other five were read and checked together: every secret passes.
    let audited: std::collections::BTreeSet<&str> = v["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["cluster"].as_str().unwrap())
        .collect();
    assert_eq!(
        audited.into_iter().collect::<Vec<_>>(),
        ["cluster-1", "cluster-3", "cluster-5", "cluster-6", "mgmt"]
    );
    assert_eq!(v["errors"], 0, "{}", r.stdout);
    for name in ["cluster-2", "cluster-4"] {
        assert!(
            r.stderr.contains(&format!("cluster {name}")),
            "stderr names {name}: {}",
            r.stderr
        );
    }
    let table = fleet.audit(&[]);
    assert!(
        table.stdout.contains("unreadable: cluster cluster-2:"),
        "{}",
        table.stdout
    );
    assert_eq!(fleet.names.len(), 7);
}

#[test]
fn contexts_come_from_flags_files_and_the_kubeconfig_once_each() {
    let w = Work::new();
    let fleet = Fleet::start(&w, 2, &[]);
    let list = w.path("contexts.txt");
    std::fs::write(
        &list,
        "# the fleet\nmgmt\n\ncluster-1   # first\ncluster-2\n",
    )
    .unwrap();
    let r = tk_env(
        &[
            "audit",
            "--context",
            "mgmt",
            "--contexts-file",
            list.to_str().unwrap(),
            "--at",
            &fleet.at,
            "--output",
            "json",
        ],
        &[("KUBECONFIG", &fleet.kubeconfig_env())],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let clusters: Vec<&str> = v["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["cluster"].as_str().unwrap())
        .collect();
    assert_eq!(
        clusters.iter().filter(|c| **c == "mgmt").count(),
        5,
        "mgmt once"
    );
    assert!(clusters.contains(&"cluster-2"));
    let empty = w.path("empty-kubeconfig");
    std::fs::write(&empty, "apiVersion: v1\nkind: Config\n").unwrap();
    let r = tk(&[
        "audit",
        "--all-contexts",
        "--kubeconfig",
        empty.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("the kubeconfig has no contexts"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_fleet_is_backed_up_one_archive_per_cluster_and_a_broken_one_is_named() {
    let w = Work::new();
    let mut fleet = Fleet::start(&w, 3, &[3]);
    fleet.stop(2);
    let out = w.path("archives");
    std::fs::create_dir(&out).unwrap();
    let prom = w.path("backup.prom");
    let recipient = util::recipient();
    let kubeconfig = fleet.kubeconfig_env();
    let backup = |extra: &[&str]| {
        let mut args = vec![
            "backup",
            "--all-contexts",
            "-r",
            &recipient,
            "-o",
            out.to_str().unwrap(),
            "--metrics-file",
            prom.to_str().unwrap(),
            "--parallel",
            "2",
        ];
        args.extend_from_slice(extra);
        tk_env(&args, &[("KUBECONFIG", &kubeconfig)])
    };
    let r = backup(&["--output", "json"]);
    assert_eq!(r.code, 2, "two clusters have no archive: {r:?}");
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["ok"], false);
    let failed: Vec<&str> = v["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["cluster"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["cluster-2", "cluster-3"], "{}", r.stdout);
    assert!(r.stderr.contains("cluster cluster-2"), "{}", r.stderr);
    assert!(r.stderr.contains("forbidden (403)"), "{}", r.stderr);
    let written: Vec<(&str, &str)> = v["backups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["manifest"]["cluster"]["name"].as_str().unwrap(),
                b["archive"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        written.iter().map(|(c, _)| *c).collect::<Vec<_>>(),
        ["mgmt", "cluster-1"],
        "in the kubeconfig's order"
    );
    // Each archive is its own cluster's and verifies on its own.
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".age"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files[0].starts_with("cluster-1-") && files[1].starts_with("mgmt-"));
    for (_, archive) in &written {
        let r = w.with_id("verify", Path::new(archive), &["--at", &fleet.at]);
        assert_eq!(r.code, 0, "{archive}: {r:?}");
    }
    let metrics = std::fs::read_to_string(&prom).unwrap();
    for (cluster, status) in [
        ("mgmt", 1),
        ("cluster-1", 1),
        ("cluster-2", 0),
        ("cluster-3", 0),
    ] {
        let line = format!("trustkeep_backup_last_status{{cluster=\"{cluster}\"}} {status}\n");
        assert!(metrics.contains(&line), "{line} in {metrics}");
    }
    let success = |m: &str, c: &str| {
        m.lines()
            .find(|l| {
                l.starts_with(&format!(
                    "trustkeep_backup_last_success_timestamp_seconds{{cluster=\"{c}\"}}"
                ))
            })
            .map(str::to_string)
    };
    assert!(success(&metrics, "cluster-2").is_none());
    let mgmt_success = success(&metrics, "mgmt").expect("mgmt succeeded");
    // The next night mgmt is down: its last success is kept, cluster-1's is new.
    fleet.stop(0);
    // A later second, so that a success written again could not pass for the kept one.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let r = backup(&[]);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stdout.contains("cluster-1  complete"), "{}", r.stdout);
    assert!(r.stdout.contains("mgmt       failed"), "{}", r.stdout);
    let metrics = std::fs::read_to_string(&prom).unwrap();
    assert_eq!(
        success(&metrics, "mgmt").as_deref(),
        Some(mgmt_success.as_str())
    );
    assert!(metrics.contains("trustkeep_backup_last_status{cluster=\"mgmt\"} 0"));
    let out_files = std::fs::read_dir(&out).unwrap().count();
    assert_eq!(
        out_files, 6,
        "a second archive and sidecar of cluster-1 only"
    );
}

#[test]
fn a_fleet_backup_needs_a_directory_and_no_single_cluster_name() {
    let w = Work::new();
    let recipient = util::recipient();
    let kc = w.path("kc");
    std::fs::write(&kc, "apiVersion: v1\nkind: Config\n").unwrap();
    let kc = kc.to_str().unwrap();
    let one = w.path("one.tar.gz.age");
    let r = tk(&[
        "backup",
        "--kubeconfig",
        kc,
        "--context",
        "a",
        "--context",
        "b",
        "-r",
        &recipient,
        "-o",
        one.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2);
    assert!(
        r.stderr.contains("-o must be a directory or prefix"),
        "{}",
        r.stderr
    );
    let r = tk(&[
        "backup",
        "--kubeconfig",
        kc,
        "--context",
        "a",
        "--context",
        "b",
        "--cluster",
        "x",
        "-r",
        &recipient,
        "-o",
        w.path("").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--context NAME=CONTEXT"), "{}", r.stderr);
    assert!(!one.exists());
}

/// The defect where a workload's Istio intermediate comes from a foreign root of the same
/// name: the report must show both roots, the failing link and the failing node.
fn defect_report(w: &Work, name: &str) -> (util::Run, PathBuf) {
    let out = w.path(name);
    let r = tk(&[
        "audit",
        "--from",
        &format!(
            "mgmt={}",
            fixture("defects/foreign-intermediate/mgmt.yaml").display()
        ),
        "--from",
        fixture("defects/foreign-intermediate/cluster-1.yaml")
            .to_str()
            .unwrap(),
        "--at",
        util::AT,
        "--report",
        out.to_str().unwrap(),
    ]);
    (r, out)
}

/// Every data value of the fixture files, as stored (base64) and decoded.
fn secret_values(files: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(fixture(f)).unwrap();
        let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
        let items = docs.iter().flat_map(|d| {
            d["items"]
                .as_array()
                .cloned()
                .unwrap_or_else(|| vec![d.clone()])
        });
        for item in items {
            for (k, v) in item["data"].as_object().into_iter().flatten() {
                let b64 = v.as_str().unwrap().to_string();
                let raw = base64_decode(&b64);
                if k.contains("key") || k == "token" {
                    // A PEM key's body lines, and the token itself.
                    for line in raw
                        .lines()
                        .filter(|l| l.len() > 20 && !l.starts_with("-----"))
                    {
                        out.push(line.to_string());
                    }
                    if k == "token" {
                        out.push(raw.trim().to_string());
                    }
                }
                out.push(b64);
            }
            out.retain(|v| v.len() >= 8);
        }
    }
    out
}

/// No data value of the foreign-intermediate defect's secrets appears in `report`.
fn assert_no_secret_of_the_defect(report: &str) {
    let files = [
        "defects/foreign-intermediate/mgmt.yaml",
        "defects/foreign-intermediate/cluster-1.yaml",
    ];
    for value in secret_values(&files) {
        assert!(
            !report.contains(&value),
            "a secret value leaked into the report: {value:?}"
        );
    }
}

fn base64_decode(s: &str) -> String {
    use base64::Engine;
    String::from_utf8_lossy(&base64::engine::general_purpose::STANDARD.decode(s).unwrap())
        .into_owned()
}

/// The `<svg>…</svg>` of a page.
fn svg_of(html: &str) -> &str {
    let start = html.find("<svg").expect("an inline svg");
    let end = html.rfind("</svg>").expect("svg closes") + "</svg>".len();
    &html[start..end]
}

#[test]
fn the_html_report_is_self_contained_and_shows_the_trust_topology() {
    let w = Work::new();
    let (r, path) = defect_report(&w, "report.html");
    assert_eq!(r.code, 1, "{r:?}");
    let html = std::fs::read_to_string(&path).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    // Links inside the page (the SVG's own `#arrow0` paths) are fine; nothing may point out.
    let outward = html.replace("href=\"#", "");
    for forbidden in [
        "<script", "src=", "href=", "<link", "@import", "url(http", "url(//",
    ] {
        let html = &outward;
        let at = html
            .find(forbidden)
            .map(|i| &html[i.saturating_sub(80)..(i + 80).min(html.len())]);
        assert!(
            at.is_none(),
            "a self-contained page has no {forbidden}: {at:?}"
        );
    }
    // The SVG is well-formed XML with one node per distinct certificate.
    let svg = svg_of(&html);
    let doc = roxmltree::Document::parse(svg).expect("well-formed svg");
    let certs: Vec<roxmltree::Node> = doc
        .descendants()
        .filter(|n| n.attribute("class").is_some_and(|c| c.starts_with("cert ")))
        .collect();
    assert_eq!(
        certs.len(),
        7,
        "7 distinct certificates, the shared relay root once"
    );
    let texts: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("tspan"))
        .filter_map(|n| n.text().map(|t| t.trim().to_string()))
        .collect();
    assert_eq!(
        texts
            .iter()
            .filter(|t| t.as_str() == "relay-root-ca")
            .count(),
        1,
        "the relay root shared by both clusters is drawn once: {texts:?}"
    );
    let failing = certs
        .iter()
        .filter(|n| n.attribute("class").unwrap().contains("failing"))
        .count();
    assert_eq!(failing, 1, "the foreign intermediate is marked");
    assert!(svg.contains("signature fails"), "the failing link is drawn");
    for section in [
        "id=\"summary\"",
        "id=\"timeline\"",
        "id=\"findings\"",
        "id=\"inventory\"",
    ] {
        assert!(html.contains(section), "{section}");
    }
    assert!(html.contains("trust.istio-root"), "the finding and its id");
    assert!(html.contains("id=\"verdict\">FAIL<"));
    assert_no_secret_of_the_defect(&html);
}

#[test]
fn the_markdown_report_has_a_mermaid_graph_and_no_secret() {
    let w = Work::new();
    let (r, path) = defect_report(&w, "report.md");
    assert_eq!(r.code, 1, "{r:?}");
    let md = std::fs::read_to_string(&path).unwrap();
    let block = mermaid_block(&md);
    assert!(block.starts_with("flowchart TD\n"));
    assert_eq!(
        block.matches("([\"").count(),
        3,
        "three roots, drawn as stadiums"
    );
    assert!(block.contains("-. signature fails .->"));
    assert!(block.contains("class c5 failing") || block.contains(" failing\n"));
    assert!(md.contains("| error | `trust.istio-root` |"), "{md}");
    assert_no_secret_of_the_defect(&md);
    let r = tk(&[
        "audit",
        "--from",
        fixture("sample/mgmt.yaml").to_str().unwrap(),
        "--report",
        w.path("r.pdf").to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("name it FILE.html"), "{}", r.stderr);
}

fn mermaid_block(md: &str) -> &str {
    let start = md.find("```mermaid\n").expect("a mermaid block") + "```mermaid\n".len();
    let end = start + md[start..].find("```").expect("the block closes");
    &md[start..end]
}

/// Headless Chromium as Debian ships it, with the flags this machine needs.
fn chromium(args: &[&str]) -> util::Run {
    let profile = tempfile::tempdir().unwrap();
    let dir = format!("--user-data-dir={}", profile.path().display());
    let mut all = vec![
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        &dir,
    ];
    all.extend_from_slice(args);
    util::ext("chromium", &all)
}

fn file_url(p: &Path) -> String {
    format!("file://{}", p.display())
}

#[test]
#[ignore = "needs chromium"]
fn the_html_report_renders_in_chromium() {
    let w = Work::new();
    let (_, path) = defect_report(&w, "report.html");
    let dom = chromium(&["--dump-dom", &file_url(&path)]);
    assert!(dom.stdout.contains("id=\"trust-graph\""), "{dom:?}");
    assert_eq!(
        dom.stdout.matches("class=\"cert ").count(),
        7,
        "{}",
        dom.stdout
    );
    assert!(dom.stdout.contains("relay-root-ca"));
    assert!(dom.stdout.contains("trust.istio-root"));
    let shot = w.path("report.png");
    let r = chromium(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1400,1800",
        "--hide-scrollbars",
        &file_url(&path),
    ]);
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot ({e}): {r:?}"));
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 20_000,
        "{} bytes",
        png.len()
    );
    if let Ok(keep) = std::env::var("TRUSTKEEP_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}

#[test]
#[ignore = "needs chromium and the mermaid npm package (MERMAID_JS=path/to/mermaid.min.js)"]
fn the_mermaid_block_parses_with_mermaid() {
    // Where .ci/run installs it, unless MERMAID_JS says otherwise.
    let js = std::env::var("MERMAID_JS").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_default();
        format!("{home}/.cache/trustkeep-npm/node_modules/mermaid/dist/mermaid.min.js")
    });
    assert!(
        Path::new(&js).is_file(),
        "{js} is not a file: install the mermaid package (bash .ci/run does) or set MERMAID_JS"
    );
    let w = Work::new();
    let (_, path) = defect_report(&w, "report.md");
    let md = std::fs::read_to_string(&path).unwrap();
    let block = mermaid_block(&md);
    // The page asks mermaid itself to parse and then render the diagram, and writes the
    // verdict into the DOM that --dump-dom prints.
    let page = w.path("parse.html");
    let quoted = serde_json::to_string(block).unwrap();
    std::fs::write(
        &page,
        format!(
            "<!DOCTYPE html><html><body><pre id=\"out\">pending</pre>\
             <script src=\"{}\"></script><script>\
             mermaid.initialize({{startOnLoad:false}});\
             mermaid.parse({quoted}).then(() => mermaid.render('g', {quoted}))\
             .then(r => {{ document.getElementById('out').textContent = 'RENDERED ' + new Set(r.svg.match(/flowchart-c[0-9]+-/g) || []).size; }})\
             .catch(e => {{ document.getElementById('out').textContent = 'ERROR ' + e; }});\
             </script></body></html>",
            file_url(Path::new(&js))
        ),
    )
    .unwrap();
    let dom = chromium(&[
        "--virtual-time-budget=10000",
        "--dump-dom",
        &file_url(&page),
    ]);
    assert!(
        dom.stdout.contains("RENDERED 7"),
        "mermaid parses and renders the 7 certificates: {}",
        dom.stdout
    );
}

/// A RootTrustPolicy naming a root in a namespace of its own: read in a second round (as a
/// LIST, or as a GET of the one name when listing is forbidden), and archived.
#[test]
fn a_policy_root_elsewhere_costs_one_more_round_and_is_archived() {
    use serde_json::json;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let w = Work::new();
    let setup = trustkeep::sample::generate(Utc::now() - chrono::Duration::minutes(5), 0);
    let mut objects = setup.mgmt.clone();
    let generated = objects
        .iter()
        .find(|o| o["metadata"]["name"] == "root-trust-policy.gloo-mesh")
        .unwrap()
        .clone();
    objects.push(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "pki"}}));
    let mut byo = generated;
    byo["metadata"] = json!({"name": "my-root", "namespace": "pki"});
    objects.push(byo);
    objects.push(json!({"apiVersion": "admin.gloo.solo.io/v2", "kind": "RootTrustPolicy",
        "metadata": {"name": "byo", "namespace": "gloo-mesh"},
        "spec": {"config": {"mgmtServerCa": {"secretRef": {"name": "my-root", "namespace": "pki"}}}}}));
    for forbid in [vec![], vec!["list:secrets".parse().unwrap()]] {
        let listing = forbid.is_empty();
        let sb = rt
            .block_on(Sandbox::start(sandbox::Options {
                objects: objects.clone(),
                forbid,
                ..Default::default()
            }))
            .unwrap();
        let kc = w.path("kc");
        std::fs::write(&kc, sb.kubeconfig("mgmt")).unwrap();
        let out = w.path(if listing { "listed.age" } else { "got.age" });
        let r = tk(&[
            "backup",
            "-v",
            "--kubeconfig",
            kc.to_str().unwrap(),
            "--context",
            "mgmt",
            "-r",
            &util::recipient(),
            "-o",
            out.to_str().unwrap(),
        ]);
        assert!(r.code == 0 || !listing, "{}", r.stderr);
        assert!(r.stderr.contains("round_trips=2"), "{}", r.stderr);
        let names: Vec<String> = w.manifest(&out)["secrets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                format!(
                    "{}/{}",
                    s["namespace"].as_str().unwrap(),
                    s["name"].as_str().unwrap()
                )
            })
            .collect();
        assert!(names.contains(&"pki/my-root".to_string()), "{names:?}");
        let pki: Vec<String> = sb
            .requests()
            .iter()
            .filter(|q| q.path.contains("/namespaces/pki/"))
            .map(|q| format!("{} {}", q.verb, q.path))
            .collect();
        let expected = if listing {
            "list /api/v1/namespaces/pki/secrets"
        } else {
            "get /api/v1/namespaces/pki/secrets/my-root"
        };
        assert!(pki.iter().any(|p| p == expected), "{pki:?}");
        rt.block_on(sb.shutdown());
    }
}

#[test]
fn verify_writes_the_report_of_every_archive_and_names_the_unreadable() {
    let w = Work::new();
    let good = w.backup_sample("mgmt.age");
    let bad = w.path("broken.age");
    std::fs::write(&bad, b"not an archive").unwrap();
    let report = w.path("verify.md");
    let id = w.id();
    let r = tk(&[
        "verify",
        good.to_str().unwrap(),
        bad.to_str().unwrap(),
        "-i",
        id.to_str().unwrap(),
        "--at",
        util::AT,
        "--report",
        report.to_str().unwrap(),
    ]);
    assert_eq!(r.code, 2, "an unreadable archive: {}", r.stderr);
    let md = std::fs::read_to_string(&report).unwrap();
    assert!(md.starts_with("# trustkeep verify: FAIL"), "{md}");
    assert!(
        md.contains("| **unreadable** | ") && md.contains("broken.age"),
        "{md}"
    );
    // The good archive's certificates are there, labelled with the archive they came from.
    assert!(
        md.contains("mgmt@mgmt.age:gloo-mesh/relay-server-tls-secret[tls.crt]"),
        "{md}"
    );
    assert!(mermaid_block(&md).contains("relay-root-ca"));
}
