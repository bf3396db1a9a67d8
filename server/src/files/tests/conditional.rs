//! Validators, preconditions and ranges, through `respond`.

use super::*;

/// The `ETag` and `Last-Modified` of a plain GET.
fn validators_of(root: &TempRoot, path: &str) -> (String, String) {
    let response = get(root, &config(), &request(path));
    (response.field("ETag").unwrap().to_string(), response.field("Last-Modified").unwrap().to_string())
}

#[test]
fn if_none_match_and_if_modified_since_give_304() {
    let root = site();
    let (etag, last_modified) = validators_of(&root, "/hello.txt");
    let (etag, last_modified) = (etag.as_str(), last_modified.as_str());
    let config = FileConfig { cache_control: Some("no-cache".into()), ..config() };
    for method in [Method::Get, Method::Head] {
        let response = get(
            &root,
            &config,
            &with("/hello.txt", |request| {
                request.method = method;
                request.fields.if_none_match = Some(etag);
            }),
        );
        assert_eq!(response.status, 304);
        assert_eq!(response.field("ETag"), Some(etag));
        assert_eq!(response.field("Last-Modified"), Some(last_modified));
        assert_eq!(
            (response.field("Cache-Control"), response.field("Vary")),
            (Some("no-cache"), Some("Accept-Encoding"))
        );
        assert_eq!((response.field("Content-Length"), response.field("Content-Type")), (None, None));
        assert!(response.body.is_empty());
    }
    let since = with("/hello.txt", |request| request.fields.if_modified_since = Some(last_modified));
    assert_eq!(get(&root, &config, &since).status, 304);
    let both = with("/hello.txt", |request| {
        request.fields.if_none_match = Some("\"other\"");
        request.fields.if_modified_since = Some(last_modified);
    });
    assert_eq!(get(&root, &config, &both).status, 200);
    let old = with("/hello.txt", |request| {
        request.fields.if_modified_since = Some("Sun, 06 Nov 1994 08:49:37 GMT")
    });
    assert_eq!(get(&root, &config, &old).status, 200);
}

#[test]
fn failed_preconditions_are_412() {
    let root = site();
    let (etag, _) = validators_of(&root, "/hello.txt");
    let etag = etag.as_str();
    assert_eq!(
        get(&root, &config(), &with("/hello.txt", |request| request.fields.if_match = Some("\"other\"")))
            .status,
        412
    );
    assert_eq!(
        get(&root, &config(), &with("/hello.txt", |request| request.fields.if_match = Some(etag))).status,
        200
    );
    assert_eq!(
        get(&root, &config(), &with("/hello.txt", |request| request.fields.if_match = Some("*"))).status,
        200
    );
    let past = with("/hello.txt", |request| {
        request.fields.if_unmodified_since = Some("Sun, 06 Nov 1994 08:49:37 GMT")
    });
    assert_eq!(get(&root, &config(), &past).status, 412);
    assert_eq!(
        get(&root, &config(), &with("/missing", |request| request.fields.if_match = Some("*"))).status,
        404
    );
}

#[test]
fn a_single_range_is_206() {
    let root = site();
    let response =
        get(&root, &config(), &with("/digits.bin", |request| request.fields.range = Some("bytes=2-4")));
    assert_eq!((response.status, response.body.as_slice()), (206, &b"234"[..]));
    assert_eq!(response.field("Content-Range"), Some("bytes 2-4/10"));
    assert_eq!(response.field("Content-Length"), Some("3"));
    assert_eq!(response.field("Content-Type"), Some("application/octet-stream"));
    assert!(response.field("ETag").is_some());
    let response =
        get(&root, &config(), &with("/digits.bin", |request| request.fields.range = Some("bytes=-3")));
    assert_eq!(
        (response.body.as_slice(), response.field("Content-Range")),
        (&b"789"[..], Some("bytes 7-9/10"))
    );
}

#[test]
fn several_ranges_are_multipart() {
    let root = site();
    let response = get(
        &root,
        &config(),
        &with("/digits.bin", |request| request.fields.range = Some("bytes=8-, 0-1, 1-2")),
    );
    assert_eq!(response.status, 206);
    let content_type = response.field("Content-Type").unwrap();
    let boundary = content_type.strip_prefix("multipart/byteranges; boundary=").unwrap();
    assert!(boundary.len() >= 16 && boundary.bytes().all(|byte| byte.is_ascii_hexdigit()));
    let expected = format!(
        "--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 0-2/10\r\n\r\n012\
         \r\n--{boundary}\r\nContent-Type: application/octet-stream\r\nContent-Range: bytes 8-9/10\r\n\r\n89\
         \r\n--{boundary}--\r\n"
    );
    assert_eq!(response.body_text(), expected);
    assert_eq!(response.field("Content-Length"), Some(expected.len().to_string().as_str()));
}

#[test]
fn unsatisfiable_ranges_are_416() {
    let root = site();
    let response =
        get(&root, &config(), &with("/digits.bin", |request| request.fields.range = Some("bytes=10-")));
    assert_eq!(response.status, 416);
    assert_eq!(response.field("Content-Range"), Some("bytes */10"));
    let response = get(&root, &config(), &with("/empty", |request| request.fields.range = Some("bytes=0-")));
    assert_eq!((response.status, response.field("Content-Range")), (416, Some("bytes */0")));
}

#[test]
fn ranges_are_ignored_when_unusable() {
    let root = site();
    let seventeen = (0..17).map(|index| format!("{0}-{0}", index * 2)).collect::<Vec<_>>().join(",");
    let seventeen = format!("bytes={seventeen}");
    root.file("long", &[b'x'; 64]);
    for (path, range) in
        [("/digits.bin", "bytes=x-y"), ("/digits.bin", "lines=1-2"), ("/long", seventeen.as_str())]
    {
        let response = get(&root, &config(), &with(path, |request| request.fields.range = Some(range)));
        assert_eq!((response.status, response.field("Content-Range")), (200, None), "{range}");
    }
    let head = with("/digits.bin", |request| {
        request.method = Method::Head;
        request.fields.range = Some("bytes=0-1");
    });
    assert_eq!(get(&root, &config(), &head).status, 200);
}

#[test]
fn if_range_decides_between_206_and_200() {
    let root = site();
    // A date is a validator for If-Range only once it is a second old.
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let file = std::fs::File::options().write(true).open(root.path().join("digits.bin")).unwrap();
    file.set_modified(an_hour_ago).unwrap();
    let (etag, last_modified) = validators_of(&root, "/digits.bin");
    let (etag, last_modified) = (etag.as_str(), last_modified.as_str());
    for (if_range, status) in
        [(etag, 206), ("\"stale\"", 200), (last_modified, 206), ("Sun, 06 Nov 1994 08:49:37 GMT", 200)]
    {
        let request = with("/digits.bin", |request| {
            request.fields.range = Some("bytes=0-0");
            request.fields.if_range = Some(if_range);
        });
        assert_eq!(get(&root, &config(), &request).status, status, "{if_range}");
    }
}

#[test]
fn empty_files_have_no_body() {
    let root = site();
    let fs = root.fs(false);
    let (exchange, response) = exchange(&fs, &config(), &request("/empty"));
    assert_eq!((exchange.status, exchange.field("Content-Length")), (200, Some("0")));
    assert!(matches!(response.body, Body::Empty) && response.body_len == 0);
}

#[test]
fn files_without_mtime_have_no_validators() {
    let file = Metadata { kind: FileKind::File, len: 1, modified: None };
    let response = table_exchange("/f", &config(), vec![("f", Ok(file))]);
    assert_eq!(response.status, 200);
    assert_eq!((response.field("ETag"), response.field("Last-Modified")), (None, None));
}

#[test]
fn a_date_in_the_same_second_is_too_weak_for_if_range() {
    let root = site();
    let (_, last_modified) = validators_of(&root, "/digits.bin");
    let request = with("/digits.bin", |request| {
        request.fields.range = Some("bytes=0-0");
        request.fields.if_range = Some(&last_modified);
    });
    // The file was written just now: its date may not tell two versions apart.
    assert_eq!(get(&root, &config(), &request).status, 200);
}

#[test]
fn a_modification_time_in_the_future_is_sent_as_now() {
    let root = site();
    let future = std::time::SystemTime::now() + std::time::Duration::from_secs(10 * 365 * 86_400);
    let file = std::fs::File::options().write(true).open(root.path().join("digits.bin")).unwrap();
    file.set_modified(future).unwrap();
    let (_, last_modified) = validators_of(&root, "/digits.bin");
    let sent = httpdate::parse_http_date(&last_modified).unwrap();
    assert!(sent <= std::time::SystemTime::now(), "Last-Modified {last_modified} is later than now");
}
