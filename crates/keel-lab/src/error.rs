use std::io;
use std::path::PathBuf;

/// Everything that can go wrong building, driving or probing a lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("invalid lab name {name:?}: {reason}")]
    InvalidName { name: String, reason: &'static str },
    #[error("invalid lab options: {0}")]
    InvalidOptions(String),
    #[error("the topology does not fit the lab: {0}")]
    Topology(String),
    #[error("unknown site {0:?}")]
    UnknownSite(String),
    #[error("unknown link {0:?} (or it has no interface in the lab)")]
    UnknownLink(String),
    #[error(
        "lab {lab:?} already exists ({count} namespaces such as {example}); take it down first"
    )]
    AlreadyUp {
        lab: String,
        count: usize,
        example: String,
    },
    #[error("lab {lab:?} has a state file {} from an earlier run; take it down first", path.display())]
    StaleState { lab: String, path: PathBuf },
    #[error("lab {lab:?} is not up: namespace {namespace} is missing")]
    NotUp { lab: String, namespace: String },
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        command: String,
        status: String,
        stderr: String,
    },
    #[error("could not run `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: io::Error,
    },
    #[error("unexpected output from `{command}`: {reason}")]
    Output { command: String, reason: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("state file {}: {source}", path.display())]
    State {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("lab {lab:?} is still not fully down: {left}")]
    Leftovers { lab: String, left: String },
    #[error("probe: {0}")]
    ProbeParam(String),
    /// A socket operation of the probe or the relay failed.
    #[error("{what}: {source}")]
    Socket {
        what: String,
        #[source]
        source: io::Error,
    },
}

pub type Result<T, E = LabError> = std::result::Result<T, E>;

impl LabError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        LabError::Io {
            path: path.into(),
            source,
        }
    }
}

/// A socket read that ended without data (its timeout, or a signal): the
/// caller polls again.
pub(crate) fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}
