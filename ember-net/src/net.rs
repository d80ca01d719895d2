//! Listening, accepting and connecting, on tokio sockets or turmoil's simulated network.
//!
//! In simulation, turmoil only binds the unspecified address (`0.0.0.0`) or loopback, and
//! a listener bound to `0.0.0.0` reports that address from `local_addr`; other hosts reach
//! it at the address [`Env::lookup_host`] gives for the host's name.

use std::io;
use std::net::SocketAddr;

use crate::conn::Conn;
use crate::env::{Backend, Env};

/// A listening socket.
pub enum Listener {
    Tokio(tokio::net::TcpListener),
    #[cfg(feature = "sim")]
    Sim(turmoil::net::TcpListener),
}

impl Env {
    /// Listens on `addr`. Port 0 picks a free port; see [`Listener::local_addr`].
    pub async fn bind(&self, addr: SocketAddr) -> io::Result<Listener> {
        match &self.inner.backend {
            Backend::Tokio => Ok(Listener::Tokio(tokio::net::TcpListener::bind(addr).await?)),
            #[cfg(feature = "sim")]
            Backend::Sim(_) => Ok(Listener::Sim(turmoil::net::TcpListener::bind(addr).await?)),
        }
    }

    /// Opens a connection to `addr`.
    pub async fn connect(&self, addr: SocketAddr) -> io::Result<Conn> {
        match &self.inner.backend {
            Backend::Tokio => Ok(Conn::Tokio(tokio::net::TcpStream::connect(addr).await?)),
            #[cfg(feature = "sim")]
            Backend::Sim(_) => Ok(Conn::Sim(turmoil::net::TcpStream::connect(addr).await?)),
        }
    }

    /// Resolves `host` (a DNS name in production, a turmoil host name in simulation) to
    /// the first address it names, with `port`.
    ///
    /// # Panics
    /// In simulation, if turmoil knows no host called `host`.
    pub async fn lookup_host(&self, host: &str, port: u16) -> io::Result<SocketAddr> {
        match &self.inner.backend {
            Backend::Tokio => tokio::net::lookup_host((host, port))
                .await?
                .next()
                .ok_or_else(|| {
                    io::Error::new(io::ErrorKind::NotFound, format!("no address for {host}"))
                }),
            #[cfg(feature = "sim")]
            Backend::Sim(_) => Ok(SocketAddr::new(turmoil::lookup(host), port)),
        }
    }
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // turmoil's listener has no `Debug`; its address says all that matters.
        f.debug_tuple("Listener").field(&self.local_addr()).finish()
    }
}

impl Listener {
    /// Waits for the next connection.
    pub async fn accept(&self) -> io::Result<(Conn, SocketAddr)> {
        match self {
            Listener::Tokio(listener) => {
                let (stream, peer) = listener.accept().await?;
                Ok((Conn::Tokio(stream), peer))
            }
            #[cfg(feature = "sim")]
            Listener::Sim(listener) => {
                let (stream, peer) = listener.accept().await?;
                Ok((Conn::Sim(stream), peer))
            }
        }
    }

    /// The address the listener is bound to, with the port chosen for port 0.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Listener::Tokio(listener) => listener.local_addr(),
            #[cfg(feature = "sim")]
            Listener::Sim(listener) => listener.local_addr(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::run_production;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn localhost() -> SocketAddr {
        "127.0.0.1:0".parse().unwrap()
    }

    #[test]
    fn production_echo() {
        run_production(Env::production(Some(1)), |env| async move {
            let listener = env.bind(localhost()).await.unwrap();
            let addr = listener.local_addr().unwrap();
            assert_ne!(addr.port(), 0);
            let server = env.spawn(async move {
                let (mut conn, _) = listener.accept().await.unwrap();
                let mut buf = [0u8; 5];
                conn.read_exact(&mut buf).await.unwrap();
                conn.write_all(&buf).await.unwrap();
            });
            let mut conn = env.connect(addr).await.unwrap();
            conn.set_nodelay(true).unwrap();
            assert_eq!(conn.peer_addr().unwrap(), addr);
            conn.write_all(b"hello").await.unwrap();
            let mut buf = [0u8; 5];
            conn.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"hello");
            server.await.unwrap();
        });
    }

    #[test]
    fn production_lookup_and_refused() {
        run_production(Env::production(Some(1)), |env| async move {
            let addr = env.lookup_host("localhost", 7).await.unwrap();
            assert_eq!(addr.port(), 7);
            // Bind then drop to find a port nobody listens on.
            let closed = env.bind(localhost()).await.unwrap().local_addr().unwrap();
            assert!(env.connect(closed).await.is_err());
        });
    }

    #[cfg(feature = "sim")]
    #[test]
    fn simulated_echo_between_hosts() {
        use crate::SimDisk;
        use std::time::{Duration, UNIX_EPOCH};

        let mut sim = turmoil::Builder::new()
            .epoch(UNIX_EPOCH)
            .rng_seed(11)
            .build();
        sim.host("server", || async {
            let env = Env::simulation(11, "server", SimDisk::new(11), 1, 0);
            let listener = env.bind("0.0.0.0:7000".parse().unwrap()).await?;
            let (conn, peer) = listener.accept().await?;
            assert_eq!(peer.ip(), turmoil::lookup("client"));
            let (mut reader, mut writer) = conn.into_split();
            let mut buf = [0u8; 4];
            reader.read_exact(&mut buf).await?;
            writer.write_all(&buf).await?;
            Ok(())
        });
        sim.client("client", async {
            let env = Env::simulation(11, "client", SimDisk::new(11), 1, 0);
            let addr = env.lookup_host("server", 7000).await?;
            let conn = env.connect(addr).await?;
            conn.set_nodelay(true)?;
            assert_eq!(conn.peer_addr()?, addr);
            // Detaching passes a simulated stream through unchanged.
            let mut conn = conn.detach()?.attach()?;
            conn.write_all(b"ping").await?;
            let mut buf = [0u8; 4];
            env.timeout(Duration::from_secs(1), conn.read_exact(&mut buf))
                .await??;
            assert_eq!(&buf, b"ping");
            Ok(())
        });
        sim.run().unwrap();
    }
}
