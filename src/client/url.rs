//! The two URL shapes the clients accept: `ws://host:port/path` and
//! `http://host:port[/path]`.
//!
//! Parsing is the `url` crate's (the WHATWG URL standard, which browsers follow);
//! this module only narrows the result to what a chat client can use: a scheme,
//! a host (a name, an IPv4 address, or an IPv6 address in brackets), a port, and
//! a path with an optional query. TLS is not implemented, so `wss://` and
//! `https://` are refused with an error that says so rather than silently
//! connecting in the clear.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// Default port of `ws://` (RFC 6455 §3) and `http://` (RFC 9110 §4.2.1).
pub const DEFAULT_PORT: u16 = 80;

/// Which protocol the URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `ws://`: a WebSocket over plain TCP.
    Ws,
    /// `http://`: HTTP/1.1 over plain TCP.
    Http,
}

impl Scheme {
    /// The scheme's name as written in a URL.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Ws => "ws",
            Scheme::Http => "http",
        }
    }
}

/// A parsed `ws://` or `http://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub scheme: Scheme,
    /// The host as written, without brackets for IPv6 (`::1`, not `[::1]`).
    pub host: String,
    pub port: u16,
    /// The path and query, always starting with `/` (`/` when the URL had none).
    pub path: String,
}

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlError {
    /// Not a URL at all (the `url` crate's reason: no scheme, an empty host, a port out of
    /// range, ...).
    Malformed(String),
    /// `wss://` or `https://`: this crate has no TLS.
    TlsNotSupported(String),
    /// A scheme other than ws, wss, http or https.
    UnknownScheme(String),
    /// The port is 0, which no server listens on.
    InvalidPort,
    /// A `#fragment`: it has no meaning in a request (RFC 6455 §3 forbids it for ws).
    FragmentNotAllowed,
    /// `user@host`: credentials in URLs are not supported.
    UserInfoNotSupported,
}

impl fmt::Display for UrlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlError::Malformed(why) => write!(f, "not a valid URL: {why}"),
            UrlError::TlsNotSupported(s) => write!(
                f,
                "{s}:// needs TLS, which pushpull does not implement; use ws:// or http://"
            ),
            UrlError::UnknownScheme(s) => {
                write!(f, "unknown URL scheme {s:?} (expected ws:// or http://)")
            }
            UrlError::InvalidPort => write!(f, "URL port must be a number from 1 to 65535"),
            UrlError::FragmentNotAllowed => write!(f, "URL must not have a #fragment"),
            UrlError::UserInfoNotSupported => write!(f, "URL credentials (user@) not supported"),
        }
    }
}

impl std::error::Error for UrlError {}

impl From<UrlError> for io::Error {
    fn from(e: UrlError) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidInput, e)
    }
}

impl Url {
    /// Parses a `ws://` or `http://` URL.
    pub fn parse(input: &str) -> Result<Url, UrlError> {
        let parsed = url::Url::parse(input).map_err(|e| UrlError::Malformed(e.to_string()))?;
        let scheme = parse_scheme(parsed.scheme())?;

        // RFC 6455 §3: fragment identifiers MUST NOT be used in ws URIs.
        if parsed.fragment().is_some() {
            return Err(UrlError::FragmentNotAllowed);
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(UrlError::UserInfoNotSupported);
        }

        // ws and http are "special" schemes to the URL standard, which guarantees them a
        // non-empty host; IPv6 literals are unbracketed here and bracketed in `Host`.
        let host = match parsed.host() {
            Some(url::Host::Ipv6(address)) => address.to_string(),
            Some(host) => host.to_string(),
            None => return Err(UrlError::Malformed("no host".into())),
        };
        let port = parsed.port().unwrap_or(DEFAULT_PORT);
        if port == 0 {
            return Err(UrlError::InvalidPort);
        }

        let path = match parsed.query() {
            Some(query) => format!("{}?{query}", parsed.path()),
            None => parsed.path().to_string(),
        };
        Ok(Url {
            scheme,
            host,
            port,
            path,
        })
    }

    /// The value for the `Host` header (RFC 9110 §7.2): the port is included
    /// only when it is not the default one.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == DEFAULT_PORT {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    /// Resolves the host to socket addresses (a DNS lookup for names; this
    /// call may block).
    pub fn socket_addrs(&self) -> io::Result<Vec<SocketAddr>> {
        Ok((self.host.as_str(), self.port).to_socket_addrs()?.collect())
    }

    /// The first address the host resolves to.
    pub fn socket_addr(&self) -> io::Result<SocketAddr> {
        self.socket_addrs()?.into_iter().next().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{} resolves to no address", self.host),
            )
        })
    }

    /// The same URL with a different path (and query).
    pub fn with_path(&self, path: &str) -> Url {
        Url {
            path: path.to_string(),
            ..self.clone()
        }
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}{}",
            self.scheme.as_str(),
            self.host_header(),
            self.path
        )
    }
}

fn parse_scheme(name: &str) -> Result<Scheme, UrlError> {
    match name.to_ascii_lowercase().as_str() {
        "ws" => Ok(Scheme::Ws),
        "http" => Ok(Scheme::Http),
        "wss" | "https" => Err(UrlError::TlsNotSupported(name.to_ascii_lowercase())),
        _ => Err(UrlError::UnknownScheme(name.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ws_url_with_port_and_path() {
        let url = Url::parse("ws://127.0.0.1:9001/runCase?case=3&agent=pushpull").unwrap();
        assert_eq!(url.scheme, Scheme::Ws);
        assert_eq!(url.host, "127.0.0.1");
        assert_eq!(url.port, 9001);
        assert_eq!(url.path, "/runCase?case=3&agent=pushpull");
        assert_eq!(url.host_header(), "127.0.0.1:9001");
    }

    #[test]
    fn http_url_without_path_gets_root_and_default_port() {
        let url = Url::parse("http://localhost").unwrap();
        assert_eq!(url.scheme, Scheme::Http);
        assert_eq!(url.port, DEFAULT_PORT);
        assert_eq!(url.path, "/");
        assert_eq!(url.host_header(), "localhost");
        assert_eq!(url.to_string(), "http://localhost/");
    }

    #[test]
    fn query_without_path_is_rooted() {
        let url = Url::parse("ws://h:1?x=1").unwrap();
        assert_eq!(url.path, "/?x=1");
    }

    #[test]
    fn ipv6_literal_keeps_brackets_only_in_host_header() {
        let url = Url::parse("ws://[::1]:8080/ws").unwrap();
        assert_eq!(url.host, "::1");
        assert_eq!(url.host_header(), "[::1]:8080");
        assert_eq!(url.socket_addr().unwrap(), "[::1]:8080".parse().unwrap());
    }

    #[test]
    fn tls_schemes_are_refused_with_a_clear_error() {
        for input in ["wss://example.com/", "https://example.com/", "WSS://x/"] {
            let err = Url::parse(input).unwrap_err();
            assert!(matches!(err, UrlError::TlsNotSupported(_)), "{input}");
            assert!(err.to_string().contains("TLS"));
        }
    }

    #[test]
    fn malformed_urls_are_refused() {
        for input in [
            "127.0.0.1:80",
            "ws://:80/",
            "ws://[::1/",
            "ws://h:99999/",
            "ws://h:x/",
        ] {
            let err = Url::parse(input).unwrap_err();
            assert!(matches!(err, UrlError::Malformed(_)), "{input}: {err:?}");
        }
        assert_eq!(
            Url::parse("ftp://h/").unwrap_err(),
            UrlError::UnknownScheme("ftp".into())
        );
        assert_eq!(Url::parse("ws://h:0/").unwrap_err(), UrlError::InvalidPort);
        assert_eq!(
            Url::parse("ws://u:p@h/").unwrap_err(),
            UrlError::UserInfoNotSupported
        );
    }

    #[test]
    fn default_port_written_out_is_the_default_port() {
        let url = Url::parse("ws://h:80/ws").unwrap();
        assert_eq!((url.port, url.host_header()), (80, "h".to_string()));
    }

    #[test]
    fn rfc6455_section3_fragment_is_refused() {
        assert_eq!(
            Url::parse("ws://h/chat#x").unwrap_err(),
            UrlError::FragmentNotAllowed
        );
    }
}
