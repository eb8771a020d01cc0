//! `host:port` as rule files and the server config write it. Checked when loading so a typo
//! is reported with its key rather than as a connection failure at the first query.

use std::net::Ipv6Addr;

/// Why `addr` is not `host:port`, if it is not. Host names are not resolved here: a name that
/// does not resolve yet is still a well-formed address.
pub(crate) fn check_addr(addr: &str) -> Result<(), String> {
    let (host, port) = if let Some(rest) = addr.strip_prefix('[') {
        let (ip, port) = rest
            .split_once("]:")
            .ok_or_else(|| format!("`{addr}` is not host:port ([ipv6]:port needs the port)"))?;
        ip.parse::<Ipv6Addr>()
            .map_err(|_| format!("`{addr}`: `{ip}` is not an IPv6 address"))?;
        (None, port)
    } else {
        let (host, port) = addr
            .rsplit_once(':')
            .ok_or_else(|| format!("`{addr}` is not host:port (the port is missing)"))?;
        (Some(host), port)
    };
    if let Some(host) = host {
        if host.is_empty() {
            return Err(format!("`{addr}` is not host:port (the host is missing)"));
        }
        if host.contains(':') {
            return Err(format!(
                "`{addr}` is not host:port (write IPv6 addresses in brackets: [::1]:3306)"
            ));
        }
        if !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        {
            return Err(format!(
                "`{addr}` is not host:port (`{host}` is not a host name)"
            ));
        }
    }
    match port.parse::<u16>() {
        Ok(p) if p > 0 && !port.starts_with('+') => Ok(()),
        _ => Err(format!(
            "`{addr}` is not host:port (`{port}` is not a port: 1-65535)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_host_port() {
        for ok in [
            "127.0.0.1:3306",
            "db-1.internal:3306",
            "localhost:1",
            "[::1]:3306",
            "h_2:65535",
        ] {
            assert_eq!(check_addr(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn rejects_malformed_addresses_with_the_reason() {
        let cases = [
            ("localhost", "the port is missing"),
            (":3306", "the host is missing"),
            ("::1:3306", "brackets"),
            ("[::1]", "needs the port"),
            ("[zz]:1", "not an IPv6 address"),
            ("my host:1", "not a host name"),
            ("h:0", "not a port"),
            ("h:70000", "not a port"),
            ("h:+1", "not a port"),
            ("h:", "not a port"),
            ("", "the port is missing"),
        ];
        for (addr, reason) in cases {
            let err = check_addr(addr).unwrap_err();
            assert!(err.contains(reason), "{addr}: {err}");
        }
    }
}
