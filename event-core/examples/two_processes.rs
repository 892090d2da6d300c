//! Two processes on one bus: `networking` answers how many peers it has, `sync` asks.
//!
//! ```text
//! cargo run -p event-core --example two_processes
//! ```
//!
//! The program is both: started without arguments it is `sync`, and starts itself again
//! as `networking`. It shows the four steps of every multi-process program: pick a
//! socket directory both processes know, serve and connect, wait for the other side's
//! subscriptions, and stop.

use event_core::{ConnectionConfig, Endpoint, Event};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "example.PeerCountResponse")]
pub struct PeerCountResponse {
    pub peer_count: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "example.PeerCountRequest")]
#[request(response = PeerCountResponse)]
pub struct PeerCountRequest;

#[derive(Debug, Clone, Serialize, Deserialize, Event)]
#[event(name = "example.Shutdown")]
pub struct Shutdown;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // 1. A directory both processes find: private to this user, the same for every
    //    process of the application.
    let dir = ConnectionConfig::socket_dir("event-core-example")?;
    if std::env::args().nth(1).as_deref() == Some("networking") {
        return networking(&dir).await;
    }
    let child = std::process::Command::new(std::env::current_exe()?)
        .arg("networking")
        .spawn()?;
    // Ended on every way out of here, an error included.
    let mut child = KillOnDrop(child);

    // 2. Serve, and connect: this waits (up to the connect timeout) for the socket of a
    //    process that is still starting.
    let bus = Endpoint::serve(ConnectionConfig::from_name("sync", &dir)).await?;
    bus.connect_to_endpoints(&[ConnectionConfig::from_name("networking", &dir)])
        .await?;

    // 3. Wait until the other side subscribes, then ask: the answer's type is bound by
    //    `#[request(response = ...)]`.
    let subscribed = async {
        bus.wait_until_endpoint_subscribed_to::<PeerCountRequest>("networking")
            .await;
        bus.wait_until_endpoint_subscribed_to::<Shutdown>("networking")
            .await;
    };
    tokio::time::timeout(Duration::from_secs(5), subscribed).await?;
    let count = bus
        .request_timeout(PeerCountRequest, Duration::from_secs(5))
        .await?;
    println!("sync: networking has {} peers", count.peer_count);

    // 4. Stop: what was broadcast is delivered before the connections close.
    bus.broadcast(Shutdown).await?;
    bus.stop().await;
    let status = child.0.wait()?;
    println!("sync: networking exited ({status})");
    Ok(())
}

/// A child process, killed if it is still running when dropped.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

async fn networking(dir: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let bus = Endpoint::serve(ConnectionConfig::from_name("networking", dir)).await?;
    let mut requests = bus.stream_requests::<PeerCountRequest>();
    let mut shutdown = bus.stream::<Shutdown>();
    loop {
        tokio::select! {
            Some(request) = requests.next() => {
                println!("networking: {} asks for the peer count", request.origin());
                request.respond(PeerCountResponse { peer_count: 3 }).await?;
            }
            _ = shutdown.next() => break,
        }
    }
    bus.stop().await;
    Ok(())
}
