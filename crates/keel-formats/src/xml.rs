//! Small helpers over roxmltree shared by the GraphML and SNDlib readers.

use roxmltree::{Document, Node};

use crate::error::{FormatError, Location, found};

pub(crate) fn parse<'a>(content: &'a str, file: &str) -> Result<Document<'a>, FormatError> {
    Document::parse(content).map_err(|e| {
        // These two carry no position (1:1): the end of the text is where
        // the problem shows.
        if matches!(
            e,
            roxmltree::Error::UnclosedRootNode | roxmltree::Error::UnexpectedEndOfStream
        ) {
            let (line, col) = crate::assemble::line_col(content, content.len());
            return FormatError::syntax(
                file,
                Location::at(line, col),
                format!("invalid XML: {e} (is the file truncated?)"),
            );
        }
        let pos = e.pos();
        // roxmltree puts the position into its message too; it goes up front.
        let msg = e.to_string().replace(&format!(" at {pos}"), "");
        FormatError::syntax(
            file,
            Location::at(pos.row as usize, pos.col as usize),
            format!("invalid XML: {msg}"),
        )
    })
}

/// `<name a="x" b="y">` with the given attributes, for messages.
pub(crate) fn describe(node: Node, attrs: &[&str]) -> String {
    let mut s = format!("<{}", node.tag_name().name());
    for a in attrs {
        if let Some(v) = node.attribute(*a) {
            s.push_str(&format!(" {a}=\"{v}\""));
        }
    }
    s.push('>');
    s
}

/// Line and column of a node's start.
pub(crate) fn pos(node: Node) -> Location {
    let p = node.document().text_pos_at(node.range().start);
    Location::at(p.row as usize, p.col as usize)
}

/// Line and column of an element's start, with its description.
pub(crate) fn loc(node: Node, attrs: &[&str]) -> Location {
    pos(node).with_element(describe(node, attrs))
}

/// Child elements with a local name (namespaces are not checked: files in the
/// wild omit or vary them).
pub(crate) fn children<'a, 'i>(
    node: Node<'a, 'i>,
    name: &'static str,
) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
}

pub(crate) fn child<'a, 'i>(node: Node<'a, 'i>, name: &'static str) -> Option<Node<'a, 'i>> {
    children(node, name).next()
}

/// The trimmed text of an element (all its text, CDATA included).
pub(crate) fn text(node: Node) -> String {
    node.descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect::<String>()
        .trim()
        .to_string()
}

/// A required attribute.
pub(crate) fn attr<'a>(
    node: Node<'a, '_>,
    name: &str,
    file: &str,
    at: &Location,
) -> Result<&'a str, FormatError> {
    node.attribute(name).ok_or_else(|| {
        FormatError::syntax(file, at.clone(), format!("expected a `{name}` attribute"))
    })
}

/// A finite number in the text of `node`, or an error at `node` naming `what`
/// and the enclosing element of `ctx`.
pub(crate) fn number(
    node: Node,
    what: &str,
    file: &str,
    ctx: &Location,
) -> Result<f64, FormatError> {
    let t = text(node);
    crate::assemble::parse_num(&t).ok_or_else(|| {
        let mut at = pos(node);
        at.element.clone_from(&ctx.element);
        FormatError::syntax(
            file,
            at,
            format!("expected a number in {what}, found {}", found(&t)),
        )
    })
}

pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Control characters are not allowed in XML 1.0 at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}
