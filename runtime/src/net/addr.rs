//! Turning `ToSocketAddrs` into addresses without blocking a worker on DNS.

use std::any::type_name;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// Resolves `addr`, on a helper thread if resolving it may block.
///
/// Among std's implementations, exactly those that may call the system resolver (`str`,
/// `String`, `(&str, u16)`, `(String, u16)`) yield a `vec::IntoIter`; the others
/// (socket addresses, IP and port pairs, slices) convert in place and run inline. A
/// foreign implementation that resolves through another iterator type would run inline.
///
/// `A: Send` (which every std address type is) lets the helper thread take `addr`.
pub(crate) fn resolve<A: ToSocketAddrs + Send>(addr: A) -> io::Result<Vec<SocketAddr>> {
    if may_block::<A>() {
        crate::blocking::unblock_scoped(move || addr.to_socket_addrs().map(Iterator::collect))
    } else {
        addr.to_socket_addrs().map(Iterator::collect)
    }
}

fn may_block<A: ToSocketAddrs>() -> bool {
    // Comparing names rather than TypeIds because `A::Iter` need not be 'static. Two
    // names are equal for the same type within one build; an accidental match of two
    // different types only sends the resolution to a helper thread.
    type_name::<A::Iter>() == type_name::<std::vec::IntoIter<SocketAddr>>()
}

/// Calls `f` with each address of `addr` until one succeeds; std's `each_addr`.
pub(crate) fn each_addr<A, T>(addr: A, mut f: impl FnMut(SocketAddr) -> io::Result<T>) -> io::Result<T>
where
    A: ToSocketAddrs + Send,
{
    let mut last_err = None;
    for addr in resolve(addr)? {
        match f(addr) {
            Ok(value) => return Ok(value),
            Err(err) => last_err = Some(err),
        }
    }
    Err(last_err
        .unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "could not resolve to any addresses")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};

    #[test]
    fn only_name_based_addresses_go_to_a_helper() {
        assert!(may_block::<&str>());
        assert!(may_block::<String>());
        assert!(may_block::<(&str, u16)>());
        assert!(!may_block::<SocketAddr>());
        assert!(!may_block::<(IpAddr, u16)>());
        assert!(!may_block::<(Ipv4Addr, u16)>());
        assert!(!may_block::<&[SocketAddr]>());
    }

    #[test]
    fn each_addr_reports_the_last_error_or_no_address() {
        let none: &[SocketAddr] = &[];
        let err = each_addr(none, |_| Ok(())).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        let two = ["127.0.0.1:1".parse().unwrap(), "127.0.0.1:2".parse().unwrap()];
        let mut seen = Vec::new();
        let err = each_addr(&two[..], |a: SocketAddr| -> io::Result<()> {
            seen.push(a.port());
            Err(io::Error::other(a.port().to_string()))
        })
        .unwrap_err();
        assert_eq!(seen, [1, 2]);
        assert_eq!(err.to_string(), "2");
    }
}
