//! Precompressed siblings: `NAME.br` and `NAME.gz` served for `NAME` when the client's
//! `Accept-Encoding` allows it.

/// A content coding with a sibling file on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Encoding {
    Brotli,
    Gzip,
}

impl Encoding {
    /// In order of preference.
    const ALL: [Encoding; 2] = [Encoding::Brotli, Encoding::Gzip];

    /// The `Content-Encoding` value.
    pub(super) fn token(self) -> &'static str {
        match self {
            Encoding::Brotli => "br",
            Encoding::Gzip => "gzip",
        }
    }

    /// What the sibling file's name adds to the original's.
    pub(super) fn file_suffix(self) -> &'static str {
        match self {
            Encoding::Brotli => ".br",
            Encoding::Gzip => ".gz",
        }
    }

    /// What the sibling's `ETag` adds inside the quotes, so the variants of one file
    /// never share a tag.
    pub(super) fn etag_suffix(self) -> &'static str {
        match self {
            Encoding::Brotli => "-br",
            Encoding::Gzip => "-gz",
        }
    }

    /// Whether `coding`, a name from `Accept-Encoding`, is this encoding.
    fn is_named(self, coding: &str) -> bool {
        match self {
            Encoding::Brotli => coding.eq_ignore_ascii_case("br"),
            // RFC 9110 section 8.4.1.3: x-gzip is an alias.
            Encoding::Gzip => coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip"),
        }
    }
}

/// The encodings `accept_encoding` allows, best first (`br`, then `gzip`, whatever
/// their weights): a coding is allowed by a non-zero weight on its own name, or
/// failing that on `*`.
pub(super) fn accepted(accept_encoding: &str) -> impl Iterator<Item = Encoding> + '_ {
    Encoding::ALL.into_iter().filter(|&encoding| {
        let mut named = None;
        let mut any = None;
        for (coding, weight) in codings(accept_encoding) {
            if encoding.is_named(coding) {
                named = Some(weight);
            } else if coding == "*" {
                any = Some(weight);
            }
        }
        named.or(any).is_some_and(|weight| weight > 0)
    })
}

/// The `(coding, weight in thousandths)` members of an `Accept-Encoding` value; a
/// member with a malformed weight is skipped.
fn codings(accept_encoding: &str) -> impl Iterator<Item = (&str, u16)> {
    accept_encoding.split(',').filter_map(|member| {
        let mut parameters = member.split(';');
        let coding = parameters.next()?.trim();
        let weight = parameters
            .map(str::trim)
            .find_map(|parameter| parameter.strip_prefix("q=").or_else(|| parameter.strip_prefix("Q=")));
        let weight = match weight {
            Some(weight) => qvalue(weight)?,
            None => 1000,
        };
        Some((coding, weight))
    })
}

/// `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`, in thousandths.
fn qvalue(text: &str) -> Option<u16> {
    let (units, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let digits = fraction.bytes().chain(std::iter::repeat(b'0')).take(3);
    let thousandths = digits.fold(0, |value, digit| value * 10 + u16::from(digit - b'0'));
    match units {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accepted_tokens(accept_encoding: &str) -> Vec<&'static str> {
        accepted(accept_encoding).map(Encoding::token).collect()
    }

    #[test]
    fn both_are_tried_best_first() {
        assert_eq!(accepted_tokens("gzip, deflate, br, zstd"), ["br", "gzip"]);
        assert_eq!(accepted_tokens("gzip;q=1, br;q=0.1"), ["br", "gzip"]);
        assert_eq!(accepted_tokens("GZIP"), ["gzip"]);
        assert_eq!(accepted_tokens("x-gzip"), ["gzip"]);
        assert_eq!(accepted_tokens("br"), ["br"]);
        assert_eq!(accepted_tokens(""), Vec::<&str>::new());
        assert_eq!(accepted_tokens("identity"), Vec::<&str>::new());
    }

    #[test]
    fn zero_weight_refuses() {
        assert_eq!(accepted_tokens("br;q=0, gzip"), ["gzip"]);
        assert_eq!(accepted_tokens("br; q=0.000, gzip ; Q=0."), Vec::<&str>::new());
        assert_eq!(accepted_tokens("br;q=0.001"), ["br"]);
    }

    #[test]
    fn star_covers_unnamed_codings_only() {
        assert_eq!(accepted_tokens("*"), ["br", "gzip"]);
        assert_eq!(accepted_tokens("*;q=0.5, br;q=0"), ["gzip"]);
        assert_eq!(accepted_tokens("gzip, *;q=0"), ["gzip"]);
    }

    #[test]
    fn malformed_weights_skip_the_member() {
        assert_eq!(accepted_tokens("br;q=2, gzip;q=abc"), Vec::<&str>::new());
        assert_eq!(accepted_tokens("br;q=0.5000, gzip;q=1.0"), ["gzip"]);
    }

    #[test]
    fn qvalues() {
        assert_eq!(qvalue("1"), Some(1000));
        assert_eq!(qvalue("1.000"), Some(1000));
        assert_eq!(qvalue("0.5"), Some(500));
        assert_eq!(qvalue("0.123"), Some(123));
        assert_eq!(qvalue("0"), Some(0));
        for text in ["1.5", "2", "", ".5", "0.1234", "-0", "0.-1", "nan"] {
            assert_eq!(qvalue(text), None, "{text}");
        }
    }
}
