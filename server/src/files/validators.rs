//! Validators (`ETag`, `Last-Modified`) and the conditional request headers that test
//! them, evaluated in the order of RFC 9110 section 13.2.2.
//!
//! Nothing here allocates: an `ETag` is compared with a client's tag by displaying it
//! into a writer that checks each piece against the tag's text.

use std::fmt::{self, Display, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use httpdate::HttpDate;

use super::Metadata;
use super::precompressed::Encoding;
use crate::http::Request;

/// The first second `httpdate` cannot format (year 10000).
const YEAR_10000: u64 = 253_402_300_800;

/// What identifies one version of a representation.
#[derive(Clone, Copy, Debug)]
pub(super) struct Validators {
    /// `None` when the file has no usable modification time: a tag from its length
    /// alone would claim a strength it lacks.
    pub(super) etag: Option<ETag>,
    /// Whole seconds since the epoch; `None` without a modification time (or one
    /// outside 1970..10000), never later than now.
    pub(super) modified: Option<u64>,
    /// `modified` is at least a second old, so it may serve in `If-Range`.
    strong_date: bool,
}

/// A strong entity-tag: `"<len>-<mtime secs>-<mtime nanos>[-br|-gz]"`, in hex.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct ETag {
    len: u64,
    secs: u64,
    nanos: u32,
    encoding: Option<Encoding>,
}

/// An HTTP-date of whole seconds since the epoch, formatted when displayed.
#[derive(Clone, Copy, Debug)]
pub(super) struct LastModified(u64);

/// The outcome of the preconditions of a GET or HEAD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Precondition {
    Proceed,
    /// 412 Precondition Failed.
    Failed,
    /// 304 Not Modified.
    NotModified,
}

impl Validators {
    /// The validators of a file with `metadata`, served with `encoding`.
    pub(super) fn new(metadata: &Metadata, encoding: Option<Encoding>) -> Validators {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |now| now.as_secs());
        Validators::at(metadata, encoding, now)
    }

    /// As [`new`](Self::new), for a response dated `now` (seconds since the epoch).
    fn at(metadata: &Metadata, encoding: Option<Encoding>, now: u64) -> Validators {
        let since_epoch = metadata.modified.and_then(|modified| modified.duration_since(UNIX_EPOCH).ok());
        let since_epoch = since_epoch.filter(|since_epoch| since_epoch.as_secs() < YEAR_10000);
        Validators {
            etag: since_epoch.map(|since_epoch| ETag {
                len: metadata.len,
                secs: since_epoch.as_secs(),
                nanos: since_epoch.subsec_nanos(),
                encoding,
            }),
            // A modification time in the future is sent as now (RFC 9110 section
            // 8.8.2.1: never later than `Date`).
            modified: since_epoch.map(|since_epoch| since_epoch.as_secs().min(now)),
            // Section 8.8.2.2: a date is a strong validator only if it is at least a
            // second before `Date`; the file may change again within the second.
            strong_date: since_epoch.is_some_and(|since_epoch| since_epoch.as_secs() < now),
        }
    }

    pub(super) fn last_modified(&self) -> Option<LastModified> {
        self.modified.map(LastModified)
    }

    /// Evaluates the preconditions of `request` (a GET or HEAD) against these
    /// validators; the representation exists.
    pub(super) fn evaluate(&self, request: &Request<'_>) -> Precondition {
        if let Some(if_match) = request.fields.if_match {
            if !self.matches_any(if_match, Comparison::Strong) {
                return Precondition::Failed;
            }
        } else if let Some(since) = request.fields.if_unmodified_since.and_then(parse_date) {
            if self.modified.is_some_and(|modified| modified > since) {
                return Precondition::Failed;
            }
        }
        if let Some(if_none_match) = request.fields.if_none_match {
            if self.matches_any(if_none_match, Comparison::Weak) {
                return Precondition::NotModified;
            }
        } else if let Some(since) = request.fields.if_modified_since.and_then(parse_date) {
            if self.modified.is_some_and(|modified| modified <= since) {
                return Precondition::NotModified;
            }
        }
        Precondition::Proceed
    }

    /// Whether an `If-Range` value still names this representation, so the range
    /// applies: an entity-tag by strong comparison, or a date equal to
    /// `Last-Modified`.
    pub(super) fn if_range_holds(&self, if_range: &str) -> bool {
        let if_range = if_range.trim();
        if if_range.starts_with("W/") {
            false
        } else if if_range.starts_with('"') {
            self.etag.is_some_and(|etag| display_eq(etag, if_range))
        } else {
            self.strong_date && parse_date(if_range).is_some_and(|date| self.modified == Some(date))
        }
    }

    /// Whether an `If-Match` / `If-None-Match` value lists this representation. `*`
    /// matches any existing representation; a malformed list ends at its first
    /// malformed member.
    fn matches_any(&self, list: &str, comparison: Comparison) -> bool {
        if list.trim() == "*" {
            return true;
        }
        let Some(etag) = self.etag else { return false };
        EntityTags { rest: list }
            .any(|tag| (comparison == Comparison::Weak || !tag.weak) && display_eq(etag, tag.quoted))
    }
}

impl Display for ETag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let suffix = self.encoding.map_or("", Encoding::etag_suffix);
        write!(f, "\"{:x}-{:x}-{:x}{suffix}\"", self.len, self.secs, self.nanos)
    }
}

impl Display for LastModified {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Below YEAR_10000 (checked in `Validators::new`), so `HttpDate` cannot panic.
        HttpDate::from(UNIX_EPOCH + Duration::from_secs(self.0)).fmt(f)
    }
}

/// How two entity-tags are compared (RFC 9110 section 8.8.3.2): strong requires both
/// to be strong; weak compares the opaque tags alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Comparison {
    Strong,
    Weak,
}

/// One member of an entity-tag list.
#[derive(Debug, PartialEq, Eq)]
struct EntityTag<'a> {
    weak: bool,
    /// The opaque tag with its quotes.
    quoted: &'a str,
}

/// The members of `#entity-tag`, which cannot be split at commas: a tag may hold one.
#[derive(Debug)]
struct EntityTags<'a> {
    rest: &'a str,
}

impl<'a> Iterator for EntityTags<'a> {
    type Item = EntityTag<'a>;

    fn next(&mut self) -> Option<EntityTag<'a>> {
        let rest = self.rest.trim_start_matches([' ', '\t', ',']);
        let (weak, rest) = match rest.strip_prefix("W/") {
            Some(rest) => (true, rest),
            None => (false, rest),
        };
        self.rest = "";
        let end = rest.strip_prefix('"')?.find('"')? + 2;
        let (quoted, after) = rest.split_at(end);
        let next = after.trim_start_matches([' ', '\t']);
        if !(next.is_empty() || next.starts_with(',')) {
            return None;
        }
        self.rest = after;
        Some(EntityTag { weak, quoted })
    }
}

/// Seconds since the epoch of a valid HTTP-date; `None` for anything else, which the
/// conditional headers then ignore.
pub(super) fn parse_date(value: &str) -> Option<u64> {
    let date = httpdate::parse_http_date(value.trim()).ok()?;
    Some(date.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs())
}

/// Whether `value` displays as exactly `text`, without formatting it into a buffer.
fn display_eq(value: impl Display, text: &str) -> bool {
    struct Compare<'t> {
        rest: &'t str,
    }

    impl Write for Compare<'_> {
        fn write_str(&mut self, piece: &str) -> fmt::Result {
            self.rest = self.rest.strip_prefix(piece).ok_or(fmt::Error)?;
            Ok(())
        }
    }

    let mut compare = Compare { rest: text };
    write!(compare, "{value}").is_ok() && compare.rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::FileKind;

    /// Sun, 06 Nov 1994 08:49:37 GMT.
    const MODIFIED: u64 = 784_111_777;
    const MODIFIED_DATE: &str = "Sun, 06 Nov 1994 08:49:37 GMT";
    const ETAG: &str = "\"1a-2ebc98a1-7b\"";

    fn validators() -> Validators {
        let modified = UNIX_EPOCH + Duration::new(MODIFIED, 123);
        Validators::new(&Metadata { kind: FileKind::File, len: 26, modified: Some(modified) }, None)
    }

    fn evaluate(fields: &[(&str, &'static str)]) -> Precondition {
        let mut request = crate::files::tests::request("/");
        for &(name, value) in fields {
            match name {
                "If-Match" => request.fields.if_match = Some(value),
                "If-None-Match" => request.fields.if_none_match = Some(value),
                "If-Modified-Since" => request.fields.if_modified_since = Some(value),
                "If-Unmodified-Since" => request.fields.if_unmodified_since = Some(value),
                _ => unreachable!("{name}"),
            }
        }
        validators().evaluate(&request)
    }

    #[test]
    fn etags_are_hex_fields_with_an_encoding_suffix() {
        assert_eq!(validators().etag.unwrap().to_string(), ETAG);
        let metadata =
            Metadata { kind: FileKind::File, len: 255, modified: Some(UNIX_EPOCH + Duration::new(16, 0)) };
        assert_eq!(
            Validators::new(&metadata, Some(Encoding::Brotli)).etag.unwrap().to_string(),
            "\"ff-10-0-br\""
        );
        assert_eq!(
            Validators::new(&metadata, Some(Encoding::Gzip)).etag.unwrap().to_string(),
            "\"ff-10-0-gz\""
        );
    }

    #[test]
    fn last_modified_is_whole_seconds() {
        assert_eq!(validators().last_modified().unwrap().to_string(), MODIFIED_DATE);
    }

    #[test]
    fn no_usable_mtime_means_no_validators() {
        let before_epoch = UNIX_EPOCH - Duration::from_secs(1);
        let after_9999 = UNIX_EPOCH + Duration::from_secs(YEAR_10000);
        for modified in [None, Some(before_epoch), Some(after_9999)] {
            let validators = Validators::new(&Metadata { kind: FileKind::File, len: 1, modified }, None);
            assert!(validators.etag.is_none() && validators.last_modified().is_none());
            assert!(!validators.if_range_holds(MODIFIED_DATE));
            assert!(!validators.matches_any(ETAG, Comparison::Weak));
            assert!(validators.matches_any("*", Comparison::Strong));
        }
    }

    #[test]
    fn entity_tag_lists_respect_quotes() {
        let tags: Vec<_> = EntityTags { rest: r#""a", W/"b,c" ,"",  "d""# }.collect();
        let expected = [(false, r#""a""#), (true, r#""b,c""#), (false, r#""""#), (false, r#""d""#)];
        assert_eq!(tags, expected.map(|(weak, quoted)| EntityTag { weak, quoted }));
        assert_eq!(EntityTags { rest: r#""a", b, "c""# }.count(), 1);
        assert_eq!(EntityTags { rest: r#""a"x"# }.count(), 0);
        assert_eq!(EntityTags { rest: r#""unterminated"# }.count(), 0);
    }

    #[test]
    fn if_match_compares_strongly() {
        assert_eq!(evaluate(&[("If-Match", "*")]), Precondition::Proceed);
        assert_eq!(evaluate(&[("If-Match", "\"x\", \"1a-2ebc98a1-7b\"")]), Precondition::Proceed);
        assert_eq!(evaluate(&[("If-Match", "W/\"1a-2ebc98a1-7b\"")]), Precondition::Failed);
        assert_eq!(evaluate(&[("If-Match", "\"1a-2ebc98a1-7c\"")]), Precondition::Failed);
        assert_eq!(evaluate(&[("If-Match", "\"1A-2EBC98A1-7B\"")]), Precondition::Failed);
    }

    #[test]
    fn if_unmodified_since_applies_only_without_if_match() {
        assert_eq!(
            evaluate(&[("If-Unmodified-Since", "Sun, 06 Nov 1994 08:49:36 GMT")]),
            Precondition::Failed
        );
        assert_eq!(evaluate(&[("If-Unmodified-Since", MODIFIED_DATE)]), Precondition::Proceed);
        assert_eq!(evaluate(&[("If-Unmodified-Since", "yesterday")]), Precondition::Proceed);
        let fields = [("If-Match", ETAG), ("If-Unmodified-Since", "Sun, 06 Nov 1994 08:49:36 GMT")];
        assert_eq!(evaluate(&fields), Precondition::Proceed);
    }

    #[test]
    fn if_none_match_compares_weakly() {
        assert_eq!(evaluate(&[("If-None-Match", ETAG)]), Precondition::NotModified);
        assert_eq!(evaluate(&[("If-None-Match", "W/\"1a-2ebc98a1-7b\"")]), Precondition::NotModified);
        assert_eq!(evaluate(&[("If-None-Match", "*")]), Precondition::NotModified);
        assert_eq!(evaluate(&[("If-None-Match", "\"other\"")]), Precondition::Proceed);
    }

    #[test]
    fn if_modified_since_applies_only_without_if_none_match() {
        assert_eq!(evaluate(&[("If-Modified-Since", MODIFIED_DATE)]), Precondition::NotModified);
        assert_eq!(
            evaluate(&[("If-Modified-Since", "Sun, 06 Nov 1994 08:49:36 GMT")]),
            Precondition::Proceed
        );
        assert_eq!(
            evaluate(&[("If-Modified-Since", "Sunday, 06-Nov-94 08:49:37 GMT")]),
            Precondition::NotModified
        );
        assert_eq!(evaluate(&[("If-Modified-Since", "not a date")]), Precondition::Proceed);
        let fields = [("If-None-Match", "\"other\""), ("If-Modified-Since", MODIFIED_DATE)];
        assert_eq!(evaluate(&fields), Precondition::Proceed);
    }

    #[test]
    fn a_failed_if_match_wins_over_if_none_match() {
        let fields = [("If-Match", "\"other\""), ("If-None-Match", ETAG)];
        assert_eq!(evaluate(&fields), Precondition::Failed);
    }

    #[test]
    fn if_range_needs_a_strong_tag_or_the_exact_date() {
        let validators = validators();
        assert!(validators.if_range_holds(ETAG));
        assert!(!validators.if_range_holds("W/\"1a-2ebc98a1-7b\""));
        assert!(!validators.if_range_holds("\"other\""));
        assert!(validators.if_range_holds(MODIFIED_DATE));
        assert!(!validators.if_range_holds("Sun, 06 Nov 1994 08:49:38 GMT"));
        assert!(!validators.if_range_holds("garbage"));
    }

    #[test]
    fn display_eq_needs_the_whole_text() {
        assert!(display_eq(42, "42"));
        assert!(!display_eq(42, "4"));
        assert!(!display_eq(42, "420"));
    }
}
