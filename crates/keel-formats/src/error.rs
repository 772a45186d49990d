//! Errors that say where in which file what was expected.

use std::fmt;
use std::path::PathBuf;

use keel_model::ModelError;
use thiserror::Error;

/// Where in a file something was found: 1-based line and column, and/or the
/// element (XML element, JSON path) it belongs to. Any part may be unknown.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    pub line: Option<usize>,
    pub col: Option<usize>,
    pub element: Option<String>,
}

impl Location {
    pub fn at(line: usize, col: usize) -> Self {
        Location {
            line: Some(line),
            col: Some(col),
            element: None,
        }
    }

    pub fn line(line: usize) -> Self {
        Location {
            line: Some(line),
            ..Location::default()
        }
    }

    pub fn element(element: impl Into<String>) -> Self {
        Location {
            element: Some(element.into()),
            ..Location::default()
        }
    }

    pub fn with_element(mut self, element: impl Into<String>) -> Self {
        self.element = Some(element.into());
        self
    }
}

/// Renders `:line:col: element` so that it can follow the file name.
impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.col {
                write!(f, ":{col}")?;
            }
        }
        if let Some(e) = &self.element {
            write!(f, ": {e}")?;
        }
        Ok(())
    }
}

/// Why a file could not be read or written.
///
/// Display gives `file:line:col: element: message`, e.g.
/// `abilene.xml:12:5: <link id="L3">: expected a number in <capacity>, found "abc"`.
/// The underlying I/O or model error is part of the message rather than a
/// `source()`, so error-chain printers do not repeat it.
#[derive(Debug, Error)]
pub enum FormatError {
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
    /// The input does not follow the format.
    #[error("{file}{at}: {msg}")]
    Syntax {
        file: String,
        at: Location,
        msg: String,
    },
    /// The input follows the format but describes an invalid model (duplicate
    /// site, self loop, demand between disconnected sites...).
    #[error("{file}{at}: {error}")]
    Model {
        file: String,
        at: Location,
        /// Boxed to keep `Result<_, FormatError>` small.
        error: Box<ModelError>,
    },
    #[error("{file}: could not detect the format; pass --format")]
    UnknownFormat { file: String },
    #[error("{what} is not supported")]
    Unsupported { what: String },
}

impl FormatError {
    pub(crate) fn syntax(file: &str, at: Location, msg: impl Into<String>) -> Self {
        FormatError::Syntax {
            file: file.to_string(),
            at,
            msg: msg.into(),
        }
    }

    pub(crate) fn model(file: &str, at: Location, error: ModelError) -> Self {
        FormatError::Model {
            file: file.to_string(),
            at,
            error: Box::new(error),
        }
    }

    /// The file (or source name) the error is about.
    pub fn file(&self) -> Option<String> {
        match self {
            FormatError::Io { path, .. } => Some(path.display().to_string()),
            FormatError::Syntax { file, .. }
            | FormatError::Model { file, .. }
            | FormatError::UnknownFormat { file } => Some(file.clone()),
            FormatError::Unsupported { .. } => None,
        }
    }

    /// Where in the file, when known.
    pub fn location(&self) -> Option<&Location> {
        match self {
            FormatError::Syntax { at, .. } | FormatError::Model { at, .. } => Some(at),
            _ => None,
        }
    }

    /// The 1-based line, when known.
    pub fn line(&self) -> Option<usize> {
        self.location().and_then(|l| l.line)
    }
}

/// Quotes a found value for messages, cutting very long ones.
pub(crate) fn found(s: &str) -> String {
    const MAX: usize = 40;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{:?}...", &s[..i]),
        None => format!("{s:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_puts_location_between_file_and_message() {
        let e = FormatError::syntax(
            "abilene.xml",
            Location::at(12, 5).with_element("<link id=\"L3\">"),
            "expected a number in <capacity>, found \"abc\"",
        );
        assert_eq!(
            e.to_string(),
            "abilene.xml:12:5: <link id=\"L3\">: expected a number in <capacity>, found \"abc\""
        );
        let e = FormatError::model(
            "t.json",
            Location::element("links[3]"),
            ModelError::UnknownSite("x".into()),
        );
        assert_eq!(e.to_string(), "t.json: links[3]: unknown site `x`");
        assert_eq!(e.line(), None);
        assert_eq!(found(&"x".repeat(100)).len(), 45);
    }
}
