//! [`Fs`] on `hebra::fs`: opens and reads that stay on the worker when the kernel can
//! answer from its caches, and move to the helper pool (the coroutine parks) when it
//! would wait for the disk.

use std::io;
use std::path::Path;

use hebra::fs::{Dir, File};

use crate::files::{DirEntry, Fs, Metadata};

#[derive(Debug)]
pub(super) struct HebraFs {
    root: Dir,
    /// Refuse symlinks out of the root (`RESOLVE_BENEATH`).
    beneath: bool,
}

impl HebraFs {
    pub(super) fn open(root: &Path, follow_symlinks: bool) -> io::Result<HebraFs> {
        let root = Dir::open(root)
            .map_err(|err| io::Error::new(err.kind(), format!("{}: {err}", root.display())))?;
        Ok(HebraFs { root, beneath: !follow_symlinks })
    }
}

/// The root itself, for the empty relative path.
fn or_root(path: &Path) -> &Path {
    if path.as_os_str().is_empty() { Path::new(".") } else { path }
}

impl Fs for HebraFs {
    type File = File;

    fn open(&self, path: &Path) -> io::Result<File> {
        self.root.open_file(or_root(path), self.beneath)
    }

    fn metadata(&self, file: &File) -> io::Result<Metadata> {
        Ok(Metadata::from(&file.metadata()?))
    }

    fn read_dir(&self, path: &Path) -> io::Result<Vec<DirEntry>> {
        let entries = self.root.read_dir(or_root(path))?;
        Ok(entries
            .into_iter()
            .map(|entry| DirEntry { metadata: entry.metadata.as_ref().map(Metadata::from), name: entry.name })
            .collect())
    }
}
