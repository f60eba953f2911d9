//! The report as one HTML page: inline CSS and SVG, no script, no external resource, so it
//! opens offline in any browser and can be attached to a ticket as it is. Every string from a
//! cluster, an archive or a certificate is HTML-escaped.

use std::fmt::Write;

use super::{expiry_class, expiry_colour, rows, svg, Evidence};
use crate::findings::Severity;

const CSS: &str = "
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 .pass { color: #1a7f37; } h1 .fail { color: #cf222e; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
.error { color: #cf222e; font-weight: bold; } .warning { color: #9a6700; } .info { color: #555; }
.bar { display: inline-block; height: 0.9em; min-width: 2px; }
.graph { overflow: auto; border: 1px solid #ddd; padding: 0.5em; }
.graph svg { max-width: 100%; height: auto; }
.legend span { display: inline-block; padding: 0.1em 0.5em; margin-right: 0.5em; border: 1px solid #999; }
code { font-size: 0.9em; }
";

/// Escapes text for HTML element content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// The whole page.
pub fn page(e: &Evidence<'_>) -> String {
    let mut h = String::new();
    let title = format!("trustkeep {} report: {}", e.command, e.verdict());
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\
         <title>{}</title><style>{CSS}</style></head><body>\n",
        esc(&title)
    );
    summary(&mut h, e);
    graph(&mut h, e);
    timeline(&mut h, e);
    findings(&mut h, e);
    origins(&mut h, e);
    inventory(&mut h, e);
    h.push_str("</body></html>\n");
    h
}

fn summary(h: &mut String, e: &Evidence<'_>) {
    let r = e.report;
    let class = if r.ok { "pass" } else { "fail" };
    let _ = write!(
        h,
        "<h1>trustkeep {}: <span class=\"{class}\" id=\"verdict\">{}</span></h1>\n<table id=\"summary\">\
         <tr><th>checked at</th><td>{}</td></tr>\
         <tr><th>report made</th><td>{}</td></tr>\
         <tr><th>clusters</th><td>{}</td></tr>\
         <tr><th>certificates</th><td>{}</td></tr>\
         <tr><th>errors</th><td class=\"error\">{}</td></tr>\
         <tr><th>warnings</th><td class=\"warning\">{}</td></tr>\
         <tr><th>info</th><td>{}</td></tr></table>\n",
        esc(e.command),
        e.verdict(),
        e.checked_at.to_rfc3339(),
        e.generated.to_rfc3339(),
        esc(&cluster_names(e)),
        e.graph.nodes.len(),
        e.count(Severity::Error),
        e.count(Severity::Warning),
        e.count(Severity::Info),
    );
    let setup = super::rows::setup(e);
    if !setup.is_empty() {
        h.push_str("<h2>Setup</h2>\n<table id=\"setup\">\n");
        for [what, value] in &setup {
            let _ = writeln!(h, "<tr><th>{}</th><td>{}</td></tr>", esc(what), esc(value));
        }
        h.push_str("</table>\n");
    }
    if !r.unreadable.is_empty() {
        h.push_str("<h2>Clusters that could not be read</h2>\n<table id=\"unreadable\"><tr><th>cluster</th><th>error</th></tr>\n");
        for u in &r.unreadable {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"error\">{}</td></tr>",
                esc(&u.cluster),
                esc(&u.error)
            );
        }
        h.push_str("</table>\n");
    }
}

fn cluster_names(e: &Evidence<'_>) -> String {
    let mut names: Vec<&str> = e.snapshots.iter().map(|s| s.cluster.as_str()).collect();
    names.dedup();
    names.join(", ")
}

fn graph(h: &mut String, e: &Evidence<'_>) {
    h.push_str("<h2>Trust graph</h2>\n<p class=\"legend\">");
    for (class, what) in [
        ("expired", "expired"),
        ("week", "expires within 7 days"),
        ("month", "within 30 days"),
        ("ok", "later"),
    ] {
        let _ = write!(
            h,
            "<span style=\"background:{}\">{what}</span>",
            expiry_colour(class)
        );
    }
    h.push_str("Each arrow is a verified signature, issuer to certificate; a dashed red arrow names an issuer whose signature does not verify; a thick red outline marks a certificate an error names or that has no issuer. A certificate kept in several clusters is drawn once.</p>\n<div class=\"graph\" id=\"trust-graph\">");
    h.push_str(&svg::draw(&e.graph, e.checked_at));
    h.push_str("</div>\n");
}

fn timeline(h: &mut String, e: &Evidence<'_>) {
    let rows = rows::timeline(e);
    let longest = rows
        .iter()
        .map(|(n, _)| n.days_left(e.checked_at).max(0))
        .max()
        .unwrap_or(1)
        .max(1);
    h.push_str("<h2>Expiry timeline</h2>\n<table id=\"timeline\"><tr>");
    for c in rows::TIMELINE {
        let _ = write!(h, "<th>{c}</th>");
    }
    h.push_str("<th></th></tr>\n");
    for (n, cells) in rows {
        let days = n.days_left(e.checked_at);
        let class = expiry_class(days);
        let width = (days.max(0) * 300 / longest).max(2);
        let _ = write!(h, "<tr class=\"{class}\">");
        for c in &cells {
            let _ = write!(h, "<td>{}</td>", esc(c));
        }
        let _ = writeln!(
            h,
            "<td><span class=\"bar\" style=\"width:{width}px;background:{}\"></span></td></tr>",
            expiry_colour(class)
        );
    }
    h.push_str("</table>\n");
}

/// A table of escaped cells; `classed` columns also get their value as CSS class.
fn table<const N: usize>(
    h: &mut String,
    id: &str,
    header: [&str; N],
    rows: &[[String; N]],
    classed: Option<usize>,
) {
    let _ = write!(h, "<table id=\"{id}\"><tr>");
    for c in header {
        let _ = write!(h, "<th>{c}</th>");
    }
    h.push_str("</tr>\n");
    for row in rows {
        h.push_str("<tr>");
        for (i, c) in row.iter().enumerate() {
            match classed {
                Some(k) if k == i => {
                    let _ = write!(h, "<td class=\"{0}\">{0}</td>", esc(c));
                }
                _ => {
                    let _ = write!(h, "<td>{}</td>", esc(c));
                }
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</table>\n");
}

fn findings(h: &mut String, e: &Evidence<'_>) {
    h.push_str("<h2>Findings</h2>\n");
    let rows = rows::findings(e);
    if rows.is_empty() {
        h.push_str("<p id=\"findings\">No findings.</p>\n");
        return;
    }
    table(h, "findings", rows::FINDINGS, &rows, Some(0));
}

fn origins(h: &mut String, e: &Evidence<'_>) {
    if e.origins.is_empty() {
        return;
    }
    h.push_str("<h2>Origin of the archives</h2>\n<p>Who signed each archive (<code>&lt;archive&gt;.sig</code>) and whether the <code>--trusted-signers</code> policy admits it; a refused archive was not decrypted.</p>\n");
    table(h, "origins", rows::ORIGINS, &rows::origins(e), Some(1));
}

fn inventory(h: &mut String, e: &Evidence<'_>) {
    h.push_str("<h2>Inventory</h2>\n<p>Secrets and the names and sizes of their keys; never a value.</p>\n");
    table(h, "inventory", rows::INVENTORY, &rows::inventory(e), None);
}
