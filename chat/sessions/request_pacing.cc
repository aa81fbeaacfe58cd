// The requests' way from a session's client to their operation (chat/sessions/request_pacing.h).
#include "chat/sessions/request_pacing.h"

#include "chat/ops/actions.h"
#include "chat/sessions/session_host.h"

namespace ringcast::chat {

void RequestPacing::OnText(Session& session, std::string_view text) {
  session.last_heartbeat_ms = host_.clock().MonotonicMs();
  if (session.phase == Session::Phase::kReady && session.pending.empty() &&
      !session.answer_outstanding && !session.congested()) {
    return Run(session, text);
  }
  // Its turn comes after hello, after the answer on its way, or once the client has read enough.
  if (!session.pending.Push(text)) {
    return host_.CloseSession(session, 1008,
                              session.phase == Session::Phase::kStarting
                                  ? "too many requests before hello"
                                  : "too many requests waiting for answers");
  }
  RunPending(session);  // Arms the drain notice when congestion is what holds it.
}

void RequestPacing::RunPending(Session& session) {
  while (!session.pending.empty() && session.phase == Session::Phase::kReady &&
         !session.answer_outstanding) {
    if (session.congested()) return session.NotifyWhenUncongested();
    std::string text = session.pending.Pop();
    Run(session, text);
  }
}

// Token bucket: msg_rate per second, bursts of twice that. A client that keeps going after
// being refused a burst's worth in a row is closed.
bool RequestPacing::Admit(Session& session, std::string_view cid) {
  if (session.bucket.TryTake(host_.clock().MonotonicMs())) {
    session.refused_in_a_row = 0;
    return true;
  }
  if (++session.refused_in_a_row > 2 * host_.config().msg_rate) {
    host_.CloseSession(session, 1008, "rate limit exceeded");
  } else {
    host_.SendError(session, "rate_limited", "too many requests; slow down", cid);
  }
  return false;
}

void RequestPacing::Run(Session& session, std::string_view text) {
  ops::Request request;
  RequestError error;
  const ops::Wire* wire = reader_.Parse(text, &request, &error);
  if (!Admit(session, error.cid)) return;
  if (wire == nullptr) return session.Send(EncodeRequestError(error));
  ops::ActionOf (*wire)(ops::OpCall{host_, session, error.cid}, request);
}

}  // namespace ringcast::chat
