//! Our own listening addresses, so that no peer source (a tracker, PEX, the DHT, LPD, a magnet
//! link) can make the client dial itself: trackers commonly list the asking client among the
//! peers they return.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};

/// The addresses at which we accept connections.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnAddrs {
    /// The port we listen on (0: none, nothing is us).
    port: u16,
    /// The host's addresses we listen on.
    ips: BTreeSet<IpAddr>,
    /// We listen on every address, so every loopback address with our port is us too.
    loopback: bool,
}

impl OwnAddrs {
    /// We listen on `listen`; when its address is unspecified (all addresses), `local_ips` are
    /// the host's addresses.
    pub fn new(listen: SocketAddr, local_ips: impl IntoIterator<Item = IpAddr>) -> Self {
        let all = listen.ip().is_unspecified();
        let ips = if all {
            local_ips.into_iter().map(|ip| ip.to_canonical()).collect()
        } else {
            BTreeSet::from([listen.ip().to_canonical()])
        };
        OwnAddrs {
            port: listen.port(),
            ips,
            loopback: all,
        }
    }

    /// Whether `addr` is where we listen.
    pub fn is_us(&self, addr: SocketAddr) -> bool {
        let ip = addr.ip().to_canonical();
        self.port != 0
            && addr.port() == self.port
            && (self.ips.contains(&ip) || (self.loopback && ip.is_loopback()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn listening_on_all_addresses_makes_each_local_one_us() {
        let own = OwnAddrs::new(a("0.0.0.0:6881"), ["192.168.1.5".parse().unwrap()]);
        assert!(own.is_us(a("192.168.1.5:6881")));
        assert!(own.is_us(a("127.0.0.2:6881")), "any loopback address");
        assert!(own.is_us(a("[::ffff:192.168.1.5]:6881")), "IPv4-mapped");
        assert!(
            !own.is_us(a("192.168.1.5:6882")),
            "another port: another client"
        );
        assert!(!own.is_us(a("192.168.1.6:6881")), "another host");
    }

    #[test]
    fn listening_on_one_address_makes_only_it_us() {
        let own = OwnAddrs::new(a("127.0.0.1:7000"), ["10.0.0.1".parse().unwrap()]);
        assert!(own.is_us(a("127.0.0.1:7000")));
        assert!(!own.is_us(a("127.0.0.2:7000")), "another loopback address");
        assert!(!own.is_us(a("10.0.0.1:7000")), "not listening there");
        assert!(!OwnAddrs::default().is_us(a("127.0.0.1:0")));
    }
}
