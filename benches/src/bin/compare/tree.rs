//! The served tree: the same files for every server. `4k.bin` and `1m.bin`, and for the
//! cold-cache scenario `cold/00000.bin`, `cold/00001.bin`, ... (4 KiB each).
//!
//! When the harness runs as root, nginx's workers run as an unprivileged user: every
//! directory is made 755 and every file 644 (the scratch directory above the tree too).

use std::fs::{self, File, Permissions};
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::scenarios;

/// Size of every cold file.
pub const COLD_FILE_LEN: usize = 4096;

#[derive(Debug)]
pub struct Tree {
    root: PathBuf,
    cold_files: u32,
}

impl Tree {
    /// Writes `www/` with the hot files under `scratch`.
    pub fn create(scratch: &Path) -> io::Result<Tree> {
        fs::set_permissions(scratch, Permissions::from_mode(0o755))?;
        let root = scratch.join("www");
        make_dir(&root)?;
        for (seed, file) in [(1, scenarios::File::Small), (2, scenarios::File::Large)] {
            write_file(&root.join(&file.path()[1..]), seed, file.len())?;
        }
        Ok(Tree { root, cold_files: 0 })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes the cold files (once) and flushes them to disk: the kernel drops only
    /// clean pages.
    pub fn add_cold_files(&mut self, count: u32) -> io::Result<()> {
        if self.cold_files >= count {
            return Ok(());
        }
        let dir = self.root.join("cold");
        make_dir(&dir)?;
        for index in self.cold_files..count {
            write_file(&dir.join(cold_name(index)), 1000 + u64::from(index), COLD_FILE_LEN)?;
        }
        rustix::fs::syncfs(File::open(&dir)?.as_fd())?;
        self.cold_files = count;
        Ok(())
    }

    pub fn cold_files(&self) -> u32 {
        self.cold_files
    }

    /// Every cold file, open for [`hebra::sys::fadvise_dontneed`].
    pub fn open_cold_files(&self) -> io::Result<Vec<File>> {
        (0..self.cold_files).map(|index| File::open(self.root.join("cold").join(cold_name(index)))).collect()
    }

    /// Whether this file system drops pages when advised to (tmpfs does not): evicts the
    /// first cold file and asks the page cache.
    pub fn eviction_works(&self) -> io::Result<bool> {
        let file = File::open(self.root.join("cold").join(cold_name(0)))?;
        hebra::sys::fadvise_dontneed(file.as_fd(), 0, 0)?;
        Ok(!hebra::sys::is_resident(file.as_fd(), 0, COLD_FILE_LEN as u64)?)
    }
}

/// The name of cold file `index`; the wrk script builds the same names.
pub fn cold_name(index: u32) -> String {
    format!("{index:05}.bin")
}

fn make_dir(path: &Path) -> io::Result<()> {
    fs::create_dir_all(path)?;
    fs::set_permissions(path, Permissions::from_mode(0o755))
}

/// Writes `len` pseudo-random bytes (xorshift64 from `seed`: distinct files, nothing a
/// compressor could shrink, no `rand` dependency).
fn write_file(path: &Path, seed: u64, len: usize) -> io::Result<()> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut data = Vec::with_capacity(len + 8);
    while data.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        data.extend_from_slice(&state.to_le_bytes());
    }
    data.truncate(len);
    File::create(path)?.write_all(&data)?;
    fs::set_permissions(path, Permissions::from_mode(0o644))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_holds_the_files_readable_by_all() {
        let scratch = tempfile::tempdir().unwrap();
        let mut tree = Tree::create(scratch.path()).unwrap();
        tree.add_cold_files(3).unwrap();
        let small = fs::read(tree.root().join("4k.bin")).unwrap();
        assert_eq!(small.len(), 4096);
        assert_eq!(fs::metadata(tree.root().join("1m.bin")).unwrap().len(), 1 << 20);
        let cold = tree.open_cold_files().unwrap();
        assert_eq!(cold.len(), 3);
        let first = fs::read(tree.root().join("cold/00000.bin")).unwrap();
        assert_ne!(first, fs::read(tree.root().join("cold/00001.bin")).unwrap());
        assert_ne!(first, small);
        let mode = fs::metadata(tree.root().join("cold/00002.bin")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
        assert_eq!(fs::metadata(scratch.path()).unwrap().permissions().mode() & 0o777, 0o755);
    }
}
