//! What the event server needs from a peer pool.

use std::future::Future;

use crate::p2p::{Capabilities, DisconnectReason, Node, PeerInfo, Session};

/// A peer pool, as seen by the [`PeerPoolEventServer`](crate::PeerPoolEventServer): what it
/// can tell about its peers, and the two actions other processes may ask of it.
///
/// The queries are synchronous snapshots (the server calls them for each request, so
/// they should be quick); the actions are asynchronous and run in tasks of their own, so a
/// slow dial does not hold up other requests. Write them as `async fn` in the impl:
///
/// ```
/// use std::convert::Infallible;
/// use std::sync::Mutex;
/// use trinity_events::{
///     Capabilities, Capability, DisconnectReason, Node, PeerInfo, PeerPool, Session,
/// };
///
/// #[derive(Default)]
/// struct StaticPool {
///     peers: Mutex<Vec<PeerInfo>>,
/// }
///
/// impl PeerPool for StaticPool {
///     type Error = Infallible;
///
///     fn connected_peers(&self) -> Vec<PeerInfo> {
///         self.peers.lock().unwrap().clone()
///     }
///
///     fn capabilities(&self) -> Capabilities {
///         vec![Capability::new("eth", 68)].into()
///     }
///
///     async fn connect_to_node(&self, _node: Node) -> Result<(), Infallible> {
///         Ok(()) // a real pool dials the node here
///     }
///
///     async fn disconnect(&self, session: &Session, _reason: DisconnectReason) -> Result<(), Infallible> {
///         self.peers.lock().unwrap().retain(|peer| &peer.session != session);
///         Ok(())
///     }
/// }
/// ```
pub trait PeerPool: Send + Sync + 'static {
    /// Why an action failed; the server logs it.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The peers connected now.
    fn connected_peers(&self) -> Vec<PeerInfo>;

    /// How many peers are connected now. Defaults to the length of
    /// [`connected_peers`](Self::connected_peers).
    fn peer_count(&self) -> usize {
        self.connected_peers().len()
    }

    /// The capabilities (subprotocols and versions) the pool offers to peers.
    fn capabilities(&self) -> Capabilities;

    /// Connects to `node`; the pool announces the new peer itself when the handshake
    /// completes (through
    /// [`PeerPoolEventServer::peer_joined`](crate::PeerPoolEventServer::peer_joined)).
    fn connect_to_node(&self, node: Node) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Disconnects `session` with `reason`, if it is still connected (a session that is
    /// not is no error). The pool announces the departure itself (through
    /// [`PeerPoolEventServer::peer_left`](crate::PeerPoolEventServer::peer_left)).
    fn disconnect(
        &self,
        session: &Session,
        reason: DisconnectReason,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}
