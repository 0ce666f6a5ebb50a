//! Where callbacks may go. A URL whose host resolves to a loopback, private, link-local,
//! unspecified, shared (CGNAT), multicast or cloud-metadata address is refused unless the
//! operator allowed private destinations. Checked when the URL is configured and again at every
//! delivery (DNS can change); the delivery then connects to exactly the addresses checked, so a
//! rebinding DNS answer between check and connect cannot slip through.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use roomlog_core::DomainError;

/// A checked destination: the URL's host and port and the addresses it may connect to.
#[derive(Debug, Clone)]
pub struct Destination {
    pub host: String,
    pub addrs: Vec<SocketAddr>,
}

/// Resolves `url`'s host and checks every address it resolves to.
pub async fn check(url: &str, allow_private: bool) -> Result<Destination, DomainError> {
    roomlog_core::callback::validate_callback_url(url)?;
    let (default_port, rest) = match url.strip_prefix("https://") {
        Some(rest) => (443, rest),
        None => (80, url.strip_prefix("http://").unwrap_or(url)),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let (host, port) = split_host_port(authority, default_port).ok_or_else(|| {
        DomainError::invalid_value(format!("Callback host `{authority}` is malformed."))
    })?;
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| {
                DomainError::invalid_value(format!("Callback host `{host}` does not resolve: {e}."))
            })?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(DomainError::invalid_value(format!(
            "Callback host `{host}` does not resolve."
        )));
    }
    if !allow_private {
        if let Some(bad) = addrs.iter().find(|a| !is_public(a.ip())) {
            return Err(DomainError::invalid_value(format!(
                "Callback host `{host}` resolves to {}, a loopback, private, link-local or metadata address; \
                 such destinations are refused unless the server runs with --allow-private-callbacks.",
                bad.ip()
            )));
        }
    }
    Ok(Destination { host, addrs })
}

/// The DNS resolver of the delivery client: resolves like the system, then drops addresses
/// the destination rule refuses (failing if none is left).
pub struct CheckedResolver {
    pub allow_private: bool,
}

impl reqwest::dns::Resolve for CheckedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allow_private || is_public(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no permitted address").into());
            }
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

fn split_host_port(authority: &str, default_port: u16) -> Option<(String, u16)> {
    if let Some(rest) = authority.strip_prefix('[') {
        // [v6]:port
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => default_port,
            None => return None,
        };
        return Some((host.to_owned(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host.to_owned(), port.parse().ok()?)),
        None => Some((authority.to_owned(), default_port)),
    }
}

/// True for addresses on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16, including the cloud metadata address
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || (first == 0xfd00 && ip.segments()[1] == 0xec2) // AWS metadata fd00:ec2::254
        || ip.to_ipv4().is_some_and(|v4| !is_public_v4(v4)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "224.0.0.1",
            "::1",
            "fc00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "fd00:ec2::254",
            "::",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["1.1.1.1", "93.184.216.34", "2606:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn check_refuses_private_destinations_unless_allowed() {
        for url in [
            "http://127.0.0.1:9000/hook",
            "http://localhost/hook",
            "http://[::1]:80/",
            "http://169.254.169.254/latest",
        ] {
            let err = check(url, false).await.unwrap_err();
            assert_eq!(err.code, "InvalidParameterValue", "{url}");
        }
        let allowed = check("http://127.0.0.1:9000/hook", true).await.unwrap();
        assert_eq!(allowed.addrs, vec!["127.0.0.1:9000".parse().unwrap()]);
        assert_eq!(
            check("http://[::1]/", true).await.unwrap().addrs[0].port(),
            80
        );
        assert!(check("gopher://x", true).await.is_err());
    }
}
