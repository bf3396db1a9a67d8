//! Anonymous mappings with a guard page below them: the memory of coroutine stacks.
//!
//! Contract: a [`Mapping`] owns `guard + usable` bytes of address space. The lowest
//! `guard` bytes are `PROT_NONE`, so running off the bottom of the usable part faults
//! instead of writing into a neighbour. The usable part is read-write and zero-filled
//! on first touch; [`Mapping::discard`] gives resident pages back to the kernel while
//! keeping the address range, so a later touch gets fresh zero pages.
//!
//! Each mapping costs two entries of the process's map table (`vm.max_map_count`, 65530
//! by default on Linux): the guard and the usable part.

use std::io;
use std::ptr;
use std::sync::OnceLock;

use super::syscall;

/// The size of a memory page, read once from the system.
pub fn page_size() -> usize {
    static PAGE_SIZE: OnceLock<usize> = OnceLock::new();
    *PAGE_SIZE.get_or_init(|| {
        // SAFETY: sysconf has no preconditions.
        let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        usize::try_from(size).ok().filter(|s| s.is_power_of_two()).unwrap_or(4096)
    })
}

/// An owned anonymous mapping: one guard page below `usable` read-write bytes.
#[derive(Debug)]
pub struct Mapping {
    start: usize,
    len: usize,
    guard: usize,
}

impl Mapping {
    /// Maps `usable` bytes (rounded up to whole pages) above one guard page.
    pub fn with_guard(usable: usize) -> io::Result<Mapping> {
        let page = page_size();
        let usable = usable
            .checked_next_multiple_of(page)
            .filter(|&u| u > 0)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "mapping size overflows"))?;
        let len = usable + page;
        // Reserve everything inaccessible first, then open up the usable part, so that a
        // failure half way leaves nothing writable behind.
        // SAFETY: a fresh anonymous private mapping aliases nothing.
        let addr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(map_error(io::Error::last_os_error()));
        }
        let mapping = Mapping { start: addr as usize, len, guard: page };
        // SAFETY: the range lies inside the mapping created above, which we own.
        syscall!(mprotect(
            (mapping.start + page) as *mut libc::c_void,
            usable,
            libc::PROT_READ | libc::PROT_WRITE
        ))
        .map_err(map_error)?;
        Ok(mapping)
    }

    /// Lowest address of the usable part (just above the guard page).
    pub fn usable_start(&self) -> usize {
        self.start + self.guard
    }

    /// One past the highest usable address.
    pub fn end(&self) -> usize {
        self.start + self.len
    }

    /// The guard page: `[start, start + guard)`.
    pub fn guard_range(&self) -> std::ops::Range<usize> {
        self.start..self.start + self.guard
    }

    /// Number of usable bytes.
    pub fn usable_len(&self) -> usize {
        self.len - self.guard
    }

    /// Gives the resident pages of `[from, to)` back to the kernel; the range stays mapped
    /// and reads as zeroes afterwards. Both bounds are rounded inwards to whole pages.
    pub fn discard(&self, from: usize, to: usize) {
        let page = page_size();
        let from = from.max(self.usable_start()).next_multiple_of(page);
        let to = to.min(self.end()) & !(page - 1);
        if from >= to {
            return;
        }
        // SAFETY: the range is page aligned and inside the usable part of our mapping,
        // whose owner asked for its contents to go.
        unsafe { discard_pages(from, to) };
    }
}

/// Gives the resident pages of `[from, to)` back to the kernel: the range stays mapped
/// and reads as zeroes afterwards.
///
/// # Safety
///
/// `from` and `to` are page aligned, and `[from, to)` lies in a private anonymous
/// mapping whose contents nobody needs any more: no live value, no frame in use.
pub(crate) unsafe fn discard_pages(from: usize, to: usize) {
    // SAFETY: the caller guarantees the range holds nothing live; MADV_DONTNEED on
    // private anonymous memory only drops its contents.
    let res = syscall!(madvise(from as *mut libc::c_void, to - from, libc::MADV_DONTNEED));
    if let Err(err) = res {
        tracing::warn!(%err, "madvise(MADV_DONTNEED) failed; stack pages stay resident");
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: we own the whole mapping and nobody can reach it after drop.
        if let Err(err) = syscall!(munmap(self.start as *mut libc::c_void, self.len)) {
            tracing::warn!(%err, "munmap failed; address space leaks");
        }
    }
}

fn map_error(err: io::Error) -> io::Error {
    if err.raw_os_error() == Some(libc::ENOMEM) {
        io::Error::new(
            io::ErrorKind::OutOfMemory,
            format!(
                "{err}: out of memory or out of memory maps (each coroutine stack takes two; \
                 see vm.max_map_count)"
            ),
        )
    } else {
        err
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usable_part_is_writable_and_guard_sits_below_it() {
        let m = Mapping::with_guard(3 * page_size() + 1).unwrap();
        assert_eq!(m.usable_len(), 4 * page_size());
        assert_eq!(m.guard_range().end, m.usable_start());
        let p = m.usable_start() as *mut u8;
        // SAFETY: inside the usable, writable part of a mapping we own.
        unsafe {
            p.write(7);
            p.add(m.usable_len() - 1).write(9);
            assert_eq!(p.read(), 7);
        }
    }

    #[test]
    fn discard_zeroes_pages() {
        let m = Mapping::with_guard(2 * page_size()).unwrap();
        let p = m.usable_start() as *mut u8;
        // SAFETY: inside the usable, writable part of a mapping we own.
        unsafe { p.write(42) };
        m.discard(m.usable_start(), m.end());
        // SAFETY: as above; the page is still mapped after MADV_DONTNEED.
        assert_eq!(unsafe { p.read() }, 0);
    }
}
