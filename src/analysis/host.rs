//! Client hosts as label values: never the port, since every TCP connection has its own
//! and a port label would make one series per connection.

pub use crate::snapshot::strip_port;

/// The `client_host` label value for an already port-stripped host: brackets dropped,
/// empty (background threads) as `unknown`, as mysqld_exporter does.
pub fn client_host_label(host: &str) -> &str {
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        "unknown"
    } else {
        host
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_ports_from_every_shape_of_host() {
        for (raw, want) in [
            ("10.0.0.5:51234", "10.0.0.5"),
            ("app-1.internal:3306", "app-1.internal"),
            ("::1:40512", "::1"),
            ("2001:db8::7:60000", "2001:db8::7"),
            ("[::1]:40512", "[::1]"),
            ("localhost", "localhost"),
            ("unix socket", "unix socket"),
            ("", ""),
            ("host:", "host:"),
            ("host:abc", "host:abc"),
        ] {
            assert_eq!(strip_port(raw), want, "{raw}");
        }
    }

    #[test]
    fn labels_are_clean() {
        assert_eq!(client_host_label("[::1]"), "::1");
        assert_eq!(client_host_label(""), "unknown");
        assert_eq!(client_host_label("localhost"), "localhost");
        assert_eq!(
            client_host_label(strip_port("[2001:db8::1]:3306")),
            "2001:db8::1"
        );
    }
}
