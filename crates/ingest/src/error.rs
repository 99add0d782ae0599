//! What can go wrong while parsing ([`ParseError`], the parsers' own), and while fetching,
//! parsing and storing a source ([`IngestError`], with the `fetch` feature).

#[cfg(feature = "fetch")]
use tvarr_core::RepoError;

/// Why a parser (M3U, XMLTV, Xtream) stopped. Everything a parser can skip is skipped and
/// counted instead ([`crate::SkipReport`]); these end the parse.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    /// Reading the input failed.
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
    /// A location the parser was given is not usable: an Xtream panel URL that is not an
    /// http(s) URL, or an unknown guide timezone.
    #[error("invalid location `{0}`")]
    InvalidLocation(String),
    /// The input is an HTML page (a login, error or parking page), not the document expected.
    #[error("the provider answered with an HTML page instead of a {expected}")]
    HtmlPage {
        /// What was expected (`guide`, …).
        expected: &'static str,
    },
    /// The XML document is not well-formed.
    #[error("XML error at byte {position}: {message}")]
    Xml {
        /// Byte offset in the (decoded) document.
        position: u64,
        /// What the XML reader said.
        message: String,
    },
    /// A JSON answer could not be read.
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
    /// An Xtream panel refused the account.
    #[error("Xtream account refused: {0}")]
    XtreamAuth(String),
}

/// An ingest error. Messages never contain credentials: URLs are passed through
/// [`crate::redact_url`] before they are put into an error.
#[cfg(feature = "fetch")]
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// Reading the body or a local file failed (connection reset, disk error).
    #[error("read failed: {0}")]
    Io(#[from] std::io::Error),
    /// The location is neither an http(s) URL, a `file://` URL nor a path.
    #[error("invalid location `{0}`")]
    InvalidLocation(String),
    /// The request could not be sent or the response not received.
    #[error("fetching {url} failed: {reason}")]
    Fetch {
        /// The redacted URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// A local-file source outside what the import policy allows (outside the import
    /// directory, not a regular file, or under `/proc`, `/sys` or `/dev`).
    #[error("local file `{path}` is refused: {reason}")]
    LocalFileRefused {
        /// The path as the source gave it.
        path: String,
        /// Why.
        reason: String,
    },
    /// The outbound policy forbids the destination (the first request's or a redirect's); it
    /// was not connected to.
    #[error("fetching {url} is refused: {reason}; the outbound policy forbids it")]
    DestinationRefused {
        /// The redacted URL that was refused.
        url: String,
        /// What the address is.
        reason: String,
    },
    /// The connection or a read timed out.
    #[error("fetching {url} timed out")]
    Timeout {
        /// The redacted URL.
        url: String,
    },
    /// The whole download took longer than the configured deadline.
    #[error("fetching {url} did not finish within the download deadline of {seconds} s")]
    DeadlineExceeded {
        /// The redacted URL.
        url: String,
        /// The deadline, in seconds.
        seconds: u64,
    },
    /// The server answered with an error status.
    #[error("{url} answered HTTP {status}")]
    HttpStatus {
        /// The redacted URL.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The body is larger than the configured maximum.
    #[error("the response is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The body ended before the length the server announced.
    #[error("the download was truncated: {received} of {expected} bytes received")]
    Truncated {
        /// Bytes received.
        received: u64,
        /// Bytes announced by `Content-Length`.
        expected: u64,
    },
    /// The provider answered with an HTML page (a login, error or parking page) where a
    /// playlist, a guide or a JSON answer was expected.
    #[error("the provider answered with an HTML page instead of a {expected}")]
    HtmlPage {
        /// What was expected (`playlist`, `guide`, …).
        expected: &'static str,
    },
    /// The provider answered with JSON (often an API error object) where a playlist or a
    /// guide was expected.
    #[error("the provider answered with JSON, not a {expected}")]
    JsonAnswer {
        /// What was expected (`playlist`, `guide`).
        expected: &'static str,
    },
    /// The XML document is not well-formed.
    #[error("XML error at byte {position}: {message}")]
    Xml {
        /// Byte offset in the (decoded) document.
        position: u64,
        /// What the XML reader said.
        message: String,
    },
    /// A JSON answer could not be read.
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
    /// An Xtream panel refused the account.
    #[error("Xtream account refused: {0}")]
    XtreamAuth(String),
    /// A gzip stream is corrupt.
    #[error("gzip data is corrupt: {0}")]
    Decompress(String),
    /// Storage refused the data.
    #[error("storage: {0}")]
    Repo(#[from] RepoError),
    /// The ingest was cancelled.
    #[error("cancelled")]
    Cancelled,
    /// A background task ended abnormally.
    #[error("internal task failure: {0}")]
    Task(String),
}

#[cfg(feature = "fetch")]
impl From<ParseError> for IngestError {
    /// Each parse error as the ingest error of the same name and message, so that one match
    /// on [`IngestError`] covers a failure whether the parser or the service saw it.
    fn from(error: ParseError) -> Self {
        match error {
            ParseError::Io(e) => IngestError::Io(e),
            ParseError::InvalidLocation(location) => IngestError::InvalidLocation(location),
            ParseError::HtmlPage { expected } => IngestError::HtmlPage { expected },
            ParseError::Xml { position, message } => IngestError::Xml { position, message },
            ParseError::Json(e) => IngestError::Json(e),
            ParseError::XtreamAuth(message) => IngestError::XtreamAuth(message),
        }
    }
}

/// Result of an ingest operation.
#[cfg(feature = "fetch")]
pub type IngestResult<T> = Result<T, IngestError>;
