//! Formats (work in progress).
