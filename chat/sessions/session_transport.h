// SessionTransport: how a chat session's events reach a client that does not speak the chat
// protocol's JSON over a WebSocket of its own (proto/PROTOCOL.md, "Chat transports"): STOMP frames
// on the same WebSocket, or events on an HTTP stream. A plain /ws session has none, and its events
// go straight to its connection.
//
// Owner: the session (SessionHost's shard). Every call is on that shard's thread.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/net/connection.h"

namespace ringcast {
class SharedFrame;
}  // namespace ringcast

namespace ringcast::chat {

class SessionTransport {
 public:
  virtual ~SessionTransport() = default;
  // One event of the chat protocol, as its JSON text.
  virtual void Send(std::string_view json) = 0;
  // The same, for an event encoded once for every recipient as a WebSocket text frame (its
  // payload is the JSON). Takes over one reference.
  virtual void SendShared(SharedFrame* frame, ringcast::Delivery delivery) = 0;
  // Ends the session with the chat protocol's close code and reason (PROTOCOL.md, "Close
  // codes"); its way in ends the session once the transport is done with the connection
  // (ConnectionSessions::OnClose, DetachedSessions::Release).
  virtual void Close(uint16_t code, std::string_view reason) = 0;
  // Asked only while the session has no connection (Session::conn null: an HTTP transport
  // between its streams, or polled): whether the client is behind, so that its requests wait
  // (RequestPacing::RunPending), and a promise to call DetachedSessions::OnDrain once it is
  // not. A session with a connection is judged by that connection's congestion.
  virtual bool Congested() const { return false; }
  virtual void NotifyWhenUncongested() {}
};

}  // namespace ringcast::chat
