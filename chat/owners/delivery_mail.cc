#include "chat/owners/delivery_mail.h"

#include <memory>
#include <utility>

#include "chat/chat_shard.h"
#include "chat/service.h"
#include "chat/sessions/session_host.h"
#include "core/runtime/clock.h"

namespace ringcast::chat {

struct DeliveryMail::AckRide {
  SharedFrame* frame;
  ConnId to;
  std::string json;
};

Mail DeliveryMail::Pack(Delivery& delivery) {
  SharedFrame* frame = std::exchange(delivery.frame, nullptr);
  // Written by the first mail of a publish only, before any is posted: the later ones find the
  // same stamp, and a write then would race with the shards already reading it.
  const auto stamp = static_cast<uint32_t>(delivery.published_us);
  if (delivery.seq > 0 && frame->stamp() != stamp) frame->set_stamp(stamp);
  if (!delivery.ack.empty()) {
    auto* ride = new AckRide{frame, delivery.ack_to, std::move(delivery.ack)};
    return Mail{&DeliveryMail::RunAcked, ride, uint64_t(delivery.conv), uint64_t(delivery.seq)};
  }
  if (delivery.seq > 0) {
    return Mail{&DeliveryMail::RunMessage, frame, uint64_t(delivery.conv), uint64_t(delivery.seq)};
  }
  return Mail{delivery.droppable ? &DeliveryMail::RunDroppable : &DeliveryMail::RunEvent, frame,
              uint64_t(delivery.conv), uint64_t(delivery.except_user)};
}

Delivery DeliveryMail::Unpack(const Mail& mail, int64_t now_us) {
  return UnpackAs(mail, KindOf(mail), now_us);
}

Delivery DeliveryMail::UnpackAs(const Mail& mail, Kind kind, int64_t now_us) {
  Delivery delivery;
  delivery.conv = int64_t(mail.a);
  if (kind == Kind::kEvent || kind == Kind::kDroppable) {
    delivery.except_user = int64_t(mail.b);
    delivery.droppable = kind == Kind::kDroppable;
    delivery.frame = static_cast<SharedFrame*>(mail.ptr);
    return delivery;
  }
  delivery.seq = int64_t(mail.b);
  if (kind == Kind::kAcked) {
    std::unique_ptr<AckRide> ride(static_cast<AckRide*>(mail.ptr));
    delivery.frame = ride->frame;
    delivery.ack_to = ride->to;
    delivery.ack = std::move(ride->json);
  } else {
    delivery.frame = static_cast<SharedFrame*>(mail.ptr);
  }
  // Unsigned: the difference of the low 32 bits is the latency even across their wrap.
  const uint32_t since = static_cast<uint32_t>(now_us) - delivery.frame->stamp();
  delivery.published_us = now_us - int64_t(since);
  return delivery;
}

void DeliveryMail::Release(const Mail& mail) {
  Delivery delivery = Unpack(mail, 0);
  delivery.frame->Release();
}

void DeliveryMail::Run(const Mail& mail, Kind kind) {
  ChatShard* app = ChatService::AppOnThisThread();
  if (app == nullptr) return Release(mail);  // The service has stopped: nobody to deliver to.
  Delivery delivery = UnpackAs(mail, kind, SystemClock().MonotonicUs());
  SessionHost& sessions = app->sessions();
  sessions.local_convs().DeliverLocal(delivery.conv, delivery.seq, delivery.frame,
                                      delivery.except_user, delivery.droppable,
                                      delivery.published_us);
  if (!delivery.ack.empty()) sessions.SendText(delivery.ack_to, delivery.ack);
}

// Four bodies that differ (the kind), so that no identical-code folding can give two of them
// one address: Unpack tells the kinds apart by it.
void DeliveryMail::RunMessage(Shard&, const Mail& mail) { Run(mail, Kind::kMessage); }
void DeliveryMail::RunEvent(Shard&, const Mail& mail) { Run(mail, Kind::kEvent); }
void DeliveryMail::RunDroppable(Shard&, const Mail& mail) { Run(mail, Kind::kDroppable); }
void DeliveryMail::RunAcked(Shard&, const Mail& mail) { Run(mail, Kind::kAcked); }

DeliveryMail::Kind DeliveryMail::KindOf(const Mail& mail) {
  if (mail.run == &DeliveryMail::RunAcked) return Kind::kAcked;
  if (mail.run == &DeliveryMail::RunEvent) return Kind::kEvent;
  if (mail.run == &DeliveryMail::RunDroppable) return Kind::kDroppable;
  return Kind::kMessage;
}

}  // namespace ringcast::chat
