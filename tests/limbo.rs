//! x509-limbo (../shared/x509-limbo/limbo.json, 208 cases) through the validator trustkeep
//! uses, beside Go's verdict (tests/go-oracle `limbo`) and limbo's own expectation. Both
//! validators answer the same question: does the peer certificate chain to a trusted
//! certificate through the untrusted intermediates at the case's time, for its extended key
//! usages (Go's default, serverAuth, when it names none)? Host names are not asked: trustkeep
//! validates paths, not peer names.
//!
//! Rules: where trustkeep and Go differ, the case is in the departure table of docs/checks.md
//! ("x509-limbo", each row a documented, deliberate departure) and trustkeep agrees with limbo;
//! trustkeep never agrees with neither.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;
use trustkeep::pki::{self, Usage};

use crate::util;

fn limbo_path() -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/x509-limbo/limbo.json");
    assert!(
        p.exists(),
        "{} is missing: CI keeps shared/ beside the checkout",
        p.display()
    );
    p
}

/// trustkeep's verdict on one case: `Ok(())` or why not.
fn trustkeep(tc: &Value) -> Result<(), String> {
    let certs = |v: &Value| -> Result<Vec<pki::Cert>, String> {
        let mut out = Vec::new();
        for p in v.as_array().into_iter().flatten() {
            let c = pki::parse_certs(p.as_str().unwrap_or("").as_bytes())
                .map_err(|e| format!("parse: {e}"))?;
            out.extend(c);
        }
        Ok(out)
    };
    let roots = certs(&tc["trusted_certs"])?;
    let inter = certs(&tc["untrusted_intermediates"])?;
    let leaf = pki::parse_certs(tc["peer_certificate"].as_str().unwrap_or("").as_bytes())
        .map_err(|e| format!("parse: {e}"))?
        .remove(0);
    for c in roots.iter().chain(&inter).chain(std::iter::once(&leaf)) {
        if let Some(why) = pki::go_parse_refusal(c) {
            return Err(why);
        }
    }
    let at = match tc["validation_time"].as_str() {
        Some(t) => chrono::DateTime::parse_from_rfc3339(t)
            .unwrap()
            .with_timezone(&chrono::Utc),
        None => chrono::Utc::now(),
    };
    let ekus: Vec<&str> = tc["extended_key_usage"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let usages: Vec<Usage> = match ekus.as_slice() {
        [] => vec![Usage::ServerAuth],
        many => many
            .iter()
            .map(|u| match *u {
                "serverAuth" => Usage::ServerAuth,
                "clientAuth" => Usage::ClientAuth,
                _ => Usage::Any,
            })
            .collect(),
    };
    // Go accepts a chain valid for any of the usages asked.
    let mut last = Err(String::new());
    for u in usages {
        last = pki::verify_peer_for(&leaf, &inter, &roots, Some(at), u)
            .map(|_| ())
            .map_err(|e| e.to_string());
        if last.is_ok() {
            break;
        }
    }
    last
}

/// Go's verdict on every case (`true`: ok), with its error.
fn go(oracle: &std::path::Path) -> BTreeMap<String, (bool, String)> {
    let r = util::ext(
        oracle.to_str().unwrap(),
        &["limbo", limbo_path().to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{r:?}");
    r.stdout
        .lines()
        .map(|l| {
            let mut f = l.splitn(3, '\t');
            let id = f.next().unwrap().to_string();
            let ok = f.next() == Some("ok");
            (id, (ok, f.next().unwrap_or("").to_string()))
        })
        .collect()
}

/// The departure table of docs/checks.md: case id → why.
fn documented() -> BTreeMap<String, String> {
    let doc =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/checks.md"))
            .unwrap();
    let section = doc
        .split("### x509-limbo")
        .nth(1)
        .expect("docs/checks.md has an x509-limbo section");
    section
        .lines()
        .take_while(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let id = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((id.to_string(), cells.get(5).unwrap_or(&"").to_string()))
        })
        .collect()
}

#[test]
#[ignore = "needs go"]
fn limbo_trustkeep_is_go_or_a_documented_departure_and_never_neither() {
    let suite: Value = serde_json::from_slice(&std::fs::read(limbo_path()).unwrap()).unwrap();
    let cases = suite["testcases"].as_array().unwrap();
    let go = go(crate::x509::go_oracle());
    assert_eq!(go.len(), cases.len(), "Go answered every case");
    let doc = documented();
    let (mut departures, mut neither, mut table) = (Vec::new(), Vec::new(), Vec::new());
    let mut agree = 0;
    for tc in cases {
        let id = tc["id"].as_str().unwrap().to_string();
        let ours = trustkeep(tc);
        let (go_ok, go_err) = &go[&id];
        let limbo_ok = tc["expected_result"] == "SUCCESS";
        if ours.is_ok() == *go_ok {
            agree += 1;
            continue;
        }
        table.push(format!(
            "{id}\ttrustkeep {}\tgo {}\tlimbo {}\t{}\t{}",
            ours.is_ok(),
            go_ok,
            limbo_ok,
            ours.as_ref().err().map(String::as_str).unwrap_or(""),
            go_err
        ));
        if ours.is_ok() != limbo_ok {
            neither.push(id.clone());
        }
        departures.push(id);
    }
    eprintln!(
        "x509-limbo: {} cases, trustkeep = Go on {agree}, {} departures:\n{}",
        cases.len(),
        departures.len(),
        table.join("\n")
    );
    assert!(
        neither.is_empty(),
        "trustkeep agrees with neither Go nor limbo on {neither:?}"
    );
    let undocumented: Vec<&String> = departures
        .iter()
        .filter(|d| !doc.contains_key(*d))
        .collect();
    assert!(
        undocumented.is_empty(),
        "departures from Go missing from docs/checks.md: {undocumented:?}"
    );
    let stale: Vec<&String> = doc.keys().filter(|d| !departures.contains(d)).collect();
    assert!(
        stale.is_empty(),
        "docs/checks.md lists cases where trustkeep now agrees with Go: {stale:?}"
    );
}
