//! Where webhooks may go. A receiver's URL is `https` and its host is a public address:
//! never loopback, private (RFC 1918, unique-local), carrier-grade NAT, link-local
//! (which holds the cloud metadata services, 169.254.169.254 and fd00:ec2::254),
//! unspecified, multicast or broadcast. The URL is checked when it is stored
//! ([`UrlPolicy::check_url`]), and every address its host resolves to is checked again
//! when a request connects ([`UrlPolicy::check_ip`], from the client's resolver), so a
//! name that resolves elsewhere later (DNS rebinding) is refused then.
//!
//! `allow_loopback` (`billrun-local serve --allow-loopback-webhooks`) lets webhooks go
//! to this machine, over `http` too: for local testing only; private and metadata
//! addresses stay refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    pub allow_loopback: bool,
}

/// Why an address is refused, if it is.
fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, ..] = ip.octets();
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_private() {
        Some("a private address")
    } else if ip.is_link_local() {
        Some("a link-local address (where the cloud metadata services are)")
    } else if a == 100 && (64..128).contains(&b) {
        Some("a carrier-grade NAT address")
    } else if ip.is_unspecified() || a == 0 {
        Some("an unspecified address")
    } else if ip.is_multicast() || ip.is_broadcast() || a >= 240 {
        Some("a multicast, broadcast or reserved address")
    } else {
        None
    }
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    let first = ip.segments()[0];
    if ip.is_loopback() {
        Some("a loopback address")
    } else if ip.is_unspecified() {
        Some("an unspecified address")
    } else if first & 0xfe00 == 0xfc00 {
        Some("a private (unique-local) address, or a metadata service's")
    } else if first & 0xffc0 == 0xfe80 {
        Some("a link-local address")
    } else if ip.is_multicast() {
        Some("a multicast address")
    } else {
        None
    }
}

impl UrlPolicy {
    /// Why billrun does not send to `ip`, if it does not.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), String> {
        let why = match ip {
            IpAddr::V4(v4) => forbidden_v4(v4),
            IpAddr::V6(v6) => forbidden_v6(v6),
        };
        match why {
            Some("a loopback address") if self.allow_loopback => Ok(()),
            Some(why) => Err(format!(
                "{ip} is {why}: webhooks go to public addresses only"
            )),
            None => Ok(()),
        }
    }

    /// Checks a receiver's URL: `https` (`http` to loopback when allowed), no
    /// credentials in it, and a host that is a public address or a name (resolved and
    /// checked at each connection). Names of this machine (`localhost`, `*.localhost`)
    /// count as loopback.
    pub fn check_url(&self, raw: &str) -> Result<url::Url, String> {
        let url = url::Url::parse(raw).map_err(|e| format!("not a URL: {e}"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry credentials".into());
        }
        let host = url.host().ok_or("must have a host")?;
        let loopback = match host {
            url::Host::Ipv4(ip) => {
                self.check_ip(IpAddr::V4(ip))?;
                ip.is_loopback()
            }
            url::Host::Ipv6(ip) => {
                self.check_ip(IpAddr::V6(ip))?;
                ip.is_loopback()
            }
            url::Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                let local = name == "localhost" || name.ends_with(".localhost");
                if local && !self.allow_loopback {
                    return Err(format!(
                        "{name} is this machine: webhooks go to public addresses only"
                    ));
                }
                local
            }
        };
        match url.scheme() {
            "https" => Ok(url),
            "http" if loopback && self.allow_loopback => Ok(url),
            other => Err(format!("must be https (is {other})")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_https_urls_pass_by_default() {
        let p = UrlPolicy::default();
        assert!(p.check_url("https://hooks.example.com/billrun").is_ok());
        assert!(p.check_url("https://93.184.216.34/x").is_ok());
        for bad in [
            "http://hooks.example.com/",
            "https://127.0.0.1/",
            "https://10.0.0.1/",
            "https://172.16.5.4/",
            "https://192.168.1.1/",
            "https://169.254.169.254/latest/meta-data/",
            "https://[::1]/",
            "https://[fd00:ec2::254]/",
            "https://[fe80::1]/",
            "https://[::ffff:10.0.0.1]/",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://localhost/",
            "https://api.localhost/",
            "https://user:pw@hooks.example.com/",
            "ftp://hooks.example.com/",
            "not a url",
        ] {
            assert!(p.check_url(bad).is_err(), "{bad} passed");
        }
    }

    #[test]
    fn the_local_flag_lets_loopback_through_and_nothing_else() {
        let p = UrlPolicy {
            allow_loopback: true,
        };
        assert!(p.check_url("http://127.0.0.1:8080/hook").is_ok());
        assert!(p.check_url("http://localhost:8080/hook").is_ok());
        assert!(p.check_url("https://[::1]:8443/").is_ok());
        assert!(p.check_url("http://10.0.0.1/").is_err());
        assert!(p.check_url("http://169.254.169.254/").is_err());
        assert!(p.check_url("http://hooks.example.com/").is_err());
    }
}
