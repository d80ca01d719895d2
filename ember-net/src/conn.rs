//! Connections: a byte stream on either backend, its owned halves, and detaching a
//! connection from one runtime so another shard thread can adopt it.
//!
//! A production socket is registered with the reactor of the runtime that accepted it, so
//! moving it to another shard thread means converting it to a `std::net::TcpStream`
//! ([`Conn::detach`]) and registering it again there ([`DetachedConn::attach`]). In
//! simulation every shard runs on the host's one runtime and the stream passes through.

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connected byte stream.
#[derive(Debug)]
pub enum Conn {
    Tokio(tokio::net::TcpStream),
    #[cfg(feature = "sim")]
    Sim(turmoil::net::TcpStream),
}

/// The owned read half of a [`Conn`].
#[derive(Debug)]
pub enum ConnReader {
    Tokio(tokio::net::tcp::OwnedReadHalf),
    #[cfg(feature = "sim")]
    Sim(turmoil::net::tcp::OwnedReadHalf),
}

/// The owned write half of a [`Conn`]. Dropping it shuts down the write direction.
#[derive(Debug)]
pub enum ConnWriter {
    Tokio(tokio::net::tcp::OwnedWriteHalf),
    #[cfg(feature = "sim")]
    Sim(turmoil::net::tcp::OwnedWriteHalf),
}

/// A connection bound to no runtime, which can be sent to another thread.
#[derive(Debug)]
pub enum DetachedConn {
    Tokio(std::net::TcpStream),
    #[cfg(feature = "sim")]
    Sim(turmoil::net::TcpStream),
}

impl Conn {
    /// The remote end's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Conn::Tokio(stream) => stream.peer_addr(),
            #[cfg(feature = "sim")]
            Conn::Sim(stream) => stream.peer_addr(),
        }
    }

    /// This end's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Conn::Tokio(stream) => stream.local_addr(),
            #[cfg(feature = "sim")]
            Conn::Sim(stream) => stream.local_addr(),
        }
    }

    /// Sets `TCP_NODELAY`; a no-op in simulation, which has no Nagle delay.
    pub fn set_nodelay(&self, on: bool) -> io::Result<()> {
        match self {
            Conn::Tokio(stream) => stream.set_nodelay(on),
            #[cfg(feature = "sim")]
            Conn::Sim(stream) => stream.set_nodelay(on),
        }
    }

    /// Splits into owned halves that can be used from different tasks.
    pub fn into_split(self) -> (ConnReader, ConnWriter) {
        match self {
            Conn::Tokio(stream) => {
                let (reader, writer) = stream.into_split();
                (ConnReader::Tokio(reader), ConnWriter::Tokio(writer))
            }
            #[cfg(feature = "sim")]
            Conn::Sim(stream) => {
                let (reader, writer) = stream.into_split();
                (ConnReader::Sim(reader), ConnWriter::Sim(writer))
            }
        }
    }

    /// Detaches from the current runtime so the connection can move to another thread.
    /// Bytes already received stay in the kernel's buffer, so none are lost.
    pub fn detach(self) -> io::Result<DetachedConn> {
        match self {
            Conn::Tokio(stream) => Ok(DetachedConn::Tokio(stream.into_std()?)),
            #[cfg(feature = "sim")]
            Conn::Sim(stream) => Ok(DetachedConn::Sim(stream)),
        }
    }
}

impl DetachedConn {
    /// Registers the connection with the calling thread's runtime.
    ///
    /// # Panics
    /// In production, outside a tokio runtime with IO enabled.
    pub fn attach(self) -> io::Result<Conn> {
        match self {
            DetachedConn::Tokio(stream) => {
                // tokio requires nonblocking mode; `into_std` leaves it set, but a stream
                // built elsewhere might not have it.
                stream.set_nonblocking(true)?;
                Ok(Conn::Tokio(tokio::net::TcpStream::from_std(stream)?))
            }
            #[cfg(feature = "sim")]
            DetachedConn::Sim(stream) => Ok(Conn::Sim(stream)),
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Tokio(stream) => Pin::new(stream).poll_read(cx, buf),
            #[cfg(feature = "sim")]
            Conn::Sim(stream) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Tokio(stream) => Pin::new(stream).poll_write(cx, buf),
            #[cfg(feature = "sim")]
            Conn::Sim(stream) => Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Tokio(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            #[cfg(feature = "sim")]
            Conn::Sim(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Conn::Tokio(stream) => stream.is_write_vectored(),
            #[cfg(feature = "sim")]
            Conn::Sim(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Tokio(stream) => Pin::new(stream).poll_flush(cx),
            #[cfg(feature = "sim")]
            Conn::Sim(stream) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Tokio(stream) => Pin::new(stream).poll_shutdown(cx),
            #[cfg(feature = "sim")]
            Conn::Sim(stream) => Pin::new(stream).poll_shutdown(cx),
        }
    }
}

impl AsyncRead for ConnReader {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ConnReader::Tokio(half) => Pin::new(half).poll_read(cx, buf),
            #[cfg(feature = "sim")]
            ConnReader::Sim(half) => Pin::new(half).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ConnWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ConnWriter::Tokio(half) => Pin::new(half).poll_write(cx, buf),
            #[cfg(feature = "sim")]
            ConnWriter::Sim(half) => Pin::new(half).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ConnWriter::Tokio(half) => Pin::new(half).poll_write_vectored(cx, bufs),
            #[cfg(feature = "sim")]
            ConnWriter::Sim(half) => Pin::new(half).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            ConnWriter::Tokio(half) => half.is_write_vectored(),
            #[cfg(feature = "sim")]
            ConnWriter::Sim(half) => half.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ConnWriter::Tokio(half) => Pin::new(half).poll_flush(cx),
            #[cfg(feature = "sim")]
            ConnWriter::Sim(half) => Pin::new(half).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ConnWriter::Tokio(half) => Pin::new(half).poll_shutdown(cx),
            #[cfg(feature = "sim")]
            ConnWriter::Sim(half) => Pin::new(half).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Env;
    use crate::task::run_production;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn assert_send<T: Send + Unpin + 'static>() {}

    #[test]
    fn connection_types_are_send() {
        assert_send::<Conn>();
        assert_send::<ConnReader>();
        assert_send::<ConnWriter>();
        assert_send::<DetachedConn>();
    }

    #[test]
    fn production_split_halves() {
        run_production(Env::production(Some(1)), |env| async move {
            let listener = env.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
            let addr = listener.local_addr().unwrap();
            let client = env.connect(addr).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            let (mut reader, mut writer) = server.into_split();
            let (mut client_reader, mut client_writer) = client.into_split();
            client_writer.write_all(b"ping").await.unwrap();
            let mut buf = [0u8; 4];
            reader.read_exact(&mut buf).await.unwrap();
            writer.write_all(b"pong").await.unwrap();
            client_reader.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"pong");
            // Dropping the writer ends the peer's reads.
            drop(writer);
            assert_eq!(client_reader.read(&mut buf).await.unwrap(), 0);
        });
    }

    #[test]
    fn production_detach_and_attach_on_another_thread() {
        run_production(Env::production(Some(1)), |env| async move {
            let listener = env.bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
            let mut client = env.connect(listener.local_addr().unwrap()).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            // Sent before the move: it must still be readable on the other thread.
            client.write_all(b"early").await.unwrap();
            let detached = server.detach().unwrap();
            let other = std::thread::spawn(move || {
                run_production(Env::production(Some(2)), |_| async move {
                    let mut conn = detached.attach().unwrap();
                    let mut buf = [0u8; 5];
                    conn.read_exact(&mut buf).await.unwrap();
                    conn.write_all(&buf).await.unwrap();
                    conn.shutdown().await.unwrap();
                })
            });
            let mut buf = Vec::new();
            client.read_to_end(&mut buf).await.unwrap();
            assert_eq!(buf, b"early");
            other.join().unwrap();
        });
    }
}
