//! The outside programs: wrk (the load) and nginx (a peer). Found on `PATH` (and in the
//! `sbin` directories, where Debian puts nginx); when missing, installed with apt-get if
//! that is allowed and possible (root, apt-get present), else reported with the command
//! that would install them.

use std::env;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::children;

/// apt-get can be slow (a package list download), never endless.
const APT_LIMIT: Duration = Duration::from_secs(600);

/// Directories searched after `PATH`: nginx lives in `/usr/sbin`, which is not on a
/// normal user's `PATH`.
const SBIN: [&str; 3] = ["/usr/local/sbin", "/usr/sbin", "/sbin"];

#[derive(Debug)]
pub struct Installer {
    allowed: bool,
    updated: bool,
}

impl Installer {
    pub fn new(allowed: bool) -> Installer {
        Installer { allowed, updated: false }
    }

    /// The path of `program`, installing the first of `packages` that provides it if it
    /// is missing. `say` reports what is being done (installing takes a while).
    pub fn ensure(
        &mut self,
        program: &str,
        packages: &[&str],
        say: &dyn Fn(&str),
    ) -> Result<PathBuf, String> {
        if let Some(path) = find(program) {
            return Ok(path);
        }
        let how = format!("apt-get install {}", packages[0]);
        if !self.allowed {
            return Err(format!("{program} is not installed (--no-install; Debian: {how})"));
        }
        if !rustix::process::geteuid().is_root() || find("apt-get").is_none() {
            return Err(format!(
                "{program} is not installed and this is not root with apt-get (Debian: {how})"
            ));
        }
        for package in packages {
            say(&format!("installing {package} with apt-get ..."));
            match self.apt_install(package) {
                Ok(()) => {
                    if let Some(path) = find(program) {
                        return Ok(path);
                    }
                }
                Err(err) => say(&format!("apt-get install {package} failed: {err}")),
            }
        }
        Err(format!("{program} is missing and apt-get could not install it ({how})"))
    }

    fn apt_install(&mut self, package: &str) -> Result<(), String> {
        if !self.updated {
            apt(&["update", "-qq"])?;
            self.updated = true;
        }
        apt(&["install", "-y", "-qq", "--no-install-recommends", package])
    }
}

fn apt(args: &[&str]) -> Result<(), String> {
    let mut command = Command::new("apt-get");
    command.args(args).env("DEBIAN_FRONTEND", "noninteractive");
    let done = children::run_bounded(&mut command, APT_LIMIT).map_err(|err| err.to_string())?;
    if done.status.success() {
        Ok(())
    } else {
        Err(format!("{}: {}", done.status, children::tail(&done.stderr, 3)))
    }
}

/// `program` on `PATH` or in the `sbin` directories, if it is an executable file.
pub fn find(program: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH").unwrap_or_default();
    env::split_paths(&path)
        .chain(SBIN.iter().map(PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    path.metadata().is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// The first line a program prints about its version (`wrk -v`, `nginx -v`; both print
/// it on stderr or stdout and may exit non-zero).
pub fn version(program: &Path, flag: &str) -> String {
    let printed = children::run_bounded(Command::new(program).arg(flag), Duration::from_secs(10));
    match printed {
        Ok(done) => {
            let text = format!("{}\n{}", done.stdout, done.stderr);
            text.lines().map(str::trim).find(|line| !line.is_empty()).unwrap_or("unknown").to_owned()
        }
        Err(err) => format!("unknown ({err})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_are_found_on_the_path() {
        assert!(find("sh").is_some());
        assert!(find("no-such-program-here").is_none());
        assert!(version(Path::new("/no/such/program"), "-v").starts_with("unknown"));
    }
}
