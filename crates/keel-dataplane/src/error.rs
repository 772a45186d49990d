use thiserror::Error;

#[derive(Debug, Error)]
pub enum DataplaneError {
    /// A netlink request failed.
    #[error("netlink {context}: {source}")]
    Netlink {
        context: String,
        #[source]
        source: nlink::Error,
    },
    /// The kernel answered a request with an error code.
    #[error("netlink {context}: errno {errno}")]
    Errno { context: String, errno: i32 },
    #[error("network namespace {name}: {message}")]
    Namespace { name: String, message: String },
    #[error("interface map: {0}")]
    Map(String),
    #[error("sysctl: {0}")]
    Sysctl(String),
    /// A message from the kernel did not parse.
    #[error("malformed netlink message: {0}")]
    Decode(String),
    /// The iproute2 reader failed (the binary is missing, or its output did not parse).
    #[error("iproute2: {0}")]
    Oracle(String),
    #[error("timed out waiting for the kernel: {0}")]
    Timeout(String),
}

impl DataplaneError {
    pub(crate) fn netlink(context: impl Into<String>) -> impl FnOnce(nlink::Error) -> Self {
        let context = context.into();
        move |source| DataplaneError::Netlink { context, source }
    }
}
