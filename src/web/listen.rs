//! Where HTTP connections come from: the `--web.listen-address` sockets the exporter binds
//! itself (as many as given), or the ones systemd passes with `--web.systemd-socket`, as
//! every exporter-toolkit exporter does.

use std::net::SocketAddr;

use tokio::net::TcpListener;

/// Binds `--web.listen-address`; `:9207` means every address, as Prometheus exporters do.
pub async fn bind(address: &str) -> Result<TcpListener, String> {
    let addr = if let Some(port) = address.strip_prefix(':') {
        format!("0.0.0.0:{port}")
    } else {
        address.to_string()
    };
    let parsed: SocketAddr = addr.parse().map_err(|_| {
        format!("--web.listen-address `{address}` is not HOST:PORT; write e.g. `:9207` or `127.0.0.1:9207`")
    })?;
    TcpListener::bind(parsed)
        .await
        .map_err(|e| format!("cannot listen on {parsed} (--web.listen-address): {e}"))
}

/// Binds every address given; the first that fails stops start-up (a half-listening
/// exporter is a surprise later).
pub async fn bind_all(addresses: &[String]) -> Result<Vec<TcpListener>, String> {
    let mut out = Vec::with_capacity(addresses.len());
    for a in addresses {
        out.push(bind(a).await?);
    }
    Ok(out)
}

/// The sockets systemd passed (socket activation: `LISTEN_PID`, `LISTEN_FDS`, descriptors
/// from 3), for `--web.systemd-socket`. The variables are checked, not trusted: they must
/// name this process, and each descriptor must be a listening TCP socket.
#[cfg(unix)]
pub fn systemd_sockets() -> Result<Vec<TcpListener>, String> {
    use std::os::fd::{FromRawFd, RawFd};
    const FIRST: RawFd = 3;
    let hint = "start the exporter from a systemd .socket unit (ListenStream=...), or drop \
                --web.systemd-socket and use --web.listen-address";
    let pid = std::env::var("LISTEN_PID").map_err(|_| {
        format!("--web.systemd-socket: systemd passed no sockets (LISTEN_PID is not set); {hint}")
    })?;
    if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
        return Err(format!(
            "--web.systemd-socket: LISTEN_PID={pid} names another process, so its sockets are not ours; {hint}"
        ));
    }
    let count: RawFd = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|n| n.trim().parse().ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            format!("--web.systemd-socket: LISTEN_FDS is missing or zero, so systemd passed no sockets; {hint}")
        })?;
    (FIRST..FIRST + count)
        .map(|fd| {
            // SAFETY: systemd hands these descriptors to this process (LISTEN_PID says so)
            // and nothing else in the exporter owns them.
            let std_listener = unsafe { std::net::TcpListener::from_raw_fd(fd) };
            std_listener
                .local_addr()
                .and_then(|_| std_listener.set_nonblocking(true))
                .and_then(|()| TcpListener::from_std(std_listener))
                .map_err(|e| {
                    format!("--web.systemd-socket: descriptor {fd} from systemd is not a listening TCP socket ({e}); the .socket unit must use ListenStream=")
                })
        })
        .collect()
}

#[cfg(not(unix))]
pub fn systemd_sockets() -> Result<Vec<TcpListener>, String> {
    Err("--web.systemd-socket works on Linux only".into())
}
