//! Where HTTP connections come from: the `--web.listen-address` sockets the exporter binds
//! itself (as many as given), or the ones systemd passes with `--web.systemd-socket`, as
//! every exporter-toolkit exporter does.

use std::net::SocketAddr;

use tokio::net::TcpListener;

/// Binds `--web.listen-address`. `:9207` means every address of both families, as Go
/// exporters listen: one IPv6 socket that also accepts IPv4 (IPV6_V6ONLY off). On a host
/// without IPv6 it falls back to IPv4 alone and says so once.
pub async fn bind(address: &str) -> Result<TcpListener, String> {
    if let Some(port) = address.strip_prefix(':') {
        let port: u16 = port.parse().map_err(|_| not_host_port(address))?;
        return match dual_stack(port) {
            Ok(l) => Ok(l),
            Err(e) if ipv6_missing(&e) => {
                tracing::info!(
                    address,
                    "this host has no IPv6 ({e}); listening on IPv4 only (0.0.0.0:{port})"
                );
                bind_addr(SocketAddr::from(([0, 0, 0, 0], port))).await
            }
            Err(e) => Err(format!(
                "cannot listen on [::]:{port} (--web.listen-address {address}, both IPv4 and IPv6): {e}"
            )),
        };
    }
    let parsed: SocketAddr = address.parse().map_err(|_| not_host_port(address))?;
    bind_addr(parsed).await
}

fn not_host_port(address: &str) -> String {
    format!(
        "--web.listen-address `{address}` is not HOST:PORT; write e.g. `:9207`, \
         `127.0.0.1:9207` or `[::1]:9207`"
    )
}

async fn bind_addr(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr} (--web.listen-address): {e}"))
}

/// One listening socket on `[::]:port` that accepts IPv4 too (as `::ffff:a.b.c.d`).
fn dual_stack(port: u16) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_only_v6(false)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port)).into())?;
    socket.listen(1024)?;
    TcpListener::from_std(socket.into())
}

/// Whether the error means "no IPv6 here" (kernel without it, or disabled), not a port in
/// use or a permission problem.
fn ipv6_missing(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAFNOSUPPORT) | Some(libc::EADDRNOTAVAIL) | Some(libc::EPROTONOSUPPORT)
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `:PORT` answers on IPv4 and, where the host has IPv6, on IPv6 too; only loopback is
    /// dialled.
    #[tokio::test]
    async fn colon_port_listens_on_both_families() {
        let listener = bind(":0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accept = tokio::spawn(async move {
            for _ in 0..2 {
                if listener.accept().await.is_err() {
                    break;
                }
            }
        });
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("IPv4 loopback reaches :PORT");
        let has_ipv6 = std::net::UdpSocket::bind("[::1]:0").is_ok();
        if has_ipv6 {
            tokio::net::TcpStream::connect(("::1", port))
                .await
                .expect("IPv6 loopback reaches :PORT");
        } else {
            eprintln!("no IPv6 on this host: only IPv4 checked");
        }
        accept.abort();
        assert!(bind("9207").await.unwrap_err().contains("is not HOST:PORT"));
        assert!(bind(":x").await.unwrap_err().contains("is not HOST:PORT"));
    }
}
