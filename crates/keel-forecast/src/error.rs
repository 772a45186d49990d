use thiserror::Error;

#[derive(Debug, Error)]
pub enum ForecastError {
    /// A series too short for what was asked (e.g. Holt–Winters needs two seasons).
    #[error("{what}: needs at least {needed} samples, got {got}")]
    TooShort {
        what: String,
        needed: usize,
        got: usize,
    },
    /// Inputs that do not fit together or are not numbers.
    #[error("{0}")]
    Invalid(String),
    /// The QP solver behind tomogravity did not return a usable point.
    #[error("tomogravity solver: {0}")]
    Solver(String),
}
