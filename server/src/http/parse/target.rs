//! The request target (RFC 9112 section 3.2) and the authority grammar it shares with
//! `Host` (RFC 9110 section 7.2, RFC 3986 section 3.2).

use crate::http::{Error, Method, Status};

/// A request target taken apart; every string borrows the target.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Target<'a> {
    /// Still percent-encoded; `*` for `OPTIONS *`, empty for CONNECT.
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// From an absolute-form or authority-form target: it wins over `Host`.
    pub authority: Option<&'a str>,
}

/// Splits `target` by its form; the form must suit `method`.
pub(super) fn split(method: Method, target: &str) -> Result<Target<'_>, Error> {
    // Raw non-ASCII has no meaning in a URI, and `#` starts a fragment, which a client
    // never sends (RFC 9112 section 3.2).
    if target.bytes().any(|b| b == b'#' || !b.is_ascii()) {
        return Err(invalid("fragment or non-ASCII byte in request target"));
    }
    if method == Method::Connect {
        return authority_form(target);
    }
    if target.starts_with('/') {
        let (path, query) = split_query(target);
        return Ok(Target { path, query, authority: None });
    }
    if target == "*" {
        return match method {
            Method::Options => Ok(Target { path: "*", query: None, authority: None }),
            _ => Err(invalid("asterisk-form target on a method other than OPTIONS")),
        };
    }
    absolute_form(target)
}

/// `http://host[:port][/path][?query]`; the scheme is case-insensitive.
fn absolute_form(target: &str) -> Result<Target<'_>, Error> {
    let Some((scheme, rest)) = target.split_once("://") else {
        return Err(invalid("request target in no known form"));
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(invalid("absolute-form target with a scheme other than http(s)"));
    }
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path_and_query) = rest.split_at(end);
    if !is_authority(authority.as_bytes(), false) {
        return Err(invalid("invalid authority in absolute-form target"));
    }
    let (path, query) = split_query(path_and_query);
    Ok(Target { path: if path.is_empty() { "/" } else { path }, query, authority: Some(authority) })
}

/// CONNECT's `host:port` (RFC 9112 section 3.2.3).
fn authority_form(target: &str) -> Result<Target<'_>, Error> {
    if !is_authority(target.as_bytes(), true) {
        return Err(invalid("CONNECT without an authority-form target"));
    }
    Ok(Target { path: "", query: None, authority: Some(target) })
}

fn split_query(path_and_query: &str) -> (&str, Option<&str>) {
    match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    }
}

fn invalid(reason: &'static str) -> Error {
    Error::new(Status::BAD_REQUEST, reason)
}

/// Whether `s` is `uri-host [":" port]` with a non-empty host and no userinfo; the
/// port may be empty unless `port_required`.
pub(super) fn is_authority(s: &[u8], port_required: bool) -> bool {
    let (host, port) = match s.first() {
        Some(b'[') => match s.iter().position(|&b| b == b']') {
            Some(close) => (&s[..=close], &s[close + 1..]),
            None => return false,
        },
        _ => s.split_at(s.iter().position(|&b| b == b':').unwrap_or(s.len())),
    };
    let port_ok = match port.split_first() {
        Some((b':', digits)) => {
            digits.iter().all(u8::is_ascii_digit) && !(port_required && digits.is_empty())
        }
        Some(_) => false,
        None => !port_required,
    };
    port_ok && is_host(host)
}

/// `IP-literal / IPv4address / reg-name`, non-empty. An IP literal is checked for its
/// alphabet only: what matters here is that nothing outside the URI grammar (`/`, `@`,
/// spaces, quotes) gets through.
fn is_host(host: &[u8]) -> bool {
    if let Some(literal) = host.strip_prefix(b"[").and_then(|h| h.strip_suffix(b"]")) {
        return !literal.is_empty() && literal.iter().all(|&b| b == b':' || is_unreserved_or_sub_delim(b));
    }
    !host.is_empty() && is_reg_name(host)
}

/// `*( unreserved / pct-encoded / sub-delims )`.
fn is_reg_name(name: &[u8]) -> bool {
    let mut i = 0;
    while i < name.len() {
        match name[i] {
            b'%' if name.get(i + 1..i + 3).is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)) => i += 3,
            b if is_unreserved_or_sub_delim(b) => i += 1,
            _ => return false,
        }
    }
    true
}

fn is_unreserved_or_sub_delim(b: u8) -> bool {
    UNRESERVED_OR_SUB_DELIM[usize::from(b)]
}

/// A table, since a host is checked on every request.
const UNRESERVED_OR_SUB_DELIM: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric()
            || matches!(b as u8, b'-' | b'.' | b'_' | b'~')
            || matches!(b as u8, b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=');
        b += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    fn target<'a>(method: Method, target: &'a str) -> Target<'a> {
        split(method, target).unwrap_or_else(|e| panic!("{target}: {e}"))
    }

    fn refused(method: Method, target: &str) -> bool {
        split(method, target).is_err_and(|e| e.status == Status::BAD_REQUEST)
    }

    #[test]
    fn origin_form_splits_at_the_first_question_mark() {
        assert_eq!(
            target(Method::Get, "/a/b%20c"),
            Target { path: "/a/b%20c", query: None, authority: None }
        );
        assert_eq!(target(Method::Get, "/a?b?c"), Target { path: "/a", query: Some("b?c"), authority: None });
        assert_eq!(target(Method::Get, "/?"), Target { path: "/", query: Some(""), authority: None });
    }

    #[test]
    fn absolute_form_gives_the_authority() {
        let t = target(Method::Get, "http://example.com:8080/x?y");
        assert_eq!(t, Target { path: "/x", query: Some("y"), authority: Some("example.com:8080") });
        let t = target(Method::Head, "HTTPS://[::1]");
        assert_eq!(t, Target { path: "/", query: None, authority: Some("[::1]") });
        let t = target(Method::Get, "http://h?q");
        assert_eq!(t, Target { path: "/", query: Some("q"), authority: Some("h") });
    }

    #[test]
    fn absolute_form_refuses_other_schemes_userinfo_and_empty_hosts() {
        assert!(refused(Method::Get, "ftp://example.com/"));
        assert!(refused(Method::Get, "http://user@example.com/"));
        assert!(refused(Method::Get, "http:///path"));
        assert!(refused(Method::Get, "http:/path"));
        assert!(refused(Method::Get, "http://exa mple/"));
    }

    #[test]
    fn asterisk_form_is_for_options_only() {
        assert_eq!(target(Method::Options, "*"), Target { path: "*", query: None, authority: None });
        assert!(refused(Method::Get, "*"));
        assert!(refused(Method::Options, "*x"));
    }

    #[test]
    fn authority_form_is_for_connect_only_and_connect_takes_only_it() {
        let t = target(Method::Connect, "example.com:443");
        assert_eq!(t, Target { path: "", query: None, authority: Some("example.com:443") });
        assert!(refused(Method::Connect, "example.com"));
        assert!(refused(Method::Connect, "example.com:"));
        assert!(refused(Method::Connect, "/"));
        assert!(refused(Method::Get, "example.com:443"));
    }

    #[test]
    fn relative_paths_fragments_and_raw_non_ascii_are_refused() {
        assert!(refused(Method::Get, "index.html"));
        assert!(refused(Method::Get, "/a#b"));
        assert!(refused(Method::Get, "/caf\u{e9}"));
        assert_eq!(target(Method::Get, "/caf%C3%A9").path, "/caf%C3%A9");
    }

    #[test]
    fn authority_grammar() {
        for ok in ["a", "a.b-c_d~", "a:", "a:80", "1.2.3.4:5", "[::1]:8", "[v1.x]", "a%2Db", "xn--caf-dma"] {
            assert!(is_authority(ok.as_bytes(), false), "{ok}");
        }
        for bad in
            ["", ":80", "a:b", "a:8:8", "[::1", "[]", "[::1]x", "a/b", "u@h", "a b", "a%2", "a%zz", "\"a\""]
        {
            assert!(!is_authority(bad.as_bytes(), false), "{bad}");
        }
        assert!(is_authority(b"a:1", true));
        assert!(!is_authority(b"a", true));
    }
}
