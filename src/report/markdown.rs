//! The report as Markdown: the same sections as the HTML page, with the trust graph as a
//! Mermaid flowchart (GitHub and GitLab render ```` ```mermaid ```` blocks). Table cells and
//! Mermaid labels are escaped so that no string from a cluster or a certificate can end a
//! cell, a label or the diagram.

use std::fmt::Write;

use super::graph::Kind;
use super::{expiry_class, expiry_colour, rows, Evidence};
use crate::findings::Severity;

/// Escapes a table cell: pipes, newlines, and HTML-significant characters.
fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '\n' | '\r' => out.push(' '),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '`' => out.push('\''),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Escapes text inside a quoted Mermaid label: Mermaid's own entity codes for quotes and the
/// characters its parser or the HTML it renders to would read as syntax.
fn label(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '#' => out.push_str("#35;"),
            '&' => out.push_str("#amp;"),
            '`' => out.push_str("#96;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// The whole document.
pub fn document(e: &Evidence<'_>) -> String {
    let mut m = String::new();
    let r = e.report;
    let _ = writeln!(m, "# trustkeep {}: {}\n", e.command, e.verdict());
    let _ = writeln!(m, "| | |\n|---|---|");
    let _ = writeln!(m, "| checked at | {} |", e.checked_at.to_rfc3339());
    let _ = writeln!(m, "| report made | {} |", e.generated.to_rfc3339());
    let _ = writeln!(m, "| certificates | {} |", e.graph.nodes.len());
    let _ = writeln!(m, "| errors | {} |", e.count(Severity::Error));
    let _ = writeln!(m, "| warnings | {} |", e.count(Severity::Warning));
    let _ = writeln!(m, "| info | {} |", e.count(Severity::Info));
    for [what, value] in super::rows::setup(e) {
        let _ = writeln!(m, "| {} | {} |", cell(&what), cell(&value));
    }
    for u in &r.unreadable {
        let _ = writeln!(
            m,
            "| **unreadable** | {}: {} |",
            cell(&u.cluster),
            cell(&u.error)
        );
    }
    m.push_str("\n## Trust graph\n\nEach arrow is a verified signature, issuer to certificate; a dotted arrow labelled `signature fails` names an issuer whose signature does not verify; a red outline marks a certificate an error names or that has no issuer. Colour: red expired, orange within 7 days, yellow within 30 days, green later.\n\n");
    mermaid(&mut m, e);
    timeline(&mut m, e);
    findings(&mut m, e);
    origins(&mut m, e);
    inventory(&mut m, e);
    m
}

/// The ```` ```mermaid ```` block.
pub(crate) fn mermaid(m: &mut String, e: &Evidence<'_>) {
    m.push_str("```mermaid\nflowchart TD\n");
    for class in ["expired", "week", "month", "ok"] {
        let _ = writeln!(
            m,
            "  classDef {class} fill:{},color:#000",
            expiry_colour(class)
        );
    }
    m.push_str("  classDef failing stroke:#d00,stroke-width:4px\n");
    for (i, n) in e.graph.nodes.iter().enumerate() {
        let clusters: Vec<&str> = n.clusters().into_iter().collect();
        let text = format!(
            "{}<br/>{} until {}<br/>{}",
            label(&n.name()),
            n.kind.as_str(),
            n.summary.not_after.format("%Y-%m-%d"),
            label(&clusters.join(", "))
        );
        let (open, close) = if n.kind == Kind::Root {
            ("([", "])")
        } else {
            ("[", "]")
        };
        let class = expiry_class(n.days_left(e.checked_at));
        let _ = writeln!(m, "  c{i}{open}\"{text}\"{close}:::{class}");
    }
    let failing: Vec<String> = (0..e.graph.nodes.len())
        .filter(|i| e.graph.nodes[*i].failing || e.graph.nodes[*i].no_issuer)
        .map(|i| format!("c{i}"))
        .collect();
    if !failing.is_empty() {
        let _ = writeln!(m, "  class {} failing", failing.join(","));
    }
    for edge in &e.graph.edges {
        if edge.verified {
            let _ = writeln!(m, "  c{} --> c{}", edge.issuer, edge.subject);
        } else {
            let _ = writeln!(
                m,
                "  c{} -. signature fails .-> c{}",
                edge.issuer, edge.subject
            );
        }
    }
    m.push_str("```\n");
}

/// A Markdown table of escaped cells; the `code` column is set in backticks.
fn table<const N: usize>(
    m: &mut String,
    header: [&str; N],
    rows: &[[String; N]],
    code: Option<usize>,
) {
    let _ = writeln!(m, "| {} |", header.join(" | "));
    let _ = writeln!(m, "|{}", "---|".repeat(N));
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| match code {
                Some(k) if k == i => format!("`{}`", cell(c)),
                _ => cell(c),
            })
            .collect();
        let _ = writeln!(m, "| {} |", cells.join(" | "));
    }
}

fn timeline(m: &mut String, e: &Evidence<'_>) {
    m.push_str("\n## Expiry timeline\n\n");
    let rows: Vec<[String; 5]> = rows::timeline(e).into_iter().map(|(_, c)| c).collect();
    table(m, rows::TIMELINE, &rows, None);
}

fn findings(m: &mut String, e: &Evidence<'_>) {
    m.push_str("\n## Findings\n\n");
    let rows = rows::findings(e);
    if rows.is_empty() {
        m.push_str("No findings.\n");
        return;
    }
    table(m, rows::FINDINGS, &rows, Some(1));
}

fn origins(m: &mut String, e: &Evidence<'_>) {
    if e.origins.is_empty() {
        return;
    }
    m.push_str("\n## Origin of the archives\n\nWho signed each archive (`<archive>.sig`) and whether the `--trusted-signers` policy admits it; a refused archive was not decrypted.\n\n");
    table(m, rows::ORIGINS, &rows::origins(e), None);
}

fn inventory(m: &mut String, e: &Evidence<'_>) {
    m.push_str(
        "\n## Inventory\n\nSecrets and the names and sizes of their keys; never a value.\n\n",
    );
    table(m, rows::INVENTORY, &rows::inventory(e), None);
}
