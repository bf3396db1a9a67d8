//! Nothing outside the served directory gets out, however the path is spelled:
//! traversal in every encoding, symlinks leading out, dotfiles, and special files
//! that would block a reader.

mod common;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;

use common::http::{TempDir, TestServer, config, get, parse_one, raw};
use common::{HANG_BOUND, within};
use hebra_server::{Config, Engine};

engine_tests! {
    traversal_is_refused_however_it_is_encoded,
    symlinks_out_of_the_root_are_followed_only_when_configured,
    dotfiles_are_served_only_when_configured,
    a_fifo_is_not_found_and_does_not_hang,
}

/// A served root with a secret next to it, outside, and the engine serving it.
struct Sites {
    /// Holds `root/` (served) and `outside/`.
    base: TempDir,
    engine: Engine,
}

impl Sites {
    fn new(engine: Engine) -> Sites {
        let base = TempDir::new("http-safety");
        base.file("root/a.txt", "inside\n").file("outside/secret.txt", "the secret\n");
        Sites { base, engine }
    }

    fn root(&self) -> std::path::PathBuf {
        self.base.join("root")
    }

    fn start(&self, configure: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = config(self.engine, self.root());
        configure(&mut config);
        TestServer::start(config)
    }
}

fn traversal_is_refused_however_it_is_encoded(engine: Engine) {
    let sites = Sites::new(engine);
    let server = sites.start(|_| {});
    let root = sites.root().display().to_string();
    let cases = [
        ("/../etc/passwd", 404),
        ("/../outside/secret.txt", 404),
        ("/%2e%2e/%2e%2e/etc/passwd", 404),
        ("/%2E%2E/outside/secret.txt", 404),
        ("/a/..%2f..%2fetc/passwd", 404),
        ("/a.txt/..%2F..%2Foutside%2Fsecret.txt", 404),
        ("/..\\..\\etc", 404),
        ("/%5c..%5cetc", 404),
        ("/..%5c..%5coutside%5csecret.txt", 404),
        ("/./a.txt", 404),
        ("//etc/passwd", 404),
        ("/a%00.txt", 400),
        ("/%zz", 400),
        ("/a%2", 400),
    ];
    for (path, status) in cases {
        let response = get(server.addr(), path, "");
        assert_eq!(response.status, status, "GET {path}: {response:#?}");
        let body = response.text();
        for leak in [&*root, "/etc", "root:", "the secret"] {
            assert!(!body.contains(leak), "GET {path}: the body holds {leak:?}: {body}");
        }
    }
    // A raw NUL in the target is not HTTP.
    let bytes = raw(server.addr(), b"GET /a.txt\0 HTTP/1.1\r\nHost: l\r\n\r\n");
    assert_eq!(parse_one(&bytes, true).status, 400);
    // The file itself is there.
    assert_eq!(get(server.addr(), "/a.txt", "").text(), "inside\n");
}

fn symlinks_out_of_the_root_are_followed_only_when_configured(engine: Engine) {
    let sites = Sites::new(engine);
    let base = &sites.base;
    base.symlink("root/out.txt", base.join("outside/secret.txt"));
    base.symlink("root/out-dir", base.join("outside"));
    base.symlink("root/relative-out.txt", "../outside/secret.txt");
    base.symlink("root/in.txt", "a.txt");
    base.file("root/d/x.txt", "x\n");
    base.symlink("root/in-dir", "d");

    let server = sites.start(|_| {});
    for path in ["/out.txt", "/out-dir/secret.txt", "/relative-out.txt"] {
        let response = get(server.addr(), path, "");
        assert_eq!(response.status, 404, "GET {path}");
        assert!(!response.text().contains("the secret"));
    }
    assert_eq!(get(server.addr(), "/in.txt", "").text(), "inside\n");
    assert_eq!(get(server.addr(), "/in-dir/x.txt", "").text(), "x\n");
    drop(server);

    let server = sites.start(|config| config.files.follow_symlinks = true);
    for path in ["/out.txt", "/out-dir/secret.txt", "/relative-out.txt"] {
        let response = get(server.addr(), path, "");
        assert_eq!(response.status, 200, "GET {path}");
        assert_eq!(response.text(), "the secret\n");
    }
    assert_eq!(get(server.addr(), "/in.txt", "").text(), "inside\n");
}

fn dotfiles_are_served_only_when_configured(engine: Engine) {
    let sites = Sites::new(engine);
    sites.base.file("root/.hidden", "hidden\n").file("root/.git/config", "[core]\n");
    sites.base.file("root/d/.env", "KEY=1\n");
    let cases = [
        ("/.hidden", "hidden\n"),
        ("/.git/config", "[core]\n"),
        ("/d/.env", "KEY=1\n"),
        ("/%2ehidden", "hidden\n"),
    ];

    let server = sites.start(|_| {});
    for (path, _) in cases {
        assert_eq!(get(server.addr(), path, "").status, 404, "GET {path}");
    }
    drop(server);

    let server = sites.start(|config| config.files.hidden = true);
    for (path, body) in cases {
        let response = get(server.addr(), path, "");
        assert_eq!(response.status, 200, "GET {path}");
        assert_eq!(response.text(), body);
    }
    // Hidden or not, `..` is never a name.
    assert_eq!(get(server.addr(), "/.git/../a.txt", "").status, 404);
}

fn a_fifo_is_not_found_and_does_not_hang(engine: Engine) {
    let sites = Sites::new(engine);
    let fifo = sites.base.join("root/pipe");
    let path = CString::new(fifo.as_os_str().as_bytes()).unwrap();
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    let made = unsafe { libc::mkfifo(path.as_ptr(), 0o644) };
    assert_eq!(made, 0, "mkfifo: {}", std::io::Error::last_os_error());
    let server = sites.start(|_| {});
    let addr = server.addr();
    within("GET of a FIFO", HANG_BOUND, move || {
        assert_eq!(get(addr, "/pipe", "").status, 404);
        // Nor did it tie up the server.
        assert_eq!(get(addr, "/a.txt", "").status, 200);
    });
}
