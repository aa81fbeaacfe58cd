// The conversations' routes (proto/PROTOCOL.md, "Conversations", "Groups", "History"): the
// list, a new conversation, a conversation's pages of messages, pins and threads, and its group
// changes (members, roles, ownership, settings); each a store call whose answer comes back here.
#include <charconv>
#include <set>

#include "chat/api/http_api.h"
#include "chat/chat_shard.h"
#include "chat/cluster/cluster_link.h"
#include "core/runtime/shard.h"
#include "proto/url_path.h"

namespace ringcast::chat {
namespace {

constexpr size_t kMaxConversationName = 128;

// A decimal int64 of at least `min`; false for anything else (sign, spaces, overflow).
bool ParseInt(std::string_view text, int64_t min, int64_t* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size() && *out >= min;
}

bool ParseId(std::string_view text, int64_t* out) { return ParseInt(text, 1, out); }

struct PageQuery {
  int64_t before = 0;
  int64_t seen = 0;  // ConversationStore::History's.
  storage::PageLimit limit;
};

// A page of messages' `before`, `seen` and `limit` (history and thread pages): before=0 means
// "the newest", as absent does (and as in the WebSocket requests); seen=0 names nothing. The
// page holds at most `max_bytes` of messages. Nullopt after answering 400 with the reason.
std::optional<PageQuery> ReadPageQuery(HttpExchange& exchange, uint64_t max_bytes) {
  const std::string_view query = exchange.request().query;
  PageQuery page;
  int64_t count = 50;
  if (auto value = http::QueryParam(query, "before"); value && !ParseInt(*value, 0, &page.before)) {
    exchange.RespondError(400, "before must be a non-negative integer");
    return std::nullopt;
  }
  if (auto value = http::QueryParam(query, "seen"); value && !ParseInt(*value, 0, &page.seen)) {
    exchange.RespondError(400, "seen must be a non-negative integer");
    return std::nullopt;
  }
  if (auto value = http::QueryParam(query, "limit");
      value && (!ParseId(*value, &count) || count > RequestLimits::kMaxHistory)) {
    exchange.RespondError(400, "limit must be 1 to 200");
    return std::nullopt;
  }
  page.limit = {.count = uint32_t(count), .bytes = max_bytes};
  return page;
}

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

// The answer to a conversation route's store call that was refused (never kNone).
std::pair<int, std::string_view> ConversationRefusal(storage::Denial denial) {
  struct Refusal {
    storage::Denial denial;
    int status;
    std::string_view reason;
  };
  static constexpr Refusal kRefusals[] = {
      {storage::Denial::kForbidden, 403, "not a member of this conversation"},
      {storage::Denial::kNotGroup, 400, "the members of a 1:1 conversation cannot change"},
      {storage::Denial::kUnknownUser, 404, "unknown user"},
      {storage::Denial::kTooLarge, 400, "more than --max-group-size members"},
      {storage::Denial::kNotAdmin, 403, "your role in this group does not allow this"},
      {storage::Denial::kOwnerProtected, 403, "the owner cannot be removed or demoted"},
      {storage::Denial::kLastOwner, 409, "the owner must transfer ownership before leaving"},
      {storage::Denial::kNotOwnImage, 400,
       "avatar must be an image you uploaded (with a thumbnail)"},
  };
  for (const Refusal& refusal : kRefusals) {
    if (refusal.denial == denial) return {refusal.status, refusal.reason};
  }
  return {404, "no such conversation or member"};
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
  AppendNotifyState(writer, c, NowMs());  // http_api_notify.cc
  writer.EndObject();
}

}  // namespace

void HttpApi::ListConversations(HttpExchange& exchange, const RouteCall& call) {
  DeferredHttp deferred = exchange.Defer();
  service_.store().ListConversations(
      call.auth.user, service_.ReplyOn<std::vector<storage::ConversationSummary>>(
                          shard_.id(), [deferred](ChatShard& chat, auto result) {
                            HttpApi& self = chat.http_api();
                            if (!result.ok())
                              return self.AnswerStoreFailure(deferred, result.status());
                            JsonWriter writer;
                            writer.BeginObject().Key("conversations").BeginArray();
                            for (const storage::ConversationSummary& c : *result) {
                              WriteConversationSummary(writer, c);
                            }
                            self.Answer(deferred, 200, writer.EndArray().EndObject().str());
                          }));
}

void HttpApi::CreateConversation(HttpExchange& exchange, const RouteCall& call) {
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
  if (others.size() + 1 > config_.max_group_size) {
    return exchange.RespondError(400, "more than --max-group-size members");
  }
  DeferredHttp deferred = exchange.Defer();
  auto create = [deferred, caller, others = std::vector<int64_t>(others.begin(), others.end()),
                 name = spec.group ? std::move(spec.name) : std::nullopt,
                 group = spec.group](HttpApi& self) mutable {
    self.service_.store().CreateConversation(
        caller, std::move(others), std::move(name), group, NowMs(),
        self.service_.ReplyOn<storage::CreateConversationOutcome>(
            self.shard_.id(), [deferred](ChatShard& chat, auto result) {
              HttpApi& self = chat.http_api();
              if (!result.ok()) return self.AnswerStoreFailure(deferred, result.status());
              if (result->denial == storage::Denial::kUnknownUser) {
                return self.AnswerError(deferred, 404, "unknown user");
              }
              const storage::ConversationState& state = result->conversation;
              if (result->created) self.AnnounceMembers(state, {});
              JsonWriter writer;
              self.Answer(deferred, result->created ? 201 : 200,
                          writer.BeginObject().Field("id", state.id).EndObject().str());
            }));
  };
  if (spec.group) return create(*this);
  // A 1:1 with a user who blocks the caller, or whom the caller blocks, is refused (proto/
  // PROTOCOL.md, "Blocks"); the reason does not say which of the two blocks.
  service_.store().EitherBlocks(
      caller, *others.begin(),
      service_.ReplyOn<bool>(shard_.id(), [deferred, create = std::move(create)](
                                              ChatShard& chat, auto blocked) mutable {
        HttpApi& self = chat.http_api();
        if (!blocked.ok()) return self.AnswerStoreFailure(deferred, blocked.status());
        if (*blocked) {
          return self.AnswerError(deferred, 403, "you cannot start a conversation with this user");
        }
        create(self);
      }));
}

bool HttpApi::AnswerDenial(const DeferredHttp& deferred, storage::Denial denial) {
  if (denial == storage::Denial::kNone) return false;
  const auto [status, reason] = ConversationRefusal(denial);
  AnswerError(deferred, status, reason);
  return true;
}

void HttpApi::MessagesPage(HttpExchange& exchange, const RouteCall& call) {
  const auto page = ReadPageQuery(exchange, config_.max_answer_bytes);
  if (!page) return;
  const storage::PageLimit limit = page->limit;
  DeferredHttp deferred = exchange.Defer();
  service_.store().History(
      call.conv, call.auth.user, page->before, page->seen, limit,
      service_.ReplyOn<storage::Page>(
          shard_.id(), [deferred, max_bytes = limit.bytes](ChatShard& chat, auto result) {
            HttpApi& self = chat.http_api();
            if (!result.ok()) return self.AnswerStoreFailure(deferred, result.status());
            if (self.AnswerDenial(deferred, result->denial)) return;
            JsonWriter writer;
            writer.BeginObject().Key("messages").BeginArray();
            bool all = AppendMessagesWithin(writer, result->messages, max_bytes);
            self.Answer(deferred, 200,
                        writer.EndArray().Field("more", result->more || !all).EndObject().str());
          }));
}

void HttpApi::ListPins(HttpExchange& exchange, const RouteCall& call) {
  DeferredHttp deferred = exchange.Defer();
  service_.store().ListPins(
      call.conv, call.auth.user,
      service_.ReplyOn<storage::Page>(shard_.id(), [deferred](ChatShard& chat, auto result) {
        HttpApi& self = chat.http_api();
        if (!result.ok()) return self.AnswerStoreFailure(deferred, result.status());
        if (self.AnswerDenial(deferred, result->denial)) return;
        JsonWriter writer;
        writer.BeginObject().Key("pins").BeginArray();
        AppendMessagesWithin(writer, result->messages, UINT64_MAX);
        self.Answer(deferred, 200, writer.EndArray().EndObject().str());
      }));
}

// A membership change's answer, the same for all of them: the group as it now is, and the change
// announced (a change that was there already writes nothing: no event; the call is idempotent).
storage::Reply<storage::MembershipOutcome> HttpApi::MembershipReply(DeferredHttp deferred,
                                                                    std::vector<int64_t> removed) {
  return service_.ReplyOn<storage::MembershipOutcome>(
      shard_.id(), [deferred, removed = std::move(removed)](ChatShard& chat, auto result) {
        HttpApi& self = chat.http_api();
        if (!result.ok()) return self.AnswerStoreFailure(deferred, result.status());
        if (self.AnswerDenial(deferred, result->denial)) return;
        if (result->changed) self.AfterGroupChange(*result, removed);
        self.Answer(deferred, 200, MembershipBody(result->conversation));
      });
}

// A role, owner or settings change: answered as any membership change, with no one removed.
void HttpApi::ChangeGroup(HttpExchange& exchange, storage::GroupChange change) {
  service_.store().ChangeGroup(std::move(change), MembershipReply(exchange.Defer(), {}));
}

void HttpApi::AddMembers(HttpExchange& exchange, const RouteCall& call) {
  std::vector<int64_t> users;
  if (auto error = ParseMemberList(exchange.body(), &users)) {
    return exchange.RespondError(400, *error);
  }
  if (users.size() > config_.max_group_size) {
    return exchange.RespondError(400, "more than --max-group-size members");
  }
  service_.store().AddMembers(call.conv, call.auth.user, std::move(users), config_.max_group_size,
                              NowMs(), MembershipReply(exchange.Defer(), {}));
}

void HttpApi::RemoveMember(HttpExchange& exchange, const RouteCall& call) {
  service_.store().RemoveMember(call.conv, call.auth.user, call.user, NowMs(),
                                MembershipReply(exchange.Defer(), {call.user}));
}

void HttpApi::SetMemberRole(HttpExchange& exchange, const RouteCall& call) {
  StringFields fields;
  if (auto error = ParseStringFields(exchange.body(), {"role"}, &fields)) {
    return exchange.RespondError(400, *error);
  }
  if (fields.empty() || !fields[0].second ||
      (*fields[0].second != storage::kAdminRole && *fields[0].second != storage::kMemberRole)) {
    return exchange.RespondError(400, "role must be \"admin\" or \"member\"");
  }
  ChangeGroup(exchange, {.op = storage::GroupChange::Op::kSetRole,
                         .conv = call.conv,
                         .caller = call.auth.user,
                         .user = call.user,
                         .role = std::move(*fields[0].second),
                         .now = NowMs()});
}

void HttpApi::TransferGroup(HttpExchange& exchange, const RouteCall& call) {
  std::vector<int64_t> users;
  if (ParseMemberList(exchange.body(), &users) || users.size() != 1) {
    return exchange.RespondError(400, "give the new owner as {\"members\":[user id]}");
  }
  ChangeGroup(exchange, {.op = storage::GroupChange::Op::kTransfer,
                         .conv = call.conv,
                         .caller = call.auth.user,
                         .user = users[0],
                         .now = NowMs()});
}

// PATCH /api/conversations/{id}: name, topic and avatar.
void HttpApi::ChangeGroupSettings(HttpExchange& exchange, const RouteCall& call) {
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
  ChangeGroup(exchange, std::move(change));
}

// GET /api/conversations/{id}/threads/{root}: the WebSocket `thread` answer over HTTP, for a
// client that reads a thread without holding a connection (PROTOCOL.md, "Replies and threads").
void HttpApi::ThreadPage(HttpExchange& exchange, const RouteCall& call) {
  const int64_t conv = call.conv;
  const int64_t root = call.root;
  const auto page = ReadPageQuery(exchange, config_.max_answer_bytes);
  if (!page) return;
  const storage::PageLimit limit = page->limit;
  DeferredHttp deferred = exchange.Defer();
  service_.store().Thread(
      conv, call.auth.user, root, page->before, page->seen, limit,
      service_.ReplyOn<storage::ThreadPage>(
          shard_.id(),
          [deferred, conv, root, max_bytes = limit.bytes](ChatShard& chat, auto result) {
            HttpApi& self = chat.http_api();
            if (!result.ok()) return self.AnswerStoreFailure(deferred, result.status());
            switch (result->page.denial) {
              case storage::Denial::kNone:
                return self.Answer(deferred, 200, EncodeThread(conv, root, *result, max_bytes));
              case storage::Denial::kForbidden:
                return self.AnswerError(deferred, 403, "not a member of this conversation");
              default:
                return self.AnswerError(
                    deferred, 404,
                    "no such conversation, or no such thread root (an ordinary message in no "
                    "thread)");
            }
          }));
}

void HttpApi::AfterGroupChange(const storage::MembershipOutcome& outcome,
                               std::vector<int64_t> removed) {
  const int64_t conv = outcome.conversation.id;
  if (ClusterLink* cluster = service_.cluster()) {
    for (const storage::Message& entry : outcome.system) cluster->PublishMessage(entry);
  }
  // Before the answer (ChatService::HandOffCommitted says why).
  for (const storage::Message& entry : outcome.system) {
    service_.store().NoteCommitted(entry.conv, entry.seq);
  }
  // The owner publishes the system entries, then tells every shard of the change: its mail to a
  // shard keeps its order, so a removed member's sessions get the entry that removed them
  // before they leave the conversation.
  service_.PostOrHold(service_.ConversationOwnerShard(conv),
                      [entries = outcome.system, state = outcome.conversation,
                       removed = std::move(removed)](ChatShard& chat) mutable {
                        for (const storage::Message& entry : entries)
                          chat.conversations().OnRemoteMessage(entry);
                        // The owner shard holds the conversation's calls on this node.
                        chat.calls().OnMembersRemoved(state.id, removed);
                        chat.http_api().AnnounceMembers(state, std::move(removed));
                      });
}

void HttpApi::AnnounceMembers(const storage::ConversationState& state,
                              std::vector<int64_t> removed) {
  auto shared = std::make_shared<const std::pair<storage::ConversationState, std::vector<int64_t>>>(
      state, std::move(removed));
  service_.PostToEveryShard([&shared] {
    return [shared](ChatShard& self) {
      self.sessions().OnMembersChanged(shared->first, shared->second);
    };
  });
  // The other nodes' sessions of these members join or leave too.
  if (ClusterLink* cluster = service_.cluster())
    cluster->PublishMembers(shared->first, shared->second);
}

}  // namespace ringcast::chat
