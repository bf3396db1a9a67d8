//! [`Fs`] on `hebra::fs`: opens and reads that stay on the worker when the kernel can
//! answer from its caches, and move to the helper pool (the coroutine parks) when it
//! would wait for the disk. Listings, rare and a walk of the disk anyway, run
//! [`StdFs`]'s on the pool, so every engine lists a directory the same way.

use std::io;
use std::path::Path;
use std::sync::Arc;

use hebra::fs::{Dir, File};

use crate::files::{DirEntry, Fs, Metadata, StdFs};

#[derive(Debug)]
pub(super) struct HebraFs {
    root: Dir,
    /// Refuse symlinks out of the root (`RESOLVE_BENEATH`).
    beneath: bool,
    listings: Arc<StdFs>,
}

impl HebraFs {
    pub(super) fn open(root: &Path, follow_symlinks: bool) -> io::Result<HebraFs> {
        let with_path = |err: io::Error| io::Error::new(err.kind(), format!("{}: {err}", root.display()));
        let listings = Arc::new(StdFs::new(root, follow_symlinks).map_err(with_path)?);
        let root = Dir::open(root).map_err(with_path)?;
        Ok(HebraFs { root, beneath: !follow_symlinks, listings })
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
        let (listings, path) = (self.listings.clone(), path.to_owned());
        hebra::unblock(move || listings.read_dir(&path))
    }
}
