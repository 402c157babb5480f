//! Why a request was refused, and the one place that maps each reason to a status code.

use std::fmt;

use super::ChunkedError;

/// A request the parser (or a server's deadline) refused. Each variant is named after the
/// rule the client broke; [`HttpError::status`] is the only mapping from reason to status.
///
/// "Need more bytes" is not an error: the parser answers `Ok(None)` for that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpError {
    /// The request line or a header line is not valid HTTP/1.1 syntax (RFC 9112 §3, §5).
    MalformedHead(&'static str),
    /// The request line is longer than `Limits::max_line` (RFC 9112 §3: 414).
    RequestLineTooLong,
    /// A header line is longer than `Limits::max_line` (RFC 6585 §5: 431).
    HeaderLineTooLong,
    /// The whole head is longer than `Limits::max_head_bytes` (RFC 6585 §5: 431).
    HeadTooLarge,
    /// More header lines than `Limits::max_headers` (RFC 6585 §5: 431).
    TooManyHeaders,
    /// A version other than HTTP/1.0 or HTTP/1.1 (RFC 9110 §15.6.6: 505).
    UnsupportedVersion,
    /// An HTTP/1.1 request without exactly one Host header (RFC 9112 §3.2).
    HostMissingOrRepeated,
    /// A Content-Length that is not one decimal number, or several that disagree
    /// (RFC 9110 §8.6, RFC 9112 §6.3).
    InvalidContentLength,
    /// Both Transfer-Encoding and Content-Length, which could smuggle a second request
    /// (RFC 9112 §6.3).
    ContentLengthWithTransferEncoding,
    /// Transfer-Encoding whose final coding is not `chunked`, or that applies `chunked`
    /// twice (RFC 9112 §6.3, §7.1).
    ChunkedNotFinalCoding,
    /// Transfer-Encoding in an HTTP/1.0 request, whose framing is then faulty (RFC 9112 §6.1).
    TransferEncodingInHttp10,
    /// A transfer coding other than `chunked`; this server implements no other
    /// (RFC 9112 §6.1: 501).
    UnsupportedTransferCoding,
    /// A POST, PUT or PATCH with neither Content-Length nor Transfer-Encoding
    /// (RFC 9110 §15.5.12: 411).
    LengthRequired,
    /// The body is longer than `Limits::max_body` (RFC 9110 §15.5.14: 413).
    BodyTooLarge,
    /// A chunk-size line, chunk-data terminator or trailer is malformed (RFC 9112 §7.1).
    MalformedChunk(&'static str),
    /// An Expect member other than `100-continue` (RFC 9110 §10.1.1: 417).
    ExpectationFailed,
    /// The request did not arrive completely within the server's deadline
    /// (RFC 9110 §15.5.9: 408). Raised by the I/O shells, never by the parser.
    RequestTimeout,
}

impl HttpError {
    /// The status code the server answers with.
    pub fn status(&self) -> u16 {
        match self {
            HttpError::MalformedHead(_)
            | HttpError::HostMissingOrRepeated
            | HttpError::InvalidContentLength
            | HttpError::ContentLengthWithTransferEncoding
            | HttpError::ChunkedNotFinalCoding
            | HttpError::TransferEncodingInHttp10
            | HttpError::MalformedChunk(_) => 400,
            HttpError::RequestTimeout => 408,
            HttpError::LengthRequired => 411,
            HttpError::BodyTooLarge => 413,
            HttpError::RequestLineTooLong => 414,
            HttpError::ExpectationFailed => 417,
            HttpError::HeaderLineTooLong | HttpError::HeadTooLarge | HttpError::TooManyHeaders => {
                431
            }
            HttpError::UnsupportedTransferCoding => 501,
            HttpError::UnsupportedVersion => 505,
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::MalformedHead(what) => write!(f, "malformed request head: {what}"),
            HttpError::RequestLineTooLong => f.write_str("request line too long"),
            HttpError::HeaderLineTooLong => f.write_str("header line too long"),
            HttpError::HeadTooLarge => f.write_str("request head too large"),
            HttpError::TooManyHeaders => f.write_str("too many header fields"),
            HttpError::UnsupportedVersion => f.write_str("only HTTP/1.0 and HTTP/1.1 are served"),
            HttpError::HostMissingOrRepeated => {
                f.write_str("an HTTP/1.1 request needs exactly one Host header")
            }
            HttpError::InvalidContentLength => f.write_str("invalid Content-Length"),
            HttpError::ContentLengthWithTransferEncoding => {
                f.write_str("Content-Length and Transfer-Encoding must not both be sent")
            }
            HttpError::ChunkedNotFinalCoding => {
                f.write_str("chunked must be the final transfer coding, applied once")
            }
            HttpError::TransferEncodingInHttp10 => {
                f.write_str("Transfer-Encoding is not defined for HTTP/1.0")
            }
            HttpError::UnsupportedTransferCoding => {
                f.write_str("only the chunked transfer coding is implemented")
            }
            HttpError::LengthRequired => {
                f.write_str("a body needs Content-Length or Transfer-Encoding: chunked")
            }
            HttpError::BodyTooLarge => f.write_str("request body too large"),
            HttpError::MalformedChunk(what) => write!(f, "malformed chunked body: {what}"),
            HttpError::ExpectationFailed => f.write_str("only Expect: 100-continue is supported"),
            HttpError::RequestTimeout => f.write_str("request not received in time"),
        }
    }
}

impl std::error::Error for HttpError {}

/// A chunked body the decoder refused, as the request parser reports it. The status then
/// follows from [`HttpError::status`] like any other refusal.
impl From<ChunkedError> for HttpError {
    fn from(err: ChunkedError) -> Self {
        match err {
            ChunkedError::SizeOverflow | ChunkedError::BodyTooLarge => HttpError::BodyTooLarge,
            ChunkedError::TrailerLineTooLong => HttpError::HeaderLineTooLong,
            ChunkedError::TrailerSectionTooLarge => HttpError::HeadTooLarge,
            ChunkedError::SizeLineTooLong
            | ChunkedError::SizeNotHexadecimal
            | ChunkedError::JunkAfterSize
            | ChunkedError::DataLongerThanSize
            | ChunkedError::TrailerNotAField => HttpError::MalformedChunk(err.reason()),
        }
    }
}
