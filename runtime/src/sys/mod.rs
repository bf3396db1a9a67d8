//! The only place that calls libc directly.
//!
//! Each file wraps one mechanism in a safe API with a written contract; the rest of the
//! runtime (and the event-loop engines of `hebra-server`, which run without a runtime)
//! use these wrappers and never touch `libc`. The fault handler and alternate signal
//! stacks stay inside the crate: they are the runtime's stack-overflow report, and a
//! second user of the process-wide handler would silently turn it off.
//!
//! | file | provides |
//! |---|---|
//! | `mapping.rs` | anonymous memory mappings with a guard page, page discarding (`madvise`) |
//! | `signal.rs` | a fault handler on an alternate signal stack, async-signal-safe output |
//! | `poll.rs` | `poll(2)` on one descriptor, for sockets used from plain threads |
//! | `fs.rs` | opening beneath a directory or only from cache (`openat2`), metadata by descriptor |
//! | `dir.rs` | listing an open directory |
//! | `page_cache.rs` | reads that refuse to wait for the disk, page cache residency, `posix_fadvise` |
//! | `sendfile.rs` | `sendfile(2)` from a file to a socket |
//!
//! Linux is the first target; a `cfg` belongs here and nowhere else.

mod dir;
mod fs;
pub(crate) mod mapping;
mod page_cache;
mod poll;
mod sendfile;
mod signal;
#[cfg(test)]
pub(crate) mod test_dir;

pub use dir::read_dir_names;
pub use fs::{OpenHow, metadata_at, open_beneath, open_path};
pub use mapping::{Mapping, page_size};
pub use page_cache::{fadvise_dontneed, fadvise_willneed, is_resident, pread_nowait};
pub use poll::{Interest, poll_fd};
pub use sendfile::sendfile;
pub use signal::write_stderr;
pub(crate) use signal::{AltStack, install_fault_handler};

/// Turns the C convention (`-1` and `errno`) into an `io::Result`.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: the caller of the macro states why this call is sound.
        #[allow(unused_unsafe, clippy::undocumented_unsafe_blocks)]
        let res = unsafe { libc::$fn($($arg),*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}
pub(crate) use syscall;
