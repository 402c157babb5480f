//! The opening handshake (RFC 6455 §4): checking a client's Upgrade request
//! and answering it, and the client's side: the request and checking the 101.
//!
//! The one extension is permessage-deflate (RFC 7692, see [`super::deflate`]):
//! a server may accept a client's offer of it ([`negotiate_deflate`]), and a
//! client may offer it ([`ClientHandshake::offering_deflate`]) and then
//! checks the server's answer. No subprotocols are negotiated: the server
//! never sends `Sec-WebSocket-Protocol`, and the client refuses a response
//! that selects one, or an extension it did not offer (RFC 6455 §4.1, items 5
//! and 6).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha1::{Digest, Sha1};

use super::deflate::{self, CLIENT_OFFER, DeflateParams};
use crate::http::RequestHead;

/// RFC 6455 §1.3: appended to the client's key before hashing.
pub const ACCEPT_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The only protocol version defined, RFC 6455 §4.1 item 9.
pub const WEBSOCKET_VERSION: &str = "13";

/// RFC 6455 §4.1: the nonce in `Sec-WebSocket-Key` is 16 random bytes.
pub const KEY_LEN: usize = 16;

/// Status for every rejected request except a version mismatch
/// (RFC 6455 §4.2.1: "an HTTP response with an appropriate error code").
const STATUS_BAD_REQUEST: u16 = 400;
/// RFC 6455 §4.4: a version we do not speak is answered with 426.
const STATUS_UPGRADE_REQUIRED: u16 = 426;
/// RFC 6455 §9.1: the header that offers and accepts extensions.
const EXTENSIONS_HEADER: &str = "Sec-WebSocket-Extensions";
/// RFC 6455 §4.1: the one status that completes the handshake.
const STATUS_SWITCHING_PROTOCOLS: u16 = 101;

/// Headers read from a handshake response; more make it a malformed response.
const MAX_RESPONSE_HEADERS: usize = 64;
/// The longest response head waited for before giving up on the server.
const MAX_RESPONSE_HEAD: usize = 16 << 10;

/// A handshake that cannot go on.
///
/// On the server, `status` is the HTTP status to answer with; when
/// [`Self::is_version_mismatch`] holds, the caller must add a
/// `Sec-WebSocket-Version: 13` header to that response (RFC 6455 §4.4).
/// On the client, `status` is what the server answered (0 when its response
/// head could not be parsed at all).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeError {
    pub status: u16,
    /// One line saying which rule failed.
    pub reason: String,
}

impl HandshakeError {
    fn new(status: u16, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.into(),
        }
    }

    fn bad_request(reason: impl Into<String>) -> Self {
        Self::new(STATUS_BAD_REQUEST, reason)
    }

    /// Whether the request asked for a version other than 13; the 426
    /// response must then list `Sec-WebSocket-Version: 13` (RFC 6455 §4.4).
    pub fn is_version_mismatch(&self) -> bool {
        self.status == STATUS_UPGRADE_REQUIRED
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "WebSocket handshake failed ({}): {}",
            self.status, self.reason
        )
    }
}

impl std::error::Error for HandshakeError {}

/// RFC 6455 §4.2.2 step 5.4: the base64 SHA-1 of the key with the GUID
/// appended, proving the server read this handshake.
pub fn accept_key(key: &str) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key.as_bytes());
    sha1.update(ACCEPT_GUID.as_bytes());
    BASE64.encode(sha1.finalize())
}

/// Check a client's opening handshake (RFC 6455 §4.2.1) and return the
/// `Sec-WebSocket-Accept` value for the response.
pub fn check_upgrade_request(head: &RequestHead) -> Result<String, HandshakeError> {
    // RFC 6455 §4.2.1 item 1: "An HTTP/1.1 or higher GET request".
    if head.method != "GET" {
        return Err(HandshakeError::bad_request(format!(
            "method {} is not GET (RFC 6455 §4.2.1)",
            head.method
        )));
    }
    if head.minor_version < 1 {
        return Err(HandshakeError::bad_request(
            "HTTP/1.0 cannot upgrade, HTTP/1.1 needed (RFC 6455 §4.2.1)",
        ));
    }

    // RFC 6455 §4.2.1 item 2: a Host header field.
    if head.header("Host").is_none() {
        return Err(HandshakeError::bad_request(
            "no Host header (RFC 6455 §4.2.1)",
        ));
    }

    // RFC 6455 §4.2.1 item 3: Upgrade including "websocket", any case.
    if !head.has_token("Upgrade", "websocket") {
        return Err(HandshakeError::bad_request(
            "Upgrade header does not name websocket (RFC 6455 §4.2.1)",
        ));
    }

    // RFC 6455 §4.2.1 item 4: Connection including the "Upgrade" token.
    if !head.has_token("Connection", "upgrade") {
        return Err(HandshakeError::bad_request(
            "Connection header lacks the upgrade token (RFC 6455 §4.2.1)",
        ));
    }

    let key = check_key(head)?;
    check_version(head)?;
    Ok(accept_key(key))
}

/// RFC 6455 §4.2.1 item 5: exactly one `Sec-WebSocket-Key` (§11.3.1), whose
/// value base64-decodes to 16 bytes.
fn check_key(head: &RequestHead) -> Result<&str, HandshakeError> {
    let mut keys = head.headers_named("Sec-WebSocket-Key");
    let (Some(key), None) = (keys.next(), keys.next()) else {
        return Err(HandshakeError::bad_request(
            "need exactly one Sec-WebSocket-Key header (RFC 6455 §4.2.1, §11.3.1)",
        ));
    };

    let key = std::str::from_utf8(key.trim_ascii()).unwrap_or_default();
    let decoded_len = BASE64.decode(key).map_or(0, |nonce| nonce.len());
    if decoded_len != KEY_LEN {
        return Err(HandshakeError::bad_request(
            "Sec-WebSocket-Key is not 16 bytes in base64 (RFC 6455 §4.2.1)",
        ));
    }
    Ok(key)
}

/// RFC 6455 §4.2.1 item 6: `Sec-WebSocket-Version: 13`, once (§11.3.5).
/// Any other version is answered 426 (§4.4).
fn check_version(head: &RequestHead) -> Result<(), HandshakeError> {
    let mut versions = head.headers_named("Sec-WebSocket-Version");
    let version = match (versions.next(), versions.next()) {
        (Some(version), None) => version.trim_ascii(),
        _ => {
            return Err(HandshakeError::new(
                STATUS_UPGRADE_REQUIRED,
                "need one Sec-WebSocket-Version header (RFC 6455 §4.2.1)",
            ));
        }
    };

    if version != WEBSOCKET_VERSION.as_bytes() {
        return Err(HandshakeError::new(
            STATUS_UPGRADE_REQUIRED,
            format!(
                "Sec-WebSocket-Version {} is not 13 (RFC 6455 §4.4)",
                String::from_utf8_lossy(version)
            ),
        ));
    }
    Ok(())
}

/// The server's answer to the request's extension offers (RFC 6455 §9.1,
/// RFC 7692 §5.1): the permessage-deflate parameters agreed and the value of
/// the response's `Sec-WebSocket-Extensions`, or `None` if nothing acceptable
/// was offered.
pub fn negotiate_deflate(head: &RequestHead) -> Option<(DeflateParams, String)> {
    deflate::accept_offer(head.headers_named(EXTENSIONS_HEADER))
}

/// The whole `101 Switching Protocols` response (RFC 6455 §4.2.2 step 5).
pub fn switching_protocols(accept: &str) -> Vec<u8> {
    switching_protocols_with_extensions(accept, None)
}

/// Like [`switching_protocols`], with the extensions the server accepted
/// (RFC 6455 §4.2.2 step 5.5).
pub fn switching_protocols_with_extensions(accept: &str, extensions: Option<&str>) -> Vec<u8> {
    let extensions = match extensions {
        Some(value) => format!("{EXTENSIONS_HEADER}: {value}\r\n"),
        None => String::new(),
    };
    format!(
        "HTTP/1.1 101 Switching Protocols\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\
         {extensions}\
         \r\n"
    )
    .into_bytes()
}

/// A valid `101` response, as [`ClientHandshake::check_response_negotiated`]
/// reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// How many bytes the response head took; WebSocket frames follow.
    pub head_len: usize,
    /// permessage-deflate, if we offered it and the server accepted.
    pub deflate: Option<DeflateParams>,
}

/// The client's side of the opening handshake (RFC 6455 §4.1).
#[derive(Debug, Clone)]
pub struct ClientHandshake {
    host: String,
    path: String,
    key: String,
    /// Whether the request offers permessage-deflate ([`CLIENT_OFFER`]).
    offer_deflate: bool,
}

impl ClientHandshake {
    /// A handshake for `path` on `host` (with `:port` if not the default).
    /// `key` must be 16 fresh random bytes (RFC 6455 §4.1 item 7); see
    /// [`Self::random_key`].
    pub fn new(host: &str, path: &str, key: [u8; KEY_LEN]) -> Self {
        Self {
            host: host.to_owned(),
            path: path.to_owned(),
            key: BASE64.encode(key),
            offer_deflate: false,
        }
    }

    /// Offer permessage-deflate (RFC 7692 §5) with [`CLIENT_OFFER`].
    pub fn offering_deflate(mut self) -> Self {
        self.offer_deflate = true;
        self
    }

    /// 16 bytes from the thread-local CSPRNG, for [`Self::new`].
    pub fn random_key() -> [u8; KEY_LEN] {
        rand::random()
    }

    /// The `GET` request with the Upgrade headers (RFC 6455 §4.1).
    pub fn request(&self) -> Vec<u8> {
        format!(
            "GET {path} HTTP/1.1\r\n\
             Host: {host}\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\n\
             Sec-WebSocket-Version: {WEBSOCKET_VERSION}\r\n\
             {extensions}\
             \r\n",
            path = self.path,
            host = self.host,
            key = self.key,
            extensions = match self.offer_deflate {
                true => format!("{EXTENSIONS_HEADER}: {CLIENT_OFFER}\r\n"),
                false => String::new(),
            },
        )
        .into_bytes()
    }

    /// Check the server's response (RFC 6455 §4.1, "the client MUST validate
    /// the server's response"). `Ok(None)`: the head is not complete yet.
    /// `Ok(Some(n))`: a valid 101 took the first `n` bytes; any bytes after
    /// them are WebSocket frames for the `Connection`.
    pub fn check_response(&self, buf: &[u8]) -> Result<Option<usize>, HandshakeError> {
        let accepted = self.check_response_negotiated(buf)?;
        Ok(accepted.map(|accepted| accepted.head_len))
    }

    /// Like [`Self::check_response`], also saying whether permessage-deflate
    /// was agreed and with which parameters.
    pub fn check_response_negotiated(
        &self,
        buf: &[u8],
    ) -> Result<Option<Accepted>, HandshakeError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let head_len = match response.parse(buf) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) if buf.len() <= MAX_RESPONSE_HEAD => return Ok(None),
            Ok(httparse::Status::Partial) => {
                return Err(HandshakeError::new(0, "response head too long"));
            }
            Err(e) => return Err(HandshakeError::new(0, format!("malformed response: {e}"))),
        };

        let status = response.code.unwrap_or_default();
        check_response_headers(status, response.headers, &self.key)?;
        let deflate = self.check_extensions(status, response.headers)?;
        Ok(Some(Accepted { head_len, deflate }))
    }

    /// RFC 6455 §4.1 item 5: an extension we did not offer fails the
    /// handshake; RFC 7692 §5.1: so does an answer to our permessage-deflate
    /// offer that is not valid for it.
    fn check_extensions(
        &self,
        status: u16,
        headers: &[httparse::Header<'_>],
    ) -> Result<Option<DeflateParams>, HandshakeError> {
        let mut values = headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(EXTENSIONS_HEADER))
            .map(|h| h.value)
            .peekable();
        if !self.offer_deflate {
            return match values.peek() {
                Some(_) => Err(HandshakeError::new(
                    status,
                    "server selected an extension we did not offer (RFC 6455 §4.1)",
                )),
                None => Ok(None),
            };
        }
        deflate::check_response(values)
            .map_err(|error| HandshakeError::new(status, format!("{error} (RFC 7692 §5.1)")))
    }
}

/// The checks of RFC 6455 §4.1 on a complete response head, in its order.
fn check_response_headers(
    status: u16,
    headers: &[httparse::Header<'_>],
    key: &str,
) -> Result<(), HandshakeError> {
    let fail = |reason: &str| Err(HandshakeError::new(status, reason));

    // RFC 6455 §4.1 item 1: any status but 101 ends the handshake.
    if status != STATUS_SWITCHING_PROTOCOLS {
        return fail("server did not answer 101 Switching Protocols");
    }

    // RFC 6455 §4.1 items 2 and 3: Upgrade: websocket, Connection: Upgrade.
    if !has_token(headers, "Upgrade", "websocket") {
        return fail("response Upgrade header does not name websocket (RFC 6455 §4.1)");
    }
    if !has_token(headers, "Connection", "upgrade") {
        return fail("response Connection header lacks upgrade (RFC 6455 §4.1)");
    }

    // RFC 6455 §4.1 item 4: the accept value proves the server read our key.
    let accept = header(headers, "Sec-WebSocket-Accept").map(<[u8]>::trim_ascii);
    if accept != Some(accept_key(key).as_bytes()) {
        return fail("Sec-WebSocket-Accept does not match our key (RFC 6455 §4.1)");
    }

    // RFC 6455 §4.1 item 6: we asked for no subprotocol. Extensions (item
    // 5) are checked against our offer by `check_extensions`.
    if header(headers, "Sec-WebSocket-Protocol").is_some() {
        return fail("server selected a subprotocol we did not offer (RFC 6455 §4.1)");
    }
    Ok(())
}

fn header<'a>(headers: &[httparse::Header<'a>], name: &str) -> Option<&'a [u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))
        .map(|h| h.value)
}

/// Whether any `name` header lists `token` (RFC 9110 §5.6.1, any case).
fn has_token(headers: &[httparse::Header<'_>], name: &str, token: &str) -> bool {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case(name))
        .flat_map(|h| h.value.split(|&b| b == b','))
        .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Header, headers_from_httparse};

    /// The example key of RFC 6455 §1.3 and §4.2.2.
    const SAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
    const SAMPLE_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    fn request(headers: &[(&str, &str)]) -> RequestHead {
        RequestHead {
            method: "GET".into(),
            target: "/chat".into(),
            minor_version: 1,
            headers: headers
                .iter()
                .map(|(name, value)| Header {
                    name: name.to_string(),
                    value: value.as_bytes().to_vec(),
                })
                .collect(),
        }
    }

    fn browser_request() -> RequestHead {
        request(&[
            ("Host", "example.com"),
            ("Upgrade", "websocket"),
            ("Connection", "keep-alive, Upgrade"),
            ("Sec-WebSocket-Key", SAMPLE_KEY),
            ("Sec-WebSocket-Version", "13"),
        ])
    }

    fn without(name: &str) -> RequestHead {
        let mut head = browser_request();
        head.headers.retain(|h| !h.name.eq_ignore_ascii_case(name));
        head
    }

    fn with(name: &str, value: &str) -> RequestHead {
        let mut head = without(name);
        head.headers.push(Header {
            name: name.into(),
            value: value.as_bytes().to_vec(),
        });
        head
    }

    fn status_of(head: &RequestHead) -> u16 {
        check_upgrade_request(head).unwrap_err().status
    }

    #[test]
    fn accept_key_of_the_sample_rfc_6455_section_1_3() {
        assert_eq!(accept_key(SAMPLE_KEY), SAMPLE_ACCEPT);
    }

    #[test]
    fn browser_request_is_accepted() {
        assert_eq!(
            check_upgrade_request(&browser_request()).unwrap(),
            SAMPLE_ACCEPT
        );
    }

    #[test]
    fn tokens_match_in_any_case() {
        let head = request(&[
            ("host", "example.com"),
            ("upgrade", "WebSocket"),
            ("connection", "UPGRADE"),
            ("sec-websocket-key", SAMPLE_KEY),
            ("sec-websocket-version", "13"),
        ]);
        assert_eq!(check_upgrade_request(&head).unwrap(), SAMPLE_ACCEPT);
    }

    #[test]
    fn method_must_be_get_rfc_6455_section_4_2_1() {
        let head = RequestHead {
            method: "POST".into(),
            ..browser_request()
        };
        assert_eq!(status_of(&head), 400);
    }

    #[test]
    fn http_1_0_is_refused_rfc_6455_section_4_2_1() {
        let head = RequestHead {
            minor_version: 0,
            ..browser_request()
        };
        assert_eq!(status_of(&head), 400);
    }

    #[test]
    fn host_is_required_rfc_6455_section_4_2_1() {
        assert_eq!(status_of(&without("Host")), 400);
    }

    #[test]
    fn upgrade_must_name_websocket_rfc_6455_section_4_2_1() {
        assert_eq!(status_of(&without("Upgrade")), 400);
        assert_eq!(status_of(&with("Upgrade", "h2c")), 400);
    }

    #[test]
    fn connection_must_hold_upgrade_rfc_6455_section_4_2_1() {
        assert_eq!(status_of(&without("Connection")), 400);
        assert_eq!(status_of(&with("Connection", "keep-alive")), 400);
    }

    #[test]
    fn key_must_decode_to_16_bytes_rfc_6455_section_4_2_1() {
        assert_eq!(status_of(&without("Sec-WebSocket-Key")), 400);
        assert_eq!(status_of(&with("Sec-WebSocket-Key", "c2hvcnQ=")), 400);
        assert_eq!(status_of(&with("Sec-WebSocket-Key", "not base64!")), 400);
    }

    #[test]
    fn key_must_appear_once_rfc_6455_section_11_3_1() {
        let mut head = browser_request();
        head.headers.push(Header {
            name: "Sec-WebSocket-Key".into(),
            value: SAMPLE_KEY.as_bytes().to_vec(),
        });
        assert_eq!(status_of(&head), 400);
    }

    #[test]
    fn other_version_gets_426_rfc_6455_section_4_4() {
        let error = check_upgrade_request(&with("Sec-WebSocket-Version", "8")).unwrap_err();
        assert_eq!(error.status, 426);
        assert!(error.is_version_mismatch());
        assert!(!error.reason.contains('\n'));

        let missing = check_upgrade_request(&without("Sec-WebSocket-Version")).unwrap_err();
        assert!(missing.is_version_mismatch());
    }

    #[test]
    fn switching_protocols_response_rfc_6455_section_4_2_2() {
        let expected = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
                        Connection: Upgrade\r\nSec-WebSocket-Accept: \
                        s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
        assert_eq!(switching_protocols(SAMPLE_ACCEPT), expected.as_bytes());
    }

    /// A client whose key is the RFC sample nonce, "the sample nonce".
    fn sample_client() -> ClientHandshake {
        ClientHandshake::new("example.com:8080", "/chat", *b"the sample nonce")
    }

    #[test]
    fn client_request_carries_the_upgrade_headers_rfc_6455_section_4_1() {
        let request = String::from_utf8(sample_client().request()).unwrap();
        assert!(request.starts_with("GET /chat HTTP/1.1\r\nHost: example.com:8080\r\n"));
        assert!(request.contains(&format!("Sec-WebSocket-Key: {SAMPLE_KEY}\r\n")));
        assert!(request.contains("Sec-WebSocket-Version: 13\r\n"));
        assert!(request.ends_with("\r\n\r\n"));
    }

    #[test]
    fn server_accepts_what_the_client_requests() {
        let bytes = sample_client().request();
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut parsed = httparse::Request::new(&mut headers);
        assert!(parsed.parse(&bytes).unwrap().is_complete());
        let head = RequestHead {
            method: parsed.method.unwrap().into(),
            target: parsed.path.unwrap().into(),
            minor_version: parsed.version.unwrap(),
            headers: headers_from_httparse(parsed.headers),
        };
        assert_eq!(check_upgrade_request(&head).unwrap(), SAMPLE_ACCEPT);
    }

    #[test]
    fn client_accepts_the_101_and_reports_where_frames_start() {
        let mut bytes = switching_protocols(SAMPLE_ACCEPT);
        let head_len = bytes.len();
        bytes.extend_from_slice(&[0x81, 0x00]);
        let client = sample_client();
        assert_eq!(client.check_response(&bytes), Ok(Some(head_len)));
        for cut in 0..head_len {
            assert_eq!(client.check_response(&bytes[..cut]), Ok(None), "cut {cut}");
        }
    }

    #[test]
    fn client_refuses_a_status_other_than_101_rfc_6455_section_4_1() {
        let response = b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n\r\n";
        let error = sample_client().check_response(response).unwrap_err();
        assert_eq!(error.status, 426);
    }

    #[test]
    fn client_refuses_a_wrong_accept_rfc_6455_section_4_1() {
        let response = switching_protocols("AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
        let error = sample_client().check_response(&response).unwrap_err();
        assert!(error.reason.contains("Sec-WebSocket-Accept"), "{error}");
    }

    #[test]
    fn client_refuses_missing_upgrade_headers_rfc_6455_section_4_1() {
        let no_upgrade = format!(
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {SAMPLE_ACCEPT}\r\n\r\n"
        );
        let no_connection = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\
             Sec-WebSocket-Accept: {SAMPLE_ACCEPT}\r\n\r\n"
        );
        let client = sample_client();
        assert!(client.check_response(no_upgrade.as_bytes()).is_err());
        assert!(client.check_response(no_connection.as_bytes()).is_err());
    }

    #[test]
    fn client_refuses_an_extension_it_did_not_offer_rfc_6455_section_4_1() {
        let mut response = switching_protocols(SAMPLE_ACCEPT);
        response.truncate(response.len() - 2);
        response.extend_from_slice(b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n");
        assert!(sample_client().check_response(&response).is_err());
    }

    fn response_with_extensions(value: &str) -> Vec<u8> {
        switching_protocols_with_extensions(SAMPLE_ACCEPT, Some(value))
    }

    #[test]
    fn server_answers_with_the_agreed_extension_rfc_6455_section_4_2_2() {
        let head = with(
            "Sec-WebSocket-Extensions",
            "permessage-deflate; client_max_window_bits",
        );
        let (params, value) = negotiate_deflate(&head).unwrap();
        assert_eq!(params, DeflateParams::default());
        let response = String::from_utf8(response_with_extensions(&value)).unwrap();
        assert!(response.ends_with(
            "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
             Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
        ));
        assert_eq!(negotiate_deflate(&browser_request()), None);
    }

    #[test]
    fn client_offers_deflate_when_asked_rfc_7692_section_5() {
        let plain = String::from_utf8(sample_client().request()).unwrap();
        assert!(!plain.contains("Sec-WebSocket-Extensions"));
        let offering = String::from_utf8(sample_client().offering_deflate().request()).unwrap();
        assert!(offering.contains(&format!("Sec-WebSocket-Extensions: {CLIENT_OFFER}\r\n")));
        assert!(offering.ends_with("\r\n\r\n"));
    }

    #[test]
    fn client_takes_the_servers_deflate_parameters_rfc_7692_section_5_1() {
        let client = sample_client().offering_deflate();
        let response = response_with_extensions("permessage-deflate; client_max_window_bits=10");
        let accepted = client
            .check_response_negotiated(&response)
            .unwrap()
            .unwrap();
        assert_eq!(accepted.head_len, response.len());
        assert_eq!(accepted.deflate.unwrap().client_max_window_bits, 10);

        let declined = switching_protocols(SAMPLE_ACCEPT);
        let accepted = client
            .check_response_negotiated(&declined)
            .unwrap()
            .unwrap();
        assert_eq!(accepted.deflate, None);
    }

    #[test]
    fn client_fails_on_an_invalid_deflate_answer_rfc_7692_section_5_1() {
        let client = sample_client().offering_deflate();
        for value in [
            "permessage-deflate; client_max_window_bits",
            "permessage-deflate; server_max_window_bits=7",
            "x-webkit-deflate-frame",
        ] {
            let error = client
                .check_response(&response_with_extensions(value))
                .unwrap_err();
            assert!(error.reason.contains("RFC 7692"), "{value}: {error}");
        }
    }

    #[test]
    fn client_refuses_garbage_and_endless_heads() {
        let error = sample_client()
            .check_response(b"SSH-2.0-OpenSSH\r\n\r\n")
            .unwrap_err();
        assert_eq!(error.status, 0);
        let endless = [b'a'; MAX_RESPONSE_HEAD + 1];
        assert!(
            sample_client()
                .check_response(b"HTTP/1.1 101 OK\r\n")
                .is_ok()
        );
        let mut long = b"HTTP/1.1 101 OK\r\nX: ".to_vec();
        long.extend_from_slice(&endless);
        assert!(sample_client().check_response(&long).is_err());
    }
}
