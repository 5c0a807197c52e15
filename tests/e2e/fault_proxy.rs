//! A small fault-injecting TCP proxy for the tests: it sits between the gateway and a
//! dependency (an upstream, the identity provider) and, per connection, passes traffic, delays
//! it, refuses it, resets it, cuts the answer short or half-closes.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// Forward both ways untouched.
    Pass,
    /// Wait this long, then forward.
    Delay(Duration),
    /// Close the connection as soon as it is accepted.
    Refuse,
    /// Read the request, then reset the connection (RST).
    Reset,
    /// Forward the request; forward only this many bytes of the answer, then close.
    Truncate(usize),
    /// Read the request, then close the write side (FIN) and say nothing more.
    HalfClose,
}

pub struct FaultProxy {
    pub port: u16,
    fault: Arc<Mutex<Fault>>,
    /// Bumped by every `set`: connections opened before it close instead of carrying another
    /// request, so a pooled keep-alive connection cannot dodge the new fault.
    generation: Arc<AtomicU64>,
    /// Connections accepted so far.
    pub connections: Arc<AtomicU64>,
}

impl FaultProxy {
    pub async fn start(target: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let fault = Arc::new(Mutex::new(Fault::Pass));
        let connections = Arc::new(AtomicU64::new(0));
        let generation = Arc::new(AtomicU64::new(0));
        let (shared_fault, counter, shared_generation) =
            (fault.clone(), connections.clone(), generation.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let fault = *shared_fault.lock().unwrap();
                let born = Generation {
                    current: shared_generation.clone(),
                    at_accept: shared_generation.load(Ordering::SeqCst),
                };
                tokio::spawn(serve(client, target, fault, born));
            }
        });
        FaultProxy {
            port,
            fault,
            generation,
            connections,
        }
    }

    pub fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn connection_count(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }
}

/// The generation a connection was accepted in.
struct Generation {
    current: Arc<AtomicU64>,
    at_accept: u64,
}

impl Generation {
    fn is_stale(&self) -> bool {
        self.current.load(Ordering::SeqCst) != self.at_accept
    }
}

async fn serve(mut client: TcpStream, target: SocketAddr, fault: Fault, born: Generation) {
    let mut request = [0u8; 16 * 1024];
    match fault {
        Fault::Pass => forward(client, target, None, born).await,
        Fault::Delay(delay) => {
            tokio::time::sleep(delay).await;
            forward(client, target, None, born).await;
        }
        Fault::Refuse => drop(client),
        Fault::Reset => {
            let _ = client.read(&mut request).await;
            // Linger 0: closing sends RST instead of FIN.
            let _ = client.set_zero_linger();
            drop(client);
        }
        Fault::Truncate(limit) => forward(client, target, Some(limit), born).await,
        Fault::HalfClose => {
            let _ = client.read(&mut request).await;
            let _ = client.shutdown().await;
            // Keep the read side open a while, as a half-closed peer would.
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    }
}

/// Copies both ways; with `limit`, the answer is cut after that many bytes.
async fn forward(client: TcpStream, target: SocketAddr, limit: Option<usize>, born: Generation) {
    let Ok(upstream) = TcpStream::connect(target).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut upstream_read, mut upstream_write) = upstream.into_split();
    let requests = tokio::spawn(async move {
        let mut buffer = [0u8; 8192];
        loop {
            let n = match client_read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            // A request on a connection from before the last `set`: close instead.
            if born.is_stale() || upstream_write.write_all(&buffer[..n]).await.is_err() {
                break;
            }
        }
        let _ = upstream_write.shutdown().await;
    });
    let mut sent = 0usize;
    let mut buffer = [0u8; 8192];
    while let Ok(n) = upstream_read.read(&mut buffer).await {
        if n == 0 {
            break;
        }
        let n = match limit {
            Some(limit) => n.min(limit - sent),
            None => n,
        };
        if client_write.write_all(&buffer[..n]).await.is_err() {
            break;
        }
        sent += n;
        if limit.is_some_and(|limit| sent >= limit) {
            break;
        }
    }
    requests.abort();
    let _ = client_write.shutdown().await;
}
