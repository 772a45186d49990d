use keel_model::DemandId;
use thiserror::Error;

/// Why a traffic-engineering solve could not produce an allocation.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum TeError {
    #[error("the LP is infeasible{}", stage_suffix(.stage))]
    Infeasible { stage: Option<usize> },
    #[error("the LP is unbounded{}", stage_suffix(.stage))]
    Unbounded { stage: Option<usize> },
    #[error("the LP solver failed with status {status}")]
    SolverFailed { status: String },
    /// Minimising link utilisation routes every demand in full, so a demand with
    /// traffic but no candidate path makes the problem meaningless.
    #[error(
        "demand #{} ({src} -> {dst}, {rate} bit/s) has no candidate path; \
         minimising utilisation needs every demand routed (raise k or relax latency bounds)",
        .demand.0
    )]
    NoCandidatePath {
        demand: DemandId,
        src: String,
        dst: String,
        rate: f64,
    },
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

fn stage_suffix(stage: &Option<usize>) -> String {
    stage.map(|s| format!(" (stage {s})")).unwrap_or_default()
}

/// A name that is not one of the accepted spellings.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown {what} `{input}` (expected one of: {expected})")]
pub struct ParseNameError {
    pub what: &'static str,
    pub input: String,
    pub expected: String,
}

/// Gives a unit-only enum its command-line names: `ALL`, `name()`, `Display` and
/// `FromStr` (with an error listing the accepted names).
macro_rules! named_enum {
    ($ty:ident, $what:literal, { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for $ty {
            type Err = $crate::error::ParseNameError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL.iter().copied().find(|v| v.name() == s).ok_or_else(|| {
                    $crate::error::ParseNameError {
                        what: $what,
                        input: s.to_string(),
                        expected: Self::ALL.iter().map(|v| v.name()).collect::<Vec<_>>().join(", "),
                    }
                })
            }
        }
    };
}
pub(crate) use named_enum;
