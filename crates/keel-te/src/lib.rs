//! Traffic engineering (work in progress).
