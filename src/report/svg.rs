//! The trust graph drawn as SVG. Layout (layers, crossing reduction, edge routing) is the
//! layout-rs crate's; this module only chooses labels and colours: fill by time to expiry,
//! a thick red outline for a certificate an error names or that has no issuer, dashed red for
//! an issuer whose name matches but whose signature does not verify.

use chrono::{DateTime, Utc};
use layout::backends::svg::SVGWriter;
use layout::core::base::Orientation;
use layout::core::color::Color;
use layout::core::style::{LineStyleKind, StyleAttr};
use layout::std_shapes::render::get_shape_size;
use layout::std_shapes::shapes::{Arrow, Element, LineEndKind, ShapeKind};
use layout::topo::layout::VisualGraph;

use super::graph::{Kind, Node, TrustGraph};
use super::{expiry_class, expiry_colour};

const FONT: usize = 13;

/// The `<svg>` element (no XML declaration, ready to inline in HTML).
pub fn draw(g: &TrustGraph, at: DateTime<Utc>) -> String {
    if g.nodes.is_empty() {
        return r#"<svg xmlns="http://www.w3.org/2000/svg" width="300" height="40"><text x="10" y="25">no certificates</text></svg>"#.to_string();
    }
    let o = Orientation::TopToBottom;
    let mut vg = VisualGraph::new(o);
    let handles: Vec<_> = g
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let shape = ShapeKind::new_box(&label(n, at));
            let size = get_shape_size(o, &shape, FONT, false);
            let elem =
                Element::create_with_properties(shape, look(n, at), o, size, props(i, n, at));
            vg.add_node(elem)
        })
        .collect();
    for e in &g.edges {
        let (style, colour) = if e.verified {
            (LineStyleKind::Normal, "black")
        } else {
            (LineStyleKind::Dashed, "red")
        };
        let look = StyleAttr::new(Color::fast(colour), 2, None, 0, FONT);
        let class = if e.verified {
            "edge verified"
        } else {
            "edge failing"
        };
        let arrow = Arrow::with_properties(
            LineEndKind::None,
            LineEndKind::Arrow,
            style,
            if e.verified { "" } else { "signature fails" },
            &look,
            format!("class=\"{class}\""),
            &None,
            &None,
        );
        vg.add_edge(arrow, handles[e.issuer], handles[e.subject]);
    }
    let mut svg = SVGWriter::new();
    vg.do_it(false, false, false, &mut svg);
    let text = svg.finalize();
    match text.find("<svg") {
        Some(i) => text[i..].to_string(),
        None => text,
    }
}

fn label(n: &Node, at: DateTime<Utc>) -> String {
    let clusters: Vec<&str> = n.clusters().into_iter().collect();
    format!(
        "{}\n{} until {}\n{}",
        n.name(),
        n.kind.as_str(),
        n.summary.not_after.format("%Y-%m-%d"),
        if n.days_left(at) < 0 {
            format!("EXPIRED · {}", clusters.join(", "))
        } else {
            clusters.join(", ")
        }
    )
}

fn look(n: &Node, at: DateTime<Utc>) -> StyleAttr {
    let fill = Color::fast(expiry_colour(expiry_class(n.days_left(at))));
    let bad = n.failing || n.no_issuer;
    let (line, width) = if bad { ("red", 5) } else { ("black", 1) };
    let rounded = if n.kind == Kind::Root { 12 } else { 2 };
    StyleAttr::new(Color::fast(line), width, Some(fill), rounded, FONT)
}

/// Attributes of the node's `<g>`: an id and classes a reader (or a test) can select.
fn props(i: usize, n: &Node, at: DateTime<Utc>) -> String {
    let mut class = format!("cert {} {}", n.kind.as_str(), expiry_class(n.days_left(at)));
    if n.failing {
        class.push_str(" failing");
    }
    if n.no_issuer {
        class.push_str(" no-issuer");
    }
    format!(
        "id=\"cert-{i}\" class=\"{class}\" data-sha256=\"{}\"",
        &n.summary.sha256
    )
}
