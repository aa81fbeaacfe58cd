// The group family (proto/PROTOCOL.md, "Conversations" and "Groups"): the caller's list, a new
// conversation, and a group's changes (members, roles, ownership, settings); each a store call
// whose answer comes back to the asking shard. A committed change goes out through the
// conversation's owner as its system entries, then every shard learns the new membership.
#include <set>

#include "chat/cluster/cluster_link.h"
#include "chat/ops/routes.h"
#include "core/runtime/shard.h"
#include "proto/url_path.h"

namespace ringcast::chat {
namespace {

constexpr size_t kMaxConversationName = 128;

void WriteMemberIds(JsonWriter& writer, const storage::ConversationState& state) {
  writer.Key("members").BeginArray();
  for (const storage::MemberState& member : state.members) writer.Int(member.user);
  writer.EndArray();
}

// A membership change's answer: the group as it now is, roles parallel to members.
std::string MembershipBody(const storage::ConversationState& state) {
  JsonWriter writer;
  writer.BeginObject().Field("id", state.id).Key("name");
  state.name ? writer.String(*state.name) : writer.Null();
  writer.Key("topic");
  state.topic ? writer.String(*state.topic) : writer.Null();
  WriteAvatar(writer, state.avatar);
  WriteMemberIds(writer, state);
  writer.Key("roles").BeginArray();
  for (const storage::MemberState& member : state.members) writer.String(member.role);
  return writer.EndArray().EndObject().Take();
}

void WriteConversationSummary(JsonWriter& writer, const storage::ConversationSummary& c) {
  writer.BeginObject().Field("id", c.id).Key("name");
  c.name ? writer.String(*c.name) : writer.Null();
  writer.Key("topic");
  c.topic ? writer.String(*c.topic) : writer.Null();
  WriteAvatar(writer, c.avatar);
  writer.Field("group", c.group).Key("members").BeginArray();
  for (int64_t member : c.members) writer.Int(member);
  writer.EndArray().Key("roles").BeginArray();
  for (const std::string& role : c.roles) writer.String(role);
  writer.EndArray().Key("last_message");
  c.last_message ? AppendMessage(writer, *c.last_message) : void(writer.Null());
  writer.Field("last_seq", c.last_seq).Field("unread", c.unread).Field("read_seq", c.read_seq);
  AppendNotifyState(writer, c, NowMs());  // chat/ops/notify_routes.cc
  writer.EndObject();
}

void ListConversations(HttpApi& api, HttpExchange& exchange, const RouteCall& call) {
  DeferredHttp deferred = exchange.Defer();
  api.service().store().ListConversations(
      call.auth.user, StoreReply<std::vector<storage::ConversationSummary>>(
                          api, deferred,
                          [](HttpApi& self, const DeferredHttp& deferred,
                             const std::vector<storage::ConversationSummary>& conversations) {
                            self.Answer(
                                deferred, 200,
                                ListBody("conversations", conversations, WriteConversationSummary));
                          }));
}

// Tells every shard (this one too) about a conversation's new membership.
void AnnounceMembers(HttpApi& api, const storage::ConversationState& state,
                     std::vector<int64_t> removed) {
  auto shared = std::make_shared<const std::pair<storage::ConversationState, std::vector<int64_t>>>(
      state, std::move(removed));
  api.service().PostToEveryShard([&shared] {
    return [shared](ChatShard& self) {
      self.sessions().local_convs().OnMembersChanged(shared->first, shared->second);
    };
  });
  // The other nodes' sessions of these members join or leave too.
  if (ClusterLink* cluster = api.service().cluster())
    cluster->PublishMembers(shared->first, shared->second);
}

void CreateConversation(HttpApi& api, HttpExchange& exchange, const RouteCall& call) {
  const int64_t caller = call.auth.user;
  NewConversation spec;
  if (auto error = ParseNewConversation(exchange.body(), &spec)) {
    return exchange.RespondError(400, *error);
  }
  std::set<int64_t> others(spec.members.begin(), spec.members.end());
  others.erase(caller);
  if (!spec.group && others.size() != 1) {
    return exchange.RespondError(400, "a 1:1 conversation needs exactly one other member");
  }
  if (spec.group && others.empty()) {
    return exchange.RespondError(400, "a group needs at least one other member");
  }
  // Rather than store a 1:1 without the name the client asked for.
  if (!spec.group && spec.name) {
    return exchange.RespondError(400, "a 1:1 conversation has no name");
  }
  if (spec.name && spec.name->size() > kMaxConversationName) {
    return exchange.RespondError(400, "name longer than 128 bytes");
  }
  if (others.size() + 1 > api.config().max_group_size) {
    return exchange.RespondError(400, "more than --max-group-size members");
  }
  DeferredHttp deferred = exchange.Defer();
  auto create = [deferred, caller, others = std::vector<int64_t>(others.begin(), others.end()),
                 name = spec.group ? std::move(spec.name) : std::nullopt,
                 group = spec.group](HttpApi& self) mutable {
    self.service().store().CreateConversation(
        caller, std::move(others), std::move(name), group, NowMs(),
        StoreReply<storage::CreateConversationOutcome>(
            self, deferred,
            [](HttpApi& self, const DeferredHttp& deferred,
               const storage::CreateConversationOutcome& outcome) {
              if (outcome.denial == storage::Denial::kUnknownUser) {
                return self.AnswerError(deferred, 404, "unknown user");
              }
              const storage::ConversationState& state = outcome.conversation;
              if (outcome.created) AnnounceMembers(self, state, {});
              JsonWriter writer;
              self.Answer(deferred, outcome.created ? 201 : 200,
                          writer.BeginObject().Field("id", state.id).EndObject().str());
            }));
  };
  if (spec.group) return create(api);
  // A 1:1 with a user who blocks the caller, or whom the caller blocks, is refused (proto/
  // PROTOCOL.md, "Blocks"); the reason does not say which of the two blocks.
  api.service().store().EitherBlocks(
      caller, *others.begin(),
      StoreReply<bool>(api, deferred,
                       [create = std::move(create)](HttpApi& self, const DeferredHttp& deferred,
                                                    bool blocked) mutable {
                         if (blocked) {
                           return self.AnswerError(
                               deferred, 403, "you cannot start a conversation with this user");
                         }
                         create(self);
                       }));
}

// A membership change's answer, the same for all of them: the group as it now is, and the change
// announced (a change that was there already writes nothing: no event; the call is idempotent).
storage::Reply<storage::MembershipOutcome> MembershipReply(HttpApi& api, DeferredHttp deferred,
                                                           std::vector<int64_t> removed) {
  return StoreReply<storage::MembershipOutcome>(
      api, std::move(deferred),
      [removed = std::move(removed)](HttpApi& self, const DeferredHttp& deferred,
                                     const storage::MembershipOutcome& outcome) {
        if (self.AnswerDenial(deferred, outcome.denial)) return;
        if (outcome.changed) AfterGroupChange(self, outcome, removed);
        self.Answer(deferred, 200, MembershipBody(outcome.conversation));
      });
}

// A role, owner or settings change: answered as any membership change, with no one removed.
void ChangeGroup(HttpApi& api, HttpExchange& exchange, storage::GroupChange change) {
  api.service().store().ChangeGroup(std::move(change), MembershipReply(api, exchange.Defer(), {}));
}

void AddMembers(HttpApi& api, HttpExchange& exchange, const RouteCall& call) {
  std::vector<int64_t> users;
  if (auto error = ParseMemberList(exchange.body(), &users)) {
    return exchange.RespondError(400, *error);
  }
  if (users.size() > api.config().max_group_size) {
    return exchange.RespondError(400, "more than --max-group-size members");
  }
  api.service().store().AddMembers(call.conv, call.auth.user, std::move(users),
                                   api.config().max_group_size, NowMs(),
                                   MembershipReply(api, exchange.Defer(), {}));
}

void RemoveMember(HttpApi& api, HttpExchange& exchange, const RouteCall& call) {
  api.service().store().RemoveMember(call.conv, call.auth.user, call.user, NowMs(),
                                     MembershipReply(api, exchange.Defer(), {call.user}));
}

void SetMemberRole(HttpApi& api, HttpExchange& exchange, const RouteCall& call) {
  StringFields fields;
  if (auto error = ParseStringFields(exchange.body(), {"role"}, &fields)) {
    return exchange.RespondError(400, *error);
  }
  if (fields.empty() || !fields[0].second ||
      (*fields[0].second != storage::kAdminRole && *fields[0].second != storage::kMemberRole)) {
    return exchange.RespondError(400, "role must be \"admin\" or \"member\"");
  }
  ChangeGroup(api, exchange,
              {.op = storage::GroupChange::Op::kSetRole,
               .conv = call.conv,
               .caller = call.auth.user,
               .user = call.user,
               .role = std::move(*fields[0].second),
               .now = NowMs()});
}

void TransferGroup(HttpApi& api, HttpExchange& exchange, const RouteCall& call) {
  std::vector<int64_t> users;
  if (ParseMemberList(exchange.body(), &users) || users.size() != 1) {
    return exchange.RespondError(400, "give the new owner as {\"members\":[user id]}");
  }
  ChangeGroup(api, exchange,
              {.op = storage::GroupChange::Op::kTransfer,
               .conv = call.conv,
               .caller = call.auth.user,
               .user = users[0],
               .now = NowMs()});
}

// PATCH /api/conversations/{id}: name, topic and avatar.
void ChangeGroupSettings(HttpApi& api, HttpExchange& exchange, const RouteCall& call) {
  StringFields fields;
  if (auto error = ParseStringFields(exchange.body(), {"name", "topic", "avatar"}, &fields)) {
    return exchange.RespondError(400, *error);
  }
  storage::GroupChange change{.op = storage::GroupChange::Op::kSettings,
                              .conv = call.conv,
                              .caller = call.auth.user,
                              .now = NowMs()};
  for (auto& [field, value] : fields) {
    if (field == "avatar") {
      // null clears it, as "" clears the topic.
      change.avatar = value.value_or("");
      continue;
    }
    if (!value) return exchange.RespondError(400, "name and topic must be strings");
    if (field == "name") {
      if (value->empty() || value->size() > storage::kMaxGroupName) {
        return exchange.RespondError(400, "name must be 1 to 128 bytes");
      }
      change.name = std::move(*value);
    } else {
      if (value->size() > storage::kMaxGroupTopic) {
        return exchange.RespondError(400, "topic longer than 512 bytes");
      }
      change.topic = std::move(*value);
    }
  }
  if (!change.name && !change.topic && !change.avatar) {
    return exchange.RespondError(400, "give \"name\", \"topic\" and/or \"avatar\"");
  }
  ChangeGroup(api, exchange, std::move(change));
}

}  // namespace

void AfterGroupChange(HttpApi& api, const storage::MembershipOutcome& outcome,
                      std::vector<int64_t> removed) {
  const int64_t conv = outcome.conversation.id;
  if (ClusterLink* cluster = api.service().cluster()) {
    for (const storage::Message& entry : outcome.system) cluster->PublishMessage(entry);
  }
  // Before the answer (ChatService::HandOffCommitted says why).
  for (const storage::Message& entry : outcome.system) {
    api.service().store().NoteCommitted(entry.conv, entry.seq);
  }
  // The owner publishes the system entries, then tells every shard of the change: its mail to a
  // shard keeps its order, so a removed member's sessions get the entry that removed them
  // before they leave the conversation.
  api.service().PostOrHold(api.service().ConversationOwnerShard(conv),
                           [entries = outcome.system, state = outcome.conversation,
                            removed = std::move(removed)](ChatShard& chat) mutable {
                             for (const storage::Message& entry : entries)
                               chat.conversations().OnRemoteMessage(entry);
                             // The owner shard holds the conversation's calls on this node.
                             chat.calls().OnMembersRemoved(state.id, removed);
                             AnnounceMembers(chat.http_api(), state, std::move(removed));
                           });
}

std::span<const HttpRoute> GroupRoutes() {
  using http::Method;
  constexpr RouteAccess kBearer = RouteAccess::kBearer;
  static constexpr HttpRoute kRows[] = {
      {Method::kGet, "/api/conversations", kBearer, OnApi<&ListConversations>},
      {Method::kPost, "/api/conversations", kBearer, OnApi<&CreateConversation>},
      {Method::kPatch, "/api/conversations/{id}", kBearer, OnApi<&ChangeGroupSettings>},
      {Method::kPost, "/api/conversations/{id}/members", kBearer, OnApi<&AddMembers>},
      {Method::kDelete, "/api/conversations/{id}/members/{user}", kBearer, OnApi<&RemoveMember>},
      {Method::kPut, "/api/conversations/{id}/members/{user}/role", kBearer, OnApi<&SetMemberRole>},
      {Method::kPost, "/api/conversations/{id}/transfer", kBearer, OnApi<&TransferGroup>},
  };
  return kRows;
}

}  // namespace ringcast::chat
