// Streamed HTTP bodies: a request body that goes somewhere as it arrives (BodySink), an answer
// whose body is produced as the client reads it (BodySource), and the file operations both do
// on the shard's io_uring (IoTarget).
//
// Owner: the connection's shard; every call below is on its thread. A route starts a sink with
// HttpExchange::StreamBody and a source with Shard::StreamAnswer (core/runtime/shard.h says how
// each is paced). Sinks and sources own themselves: the shard never deletes one, it only stops
// calling it (after OnBodyEnd/OnBodyAbort, or after Shard::EndStream/OnGone).
#pragma once

#include <cstdint>
#include <span>

namespace ringcast {

class BodySink {
 public:
  virtual ~BodySink() = default;
  // The next bytes of the body (valid during the call only; they may be in a receive buffer).
  // A sink that cannot keep up calls Shard::PauseBody and later ResumeBody; bytes the kernel
  // had already received still come (at most one receive's worth per iteration).
  virtual void OnBodyData(std::span<const uint8_t> data) = 0;
  // Content-Length bytes have arrived. The answer is the sink's to give (Shard::AnswerDeferred
  // with the DeferredHttp StreamBody returned).
  virtual void OnBodyEnd() = 0;
  // The connection ended (or the server is stopping) before the body did. No call follows.
  virtual void OnBodyAbort() = 0;
};

class BodySource {
 public:
  virtual ~BodySource() = default;
  // The connection can take more (its queue is under half of --max-outbound-bytes): queue the
  // next bytes with Shard::StreamBytes, and end with Shard::EndStream. Called once after
  // StreamAnswer and then after each Shard::NotifyWhenWritable, once the queue has drained.
  virtual void OnWritable() = 0;
  // The connection ended first. No call follows; EndStream is no longer needed.
  virtual void OnGone() = 0;
};

// The owner of file operations on a shard's ring (Shard::AddIoTarget, PrepareIo): their
// completions come back here, tagged with the cookie given at submission (24 bits).
class IoTarget {
 public:
  virtual ~IoTarget() = default;
  virtual void OnIoComplete(uint32_t cookie, int32_t result) = 0;
};

}  // namespace ringcast
