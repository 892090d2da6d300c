//! The wire of the socket mesh: frames and the messages they carry between two
//! connected endpoints. Pure code: `encode` and `decode` turn messages into bytes and
//! back, `frame` splits a byte stream into frames (a synchronous decoder, and a thin async
//! reader over it); the mesh's tasks only move the bytes.
//!
//! # Frame layout
//!
//! Every frame is a little-endian `u32` length followed by that many bytes; the first of
//! them is the message kind:
//!
//! ```text
//! frame            = len:u32le kind:u8 payload            (len counts kind + payload)
//! 1 HELLO          = postcard(Hello { magic: [u8;4] = "EVB1", protocol: u32 = 2, name: String,
//!                                   max_frame_size: u32 })
//! 2 WELCOME        = postcard(Welcome { name: String, subscriptions: Vec<(String, u64)>,
//!                                     max_frame_size: u32 })
//! 3 REJECT         = postcard(String)                      reason; the sender then closes
//! 4 SUBSCRIPTIONS  = postcard(Vec<(String, u64)>)          the sender's full set: event name,
//!                                                          schema fingerprint
//! 5 EVENT          = flags:u8 [request_id:u64le if flags&1] event-name body
//!                    event-name = name_len:u16le name        (flags&2 clear)
//!                               | name_id:u32le              (flags&2 set)
//! 6 RESPONSE       = request_id:u64le name_len:u16le name body
//! 7 REQUEST_DROPPED= postcard(u64)                         every local recipient dropped it
//! 8 DEFINE_NAME    = name_id:u32le name                     for the EVENTs that follow
//! 9 SCHEMAS        = postcard(Vec<EventSchema>)            schemas the sender publishes
//! ```
//!
//! Names are interned: the sending endpoint numbers the event names it sends, and writes
//! DEFINE_NAME on a connection before the first EVENT that uses a number there (in the
//! same queue, so it always arrives first). A hot 16-byte event then travels in a
//! 37-byte frame instead of carrying its 30-byte name every time, and since the numbers
//! belong to the sender, not to the connection, a broadcast is still encoded once for
//! every connection. A receiver accepts at most 65536 names per connection.
//!
//! `body` is the event encoded with postcard and runs to the end of the frame, so the
//! receiver decodes it in place and a broadcast is encoded once, into one buffer shared
//! by every connection it is written to.
//!
//! A connection starts with HELLO from the connecting side, answered by WELCOME (which
//! carries the acceptor's subscriptions) or REJECT; the connecting side then sends its own
//! SUBSCRIPTIONS. Each side sends SUBSCRIPTIONS again whenever its set changes. Each side
//! also sends SCHEMAS: right after the handshake, the schemas of every event type it knows
//! (see `schema`), one per frame, leaving out any too large for the other side's
//! `max_frame_size` (which HELLO and WELCOME carry); later, before a SUBSCRIPTIONS that
//! names a schema not sent yet on that connection. A sender writes an EVENT only to connections that subscribe to it with the
//! sender's own fingerprint.
//!
//! The origin of an EVENT is not in the frame: it is the name bound to the connection by
//! the handshake, so a peer cannot speak for another. The routing decision (who
//! subscribes, `to_endpoint`) is made by the sender, which writes the frame only to the
//! connections that should get it; the receiver delivers every EVENT to its own
//! subscribers.

mod decode;
mod encode;
mod frame;
mod message;

pub(crate) use decode::{decode, decode_event};
pub(crate) use encode::*;
pub(crate) use frame::{FrameDecoder, FrameReader};
pub(crate) use message::*;

#[cfg(test)]
mod tests;
