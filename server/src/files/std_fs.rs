//! [`Fs`] on plain blocking system calls: for engines whose model does disk work
//! inline, and for tests.
//!
//! Every open goes through [`hebra::sys::open_beneath`] relative to the root's
//! descriptor, never through a path string joined to the root: with `RESOLVE_BENEATH`
//! the kernel itself refuses a resolution that leaves the root (`..` or a symlink
//! pointing out), and a directory renamed away mid-request cannot redirect one.
//!
//! A directory is listed through the descriptor it was opened as
//! (`/proc/self/fd/N`), so what is listed is what was checked; `/proc` must be
//! mounted. `open_beneath` opens with `O_NONBLOCK`, so a FIFO in the tree opens at once
//! (and is then refused as not a regular file) instead of waiting for a writer.

use std::fs::{self, File};
use std::io::{self, ErrorKind::NotFound, ErrorKind::PermissionDenied};
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Component, Path};

use hebra::sys::{OpenHow, metadata_at, open_beneath};

use super::{DirEntry, Fs, Metadata, is_refusal};

/// The files under a root directory, opened with blocking calls on the calling thread.
#[derive(Debug)]
pub struct StdFs {
    root: File,
    follow_symlinks: bool,
}

impl StdFs {
    /// Opens `root` (which must be a directory) for serving.
    pub fn new(root: &Path, follow_symlinks: bool) -> io::Result<StdFs> {
        let root_dir = File::open(root)?;
        if !root_dir.metadata()?.is_dir() {
            let message = format!("{} is not a directory", root.display());
            return Err(io::Error::new(io::ErrorKind::NotADirectory, message));
        }
        Ok(StdFs { root: root_dir, follow_symlinks })
    }
}

impl Fs for StdFs {
    type File = File;

    fn open(&self, path: &Path) -> io::Result<File> {
        // The caller checked `path`; without `RESOLVE_BENEATH` (following symlinks) an
        // absolute or `..` path would still escape, so refuse one here too.
        if !path.components().all(|component| matches!(component, Component::Normal(_))) {
            return Err(io::Error::new(NotFound, "not a plain relative path"));
        }
        let path = if path.as_os_str().is_empty() { Path::new(".") } else { path };
        let how = OpenHow { beneath: !self.follow_symlinks, cached_only: false };
        match open_beneath(self.root.as_fd(), path, how) {
            Ok(fd) => Ok(File::from(fd)),
            Err(error) if is_refusal(&error) && !matches!(error.kind(), NotFound | PermissionDenied) => {
                // EXDEV (out of the root), ELOOP, ENOTDIR...: to the client, no such file.
                tracing::debug!(%error, "open refused");
                Err(io::Error::new(NotFound, error))
            }
            Err(error) => Err(error),
        }
    }

    fn metadata(&self, file: &File) -> io::Result<Metadata> {
        Ok(Metadata::from(&file.metadata()?))
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        let dir = self.open(path)?;
        // The listing reads the directory just opened beneath the root, whatever
        // happens to `path` meanwhile.
        let mut entries = Vec::new();
        for entry in fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd()))? {
            let entry = entry?;
            let metadata = match self.entry_metadata(path, &entry) {
                Ok(metadata) => Some(metadata),
                // What a request would be refused (a symlink out of the root or to
                // nothing) is not listed.
                Err(error) if is_refusal(&error) => continue,
                Err(_) => None,
            };
            entries.push(DirEntry { name: entry.file_name(), metadata });
        }
        Ok(entries)
    }
}

impl StdFs {
    /// The metadata of a listed entry as a request for it would see it: a symlink is
    /// described by its target, resolved from the root under the same rule as
    /// [`Fs::open`], so nothing is shown of a file outside the root.
    fn entry_metadata(&self, dir: &Path, entry: &fs::DirEntry) -> io::Result<Metadata> {
        // `DirEntry::metadata` does not follow symlinks (`fstatat` relative to the
        // listed directory's descriptor).
        let metadata = entry.metadata()?;
        if !metadata.file_type().is_symlink() {
            return Ok(Metadata::from(&metadata));
        }
        // `O_PATH`: the target is not opened for reading, so no device driver runs.
        // Resolved by path from the root: if `dir` moved since it was listed, this
        // describes whatever is there now, still beneath the root.
        let how = OpenHow { beneath: !self.follow_symlinks, cached_only: false };
        let target = metadata_at(Some(self.root.as_fd()), &dir.join(entry.file_name()), how, true)?;
        Ok(Metadata::from(&target))
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;
    use crate::files::FileKind;
    use crate::files::tests::TempRoot;

    fn names(mut entries: Vec<DirEntry>) -> Vec<(String, Option<FileKind>)> {
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        entries
            .into_iter()
            .map(|entry| (entry.name.into_string().unwrap(), entry.metadata.map(|m| m.kind)))
            .collect()
    }

    #[test]
    fn the_root_must_be_a_directory() {
        let root = TempRoot::new();
        root.file("f", b"x");
        let error = StdFs::new(&root.path().join("f"), false).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::NotADirectory);
        assert!(error.to_string().contains("is not a directory"));
        assert_eq!(
            StdFs::new(&root.path().join("missing"), false).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn files_and_directories_open_relative_to_the_root() {
        let root = TempRoot::new();
        root.file("d/f.txt", b"hello");
        let fs = root.fs(false);
        let file = fs.open(Path::new("d/f.txt")).unwrap();
        let metadata = fs.metadata(&file).unwrap();
        assert_eq!((metadata.kind, metadata.len), (FileKind::File, 5));
        assert!(metadata.modified.is_some());
        assert_eq!(fs.metadata(&fs.open(Path::new("d")).unwrap()).unwrap().kind, FileKind::Dir);
        assert_eq!(fs.metadata(&fs.open(Path::new("")).unwrap()).unwrap().kind, FileKind::Dir);
        assert_eq!(fs.open(Path::new("nope")).unwrap_err().kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn paths_that_are_not_plain_are_refused() {
        let root = TempRoot::new();
        root.file("d/f", b"x");
        let fs = root.fs(true);
        for path in ["/etc/passwd", "../x", "d/../d/f", "./d/f"] {
            assert_eq!(fs.open(Path::new(path)).unwrap_err().kind(), io::ErrorKind::NotFound, "{path}");
        }
    }

    #[test]
    fn symlinks_out_of_the_root_need_follow_symlinks() {
        let outside = TempRoot::new();
        outside.file("secret", b"s");
        let root = TempRoot::new();
        root.file("inside", b"i");
        symlink(outside.path().join("secret"), root.path().join("out")).unwrap();
        symlink("inside", root.path().join("in")).unwrap();
        symlink("in", root.path().join("chain")).unwrap();
        symlink("loop_b", root.path().join("loop_c")).unwrap();
        symlink("loop_c", root.path().join("loop_b")).unwrap();

        let confined = root.fs(false);
        assert_eq!(confined.open(Path::new("out")).unwrap_err().kind(), io::ErrorKind::NotFound);
        assert_eq!(confined.metadata(&confined.open(Path::new("chain")).unwrap()).unwrap().len, 1);
        assert_eq!(confined.open(Path::new("loop_b")).unwrap_err().kind(), io::ErrorKind::NotFound);
        assert_eq!(confined.open(Path::new("inside/x")).unwrap_err().kind(), io::ErrorKind::NotFound);

        let following = root.fs(true);
        assert_eq!(following.metadata(&following.open(Path::new("out")).unwrap()).unwrap().len, 1);
    }

    #[test]
    fn listings_describe_symlinks_by_their_targets() {
        let outside = TempRoot::new();
        outside.file("secret", b"s");
        let root = TempRoot::new();
        root.file("d/f", b"abc");
        root.file("d/sub/g", b"");
        symlink("f", root.path().join("d/to_file")).unwrap();
        symlink("../d", root.path().join("d/to_dir")).unwrap();
        symlink(outside.path().join("secret"), root.path().join("d/out")).unwrap();
        symlink("missing", root.path().join("d/dangling")).unwrap();

        // Symlinks a request would be refused (out of the root, or to nothing) are
        // left out.
        let expected = |follow_symlinks| {
            let mut names = vec![("f".to_string(), Some(FileKind::File))];
            if follow_symlinks {
                names.push(("out".to_string(), Some(FileKind::File)));
            }
            names.extend([
                ("sub".to_string(), Some(FileKind::Dir)),
                ("to_dir".to_string(), Some(FileKind::Dir)),
                ("to_file".to_string(), Some(FileKind::File)),
            ]);
            names
        };
        assert_eq!(names(root.fs(false).read_dir(Path::new("d")).unwrap()), expected(false));
        assert_eq!(names(root.fs(true).read_dir(Path::new("d")).unwrap()), expected(true));
        assert_eq!(
            names(root.fs(false).read_dir(Path::new("")).unwrap()),
            vec![("d".to_string(), Some(FileKind::Dir))]
        );
        assert_eq!(
            root.fs(false).read_dir(Path::new("d/f")).unwrap_err().kind(),
            io::ErrorKind::NotADirectory
        );
    }
}
