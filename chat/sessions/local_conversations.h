// LocalConversations: the conversations one shard's sessions are in, as this shard sees them:
// the sessions in each, its members (whom those sessions watch: ContactPresence), whether the
// conversation's owner has answered this shard's join, and the newest seq published here. The
// owners' events for a conversation reach its local sessions through DeliverLocal: one shared
// frame for all of them.
//
// Owner: its SessionHost's shard. It never knows where a conversation's owner runs: joins and
// leaves go through the ConversationLink.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

#include "chat/sessions/conv_view.h"
#include "storage/chat_store.h"

namespace ringcast {
class SharedFrame;
}

namespace ringcast::chat {

class ChatMetrics;
class ContactPresence;
class ConversationLink;
class SessionHost;
struct Session;

class LocalConversations {
 public:
  LocalConversations(SessionHost& host, ConversationLink& link, ContactPresence& presence,
                     ChatMetrics& metrics);

  // A (session, user) pair: `user` just became the session's contact.
  using Introduction = std::pair<Session*, int64_t>;
  // The session is in `conv` from `start_seq` on: the first local session joins it at its
  // owner. `introductions`, when given, gets the members the session did not watch before.
  void AddView(Session& session, int64_t conv, int64_t start_seq,
               const std::vector<int64_t>& members,
               std::vector<Introduction>* introductions = nullptr);
  // The session leaves `conv`; the last local session leaves it at its owner.
  void DropView(Session& session, int64_t conv);
  // Whether the owners of every conversation of `session` have answered this shard's join.
  bool AllJoined(const Session& session) const;
  // From now on a ready session gets every message published to this shard after the last one
  // seen.
  void GoLive(Session& session, int64_t conv, ConvView& view);

  // --- Mail from the owners (SessionHost's public calls of the same names say what each is)
  void OnJoined(int64_t conv, uint64_t token, int64_t last_published);
  void OnRewind(int64_t conv, int64_t last);
  void DeliverLocal(int64_t conv, int64_t seq, SharedFrame* frame, int64_t except_user,
                    bool droppable, int64_t published_us);
  void OnMembersChanged(const storage::ConversationState& state,
                        const std::vector<int64_t>& removed);

 private:
  struct LocalConv {
    std::vector<Session*> sessions;
    std::vector<int64_t> members;  // Sorted.
    uint64_t join_token = 0;       // Matches the owner's answer to our latest join.
    bool joined = false;           // The owner has answered: events now come here.
    int64_t last_seen = -1;        // Newest seq published to this shard; -1 unknown.
  };

  SessionHost& host_;
  ConversationLink& link_;
  ContactPresence& presence_;
  ChatMetrics& metrics_;
  std::unordered_map<int64_t, LocalConv> convs_;
  uint64_t next_join_token_ = 0;
};

}  // namespace ringcast::chat
