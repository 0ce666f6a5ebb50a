//! Where callbacks may go. A URL whose host is, or resolves to, an address that is not globally
//! reachable (loopback, private, link-local, shared, documentation, benchmarking, multicast,
//! reserved, cloud metadata: [`refused_block`]) is refused unless the operator allowed private
//! destinations.
//!
//! The URL is parsed once ([`roomlog_core::callback::parse_callback_url`], the WHATWG parser
//! the HTTP client uses) and the request is sent with that parsed [`Url`]: the host checked is
//! the host connected to, however the text spelled it. Checked when the URL is configured and
//! again at every delivery (DNS can change); a host name is resolved again at connect time by
//! [`CheckedResolver`], which drops every refused address, so a DNS answer that changes between
//! the check and the connect cannot slip through.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::Url;
use roomlog_core::DomainError;
use url::Host;

use crate::config::CallbackConfig;

/// A checked destination: the parsed URL to send to and the addresses its host had.
#[derive(Debug, Clone)]
pub struct Destination {
    pub url: Url,
    pub addrs: Vec<SocketAddr>,
}

/// Parses `url`, resolves its host (if a name) and checks every address.
pub async fn check(url: &str, config: &CallbackConfig) -> Result<Destination, DomainError> {
    let url = roomlog_core::callback::parse_callback_url(url)?;
    let port = url
        .port_or_known_default()
        .expect("http and https have default ports");
    let (host, addrs) = match url.host() {
        Some(Host::Ipv4(ip)) => (ip.to_string(), vec![SocketAddr::new(ip.into(), port)]),
        Some(Host::Ipv6(ip)) => (ip.to_string(), vec![SocketAddr::new(ip.into(), port)]),
        Some(Host::Domain(name)) => {
            let addrs = lookup(name, port, &config.host_overrides)
                .await
                .map_err(|e| {
                    DomainError::invalid_value(format!(
                        "Callback host `{name}` does not resolve: {e}."
                    ))
                })?;
            (name.to_owned(), addrs)
        }
        None => unreachable!("parse_callback_url requires a host"),
    };
    if addrs.is_empty() {
        return Err(DomainError::invalid_value(format!(
            "Callback host `{host}` does not resolve."
        )));
    }
    if !config.allow_private {
        if let Some((addr, block)) = addrs
            .iter()
            .find_map(|a| refused_block(a.ip()).map(|block| (a.ip(), block)))
        {
            return Err(DomainError::invalid_value(format!(
                "Callback host `{host}` is {addr} ({block}), not a public internet address; \
                 such destinations are refused unless the server runs with \
                 --allow-private-callbacks."
            )));
        }
    }
    Ok(Destination { url, addrs })
}

/// `host`'s addresses: from `overrides` if it names the host (or has `*`), else from DNS.
async fn lookup(
    host: &str,
    port: u16,
    overrides: &BTreeMap<String, Vec<IpAddr>>,
) -> std::io::Result<Vec<SocketAddr>> {
    if let Some(ips) = overrides.get(host).or_else(|| overrides.get("*")) {
        return Ok(ips.iter().map(|&ip| SocketAddr::new(ip, port)).collect());
    }
    Ok(tokio::net::lookup_host((host, port)).await?.collect())
}

/// The DNS resolver of the delivery client: resolves like [`check`], then drops addresses the
/// destination rule refuses (failing if none is left). The client only asks it about host
/// names; an address in the URL is connected to as parsed, and [`check`] checked that one.
pub struct CheckedResolver {
    pub allow_private: bool,
    pub host_overrides: BTreeMap<String, Vec<IpAddr>>,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let overrides = self.host_overrides.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = lookup(&host, 0, &overrides)
                .await?
                .into_iter()
                .filter(|a| allow_private || refused_block(a.ip()).is_none())
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no permitted address").into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// True for addresses on the public internet: those [`refused_block`] does not refuse.
pub fn is_public(ip: IpAddr) -> bool {
    refused_block(ip).is_none()
}

/// IPv4 blocks a callback may not go to: the IANA IPv4 Special-Purpose Address Registry's
/// blocks that are not globally reachable (192.0.0.0/24 whole, though two /32s in it are),
/// plus multicast. Cloud metadata services (169.254.169.254, Tencent Cloud's 169.254.0.23,
/// Alibaba Cloud's 100.100.100.200, Oracle's 192.0.0.192) are inside these.
const REFUSED_V4: &[(Ipv4Addr, u8, &str)] = &[
    (Ipv4Addr::new(0, 0, 0, 0), 8, "\"this network\", RFC 791"),
    (Ipv4Addr::new(10, 0, 0, 0), 8, "private, RFC 1918"),
    (
        Ipv4Addr::new(100, 64, 0, 0),
        10,
        "shared address space (CGNAT), RFC 6598",
    ),
    (Ipv4Addr::new(127, 0, 0, 0), 8, "loopback, RFC 1122"),
    (
        Ipv4Addr::new(169, 254, 0, 0),
        16,
        "link-local and cloud metadata, RFC 3927",
    ),
    (Ipv4Addr::new(172, 16, 0, 0), 12, "private, RFC 1918"),
    (
        Ipv4Addr::new(192, 0, 0, 0),
        24,
        "IETF protocol assignments, RFC 6890",
    ),
    (
        Ipv4Addr::new(192, 0, 2, 0),
        24,
        "documentation (TEST-NET-1), RFC 5737",
    ),
    (
        Ipv4Addr::new(192, 88, 99, 0),
        24,
        "6to4 relay anycast (deprecated), RFC 7526",
    ),
    (Ipv4Addr::new(192, 168, 0, 0), 16, "private, RFC 1918"),
    (Ipv4Addr::new(198, 18, 0, 0), 15, "benchmarking, RFC 2544"),
    (
        Ipv4Addr::new(198, 51, 100, 0),
        24,
        "documentation (TEST-NET-2), RFC 5737",
    ),
    (
        Ipv4Addr::new(203, 0, 113, 0),
        24,
        "documentation (TEST-NET-3), RFC 5737",
    ),
    (Ipv4Addr::new(224, 0, 0, 0), 4, "multicast, RFC 5771"),
    (Ipv4Addr::new(240, 0, 0, 0), 4, "reserved, RFC 1112"),
    (
        Ipv4Addr::new(255, 255, 255, 255),
        32,
        "limited broadcast, RFC 919",
    ),
];

/// IPv6 blocks a callback may not go to: the IANA IPv6 Special-Purpose Address Registry's
/// blocks that are not globally reachable (2001::/23 whole, though some blocks in it are), plus
/// the rest of ::/8, site-local and multicast. The IPv4-mapped, NAT64 (64:ff9b::/96) and 6to4
/// (2002::/16) forms are judged by the IPv4 address they embed, before this table. AWS's
/// metadata address fd00:ec2::254 is unique local.
const REFUSED_V6: &[(Ipv6Addr, u8, &str)] = &[
    (Ipv6Addr::UNSPECIFIED, 128, "unspecified, RFC 4291"),
    (Ipv6Addr::LOCALHOST, 128, "loopback, RFC 4291"),
    (
        Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),
        48,
        "local-use IPv4/IPv6 translation, RFC 8215",
    ),
    (
        Ipv6Addr::UNSPECIFIED,
        8,
        "reserved by the IETF (IPv4-compatible and others), RFC 4291",
    ),
    (
        Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),
        64,
        "discard-only, RFC 6666",
    ),
    (
        Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),
        23,
        "IETF protocol assignments (TEREDO, ORCHID, benchmarking...), RFC 2928",
    ),
    (
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
        32,
        "documentation, RFC 3849",
    ),
    (
        Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
        20,
        "documentation, RFC 9637",
    ),
    (
        Ipv6Addr::new(0x5f00, 0, 0, 0, 0, 0, 0, 0),
        16,
        "segment routing (SRv6) SIDs, RFC 9602",
    ),
    (
        Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
        7,
        "unique local (and AWS metadata), RFC 4193",
    ),
    (
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
        10,
        "link-local, RFC 4291",
    ),
    (
        Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0),
        10,
        "site-local (deprecated), RFC 3879",
    ),
    (
        Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0),
        8,
        "multicast, RFC 4291",
    ),
];

/// Why a callback may not go to `ip`: the special-purpose block it is in, or `None` for a
/// globally reachable address. An IPv6 address embedding an IPv4 one (IPv4-mapped
/// `::ffff:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4 `2002:aabb:ccdd::`) is judged by it.
pub fn refused_block(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => refused_v4(v4),
            None => REFUSED_V6
                .iter()
                .find(|(net, len, _)| in_prefix(u128::from(v6), u128::from(*net), *len, 128))
                .map(|(_, _, why)| *why),
        },
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    REFUSED_V4
        .iter()
        .find(|(net, len, _)| {
            in_prefix(
                u32::from(ip).into(),
                u32::from(*net).into(),
                *len,
                u32::BITS,
            )
        })
        .map(|(_, _, why)| *why)
}

/// The IPv4 address an IPv4-mapped, NAT64 well-known-prefix or 6to4 address carries.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    if in_prefix(bits, 0xffff << 32, 96, 128) || in_prefix(bits, 0x64_ff9b << 96, 96, 128) {
        Some(Ipv4Addr::from(bits as u32))
    } else if in_prefix(bits, 0x2002 << 112, 16, 128) {
        Some(Ipv4Addr::from((bits >> 80) as u32))
    } else {
        None
    }
}

/// Whether the first `len` of the `width` low bits of `addr` and `net` agree.
fn in_prefix(addr: u128, net: u128, len: u8, width: u32) -> bool {
    let host_bits = width - u32::from(len);
    addr.checked_shr(host_bits).unwrap_or(0) == net.checked_shr(host_bits).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(ip: &str) -> Option<&'static str> {
        refused_block(ip.parse().unwrap())
    }

    /// Every block of the tables: its first and last address and one inside are refused, the
    /// addresses just outside it are not (unless a neighbouring block refuses them too).
    #[test]
    fn every_special_purpose_block_is_refused_at_its_edges_and_inside() {
        for &(net, len, why) in REFUSED_V4 {
            let first = u32::from(net);
            let last = first | u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
            for ip in [first, last, first + (last - first) / 2] {
                let ip = Ipv4Addr::from(ip);
                assert!(refused_v4(ip).is_some(), "{ip} in {net}/{len} ({why})");
                // The same address written as IPv4-mapped, NAT64 and 6to4 IPv6.
                let mapped = ip.to_ipv6_mapped();
                let nat64 = Ipv6Addr::from((0x64_ff9b_u128 << 96) | u128::from(u32::from(ip)));
                let six_to_four =
                    Ipv6Addr::from((0x2002_u128 << 112) | (u128::from(u32::from(ip)) << 80));
                for v6 in [mapped, nat64, six_to_four] {
                    assert!(refused_block(v6.into()).is_some(), "{v6} embeds {ip}");
                }
            }
        }
        for &(net, len, why) in REFUSED_V6 {
            let first = u128::from(net);
            let last = first | u128::MAX.checked_shr(u32::from(len)).unwrap_or(0);
            for ip in [first, last, first + (last - first) / 2] {
                let ip = Ipv6Addr::from(ip);
                assert!(
                    refused_block(ip.into()).is_some(),
                    "{ip} in {net}/{len} ({why})"
                );
            }
        }
        // Just outside some blocks: public.
        for ip in [
            "1.0.0.0",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "126.255.255.255",
            "128.0.0.0",
            "169.253.255.255",
            "169.255.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.0",
            "192.0.3.0",
            "192.88.98.255",
            "192.88.100.0",
            "192.167.255.255",
            "192.169.0.0",
            "198.17.255.255",
            "198.20.0.0",
            "198.51.99.255",
            "198.51.101.0",
            "203.0.112.255",
            "203.0.114.0",
            "223.255.255.255",
            "2000::",
            "2001:200::",
            "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff",
            "2001:db9::",
            "2003::",
            "3ffe:ffff::",
            "3fff:1000::",
            "5eff:ffff::",
            "5f01::",
            "fbff:ffff::",
            "fe7f:ffff::1",
        ] {
            assert_eq!(refused(ip), None, "{ip}");
        }
    }

    #[test]
    fn named_special_addresses() {
        for (ip, block) in [
            ("0.0.0.0", "\"this network\""),
            ("0.1.2.3", "\"this network\""),
            ("10.1.2.3", "private"),
            ("100.64.0.1", "shared address space"),
            ("100.100.100.200", "shared address space"), // Alibaba Cloud metadata
            ("127.0.0.1", "loopback"),
            ("127.255.255.254", "loopback"),
            ("169.254.169.254", "link-local"), // AWS, GCP, Azure metadata
            ("169.254.0.23", "link-local"),    // Tencent Cloud metadata
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.0.0.192", "IETF protocol"), // Oracle Cloud metadata
            ("192.0.0.9", "IETF protocol"),
            ("192.0.2.1", "TEST-NET-1"),
            ("192.88.99.1", "6to4 relay"),
            ("192.168.1.1", "private"),
            ("198.18.0.1", "benchmarking"),
            ("198.19.255.255", "benchmarking"),
            ("198.51.100.7", "TEST-NET-2"),
            ("203.0.113.9", "TEST-NET-3"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.254", "reserved"),
            ("255.255.255.255", "reserved"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.0.0.1", "private"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::127.0.0.1", "IPv4-compatible"),
            ("::ffff:0:7f00:1", "reserved by the IETF"),
            ("64:ff9b::127.0.0.1", "loopback"),
            ("64:ff9b::10.0.0.1", "private"),
            ("64:ff9b::198.18.0.1", "benchmarking"),
            ("64:ff9b:1::1.1.1.1", "local-use IPv4/IPv6 translation"),
            ("100::1", "discard-only"),
            ("2001::1", "IETF protocol assignments"), // TEREDO
            ("2001:2::1", "IETF protocol assignments"), // benchmarking
            ("2001:1ff:ffff::1", "IETF protocol assignments"),
            ("2001:db8::1", "documentation"),
            ("2002:7f00:1::", "loopback"),
            ("2002:a00:1::1", "private"),
            ("2002:a9fe:a9fe::", "link-local"),
            ("3fff::1", "documentation"),
            ("5f00::1", "segment routing"),
            ("fc00::1", "unique local"),
            ("fd00:ec2::254", "unique local"), // AWS metadata
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fec0::1", "site-local"),
            ("feff::1", "site-local"),
            ("ff02::1", "multicast"),
        ] {
            let why = refused(ip).unwrap_or_else(|| panic!("{ip} is refused"));
            assert!(why.contains(block), "{ip}: {why}, not {block}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.216.34",
            "100.63.0.1",
            "192.0.1.1",
            "223.5.5.5",
            "2606:4700::1111",
            "2400:cb00::1",
            "::ffff:1.1.1.1",
            "64:ff9b::1.1.1.1",
            "2002:101:101::1",
        ] {
            assert!(is_public(ip.parse().unwrap()), "{ip}: {:?}", refused(ip));
        }
    }

    fn config(allow_private: bool) -> CallbackConfig {
        CallbackConfig {
            allow_private,
            ..CallbackConfig::default()
        }
    }

    #[tokio::test]
    async fn check_refuses_private_destinations_unless_allowed() {
        for url in [
            "http://127.0.0.1:9000/hook",
            "http://localhost/hook",
            "http://[::1]:80/",
            "http://169.254.169.254/latest",
            "http://198.18.0.1/",
            "http://[64:ff9b::7f00:1]/",
            "http://[2002:7f00:1::]/",
            "http://[fec0::1]/",
        ] {
            let err = check(url, &config(false)).await.unwrap_err();
            assert_eq!(err.code, "InvalidParameterValue", "{url}");
        }
        let allowed = check("http://127.0.0.1:9000/hook", &config(true))
            .await
            .unwrap();
        assert_eq!(allowed.addrs, vec!["127.0.0.1:9000".parse().unwrap()]);
        assert_eq!(allowed.url.as_str(), "http://127.0.0.1:9000/hook");
        assert_eq!(
            check("http://[::1]/", &config(true)).await.unwrap().addrs[0].port(),
            80
        );
        assert!(check("gopher://x", &config(true)).await.is_err());
    }

    /// A DNS server that answers every name with a public address (the attacker's, or a
    /// wildcard or search domain) must not let a URL through whose host, as the HTTP client
    /// reads it, is loopback: the check reads it the same way.
    #[tokio::test]
    async fn spellings_of_loopback_are_refused_even_when_dns_answers_every_name() {
        let mut hostile = config(false);
        hostile
            .host_overrides
            .insert("*".into(), vec!["93.184.216.34".parse().unwrap()]);
        for url in [
            "http://127.0.0.1\\x.evil.test/hook",
            "http://%31%32%37.0.0.1:9/hook",
            "http://\u{ff11}\u{ff12}\u{ff17}.\u{ff10}.\u{ff10}.\u{ff11}:9/hook",
            "http://[::ffff:127.0.0.1]:9/",
            "http://[::ffff:7f00:1]:9/",
            "http://0x7f.1/",
            "http://0x7f000001/",
            "http://2130706433/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://127.0.0.1.:9/",
            "http://[64:ff9b::7f00:1]/",
            "http://[2002:7f00:1::1]/",
            "https://127.0.0.1\\@93.184.216.34/",
        ] {
            let err = check(url, &hostile).await.unwrap_err();
            assert_eq!(err.code, "InvalidParameterValue", "{url}");
            assert!(err.message.contains("loopback"), "{url}: {}", err.message);
        }
        // A real name still resolves (here: as the overrides say) and passes.
        let ok = check("https://hooks.example.com/x", &hostile)
            .await
            .unwrap();
        assert_eq!(ok.addrs, vec!["93.184.216.34:443".parse().unwrap()]);
        assert_eq!(ok.url.host_str(), Some("hooks.example.com"));
    }
}
