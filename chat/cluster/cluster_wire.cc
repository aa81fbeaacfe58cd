// ClusterLink's wire format (chat/cluster/cluster_link.h, docs/cluster.md): how messages, forwarded
// sends and their answers, membership changes, call notes and requests and SSE posts travel
// between nodes. Pure: no bus, no shards.
#include <charconv>

#include "chat/cluster/cluster_link.h"
#include "chat/cluster/wire_fields.h"

namespace ringcast::chat {

using cluster_wire::AppendInts;
using cluster_wire::Fields;

// "m id seq from ts kind_size\n" kind body; a message with files (issue 15):
// "x id seq from ts kind_size attachments_size\n" kind attachments body. A node that knows no
// 'x' skips it and fills the gap from the store, which has the files too. Either header may
// end with " mention_count mentioned_user..." (issue 14), which a node that knows no mentions
// reads past. A change to an earlier message (issue 25: edit, delete) is
// "c id seq from ts kind_size target on\n" kind body (never with files; `on` a reaction's
// reaction_on, -1 for other changes), which a node that knows no 'c' skips and fills from the
// store. A reply (issue 25, replies and threads) is
// "q id seq from ts kind_size attachments_size reply_to thread_root quote_from quote_deleted
// quote_size\n" kind attachments quote body (the quote's excerpt: the parent's body as the
// append read it), which a node that knows no 'q' skips and fills from the store.
namespace {

bool DecodeChange(Fields& fields, storage::Message& message) {
  int64_t on = 0;
  if (!fields.Int(&message.target) || !fields.Int(&on) || message.target <= 0 || on < -1 ||
      on > 1) {
    return false;
  }
  message.reaction_on = int(on);
  return true;
}

}  // namespace

std::string ClusterLink::EncodeMessage(const storage::Message& message) {
  const bool files = !message.attachments.empty();
  const bool change = message.target != 0;
  const bool reply = !change && message.reply_to != 0;
  const storage::Quote quote = message.quote.value_or(storage::Quote{});
  std::string out = change ? "c" : reply ? "q" : files ? "x" : "m";
  AppendInts(out,
             {message.id, message.seq, message.from, message.ts, int64_t(message.kind.size())});
  if (change) {
    AppendInts(out, {message.target, message.reaction_on});
  } else if (reply) {
    AppendInts(out, {int64_t(message.attachments.size()), message.reply_to, message.thread_root,
                     quote.from, quote.deleted ? 1 : 0, int64_t(quote.excerpt.size())});
  } else if (files) {
    AppendInts(out, {int64_t(message.attachments.size())});
  }
  if (!message.mentions.empty()) {
    AppendInts(out, {int64_t(message.mentions.size())});
    for (int64_t user : message.mentions) AppendInts(out, {user});
  }
  out += '\n';
  out += message.kind;
  out += message.attachments;
  if (reply) out += quote.excerpt;
  out += message.body;
  return out;
}

std::optional<storage::Message> ClusterLink::DecodeMessage(int64_t conv, std::string_view payload) {
  const bool reply = payload.starts_with('q');
  const bool files = payload.starts_with('x') || reply;
  const bool change = payload.starts_with('c');
  if (!payload.starts_with('m') && !files && !change) return std::nullopt;
  Fields fields(payload.substr(1));
  storage::Message message;
  message.conv = conv;
  int64_t kind_size = 0, files_size = 0, mentions = 0;
  storage::Quote quote;
  int64_t quote_deleted = 0, quote_size = 0;
  if (!fields.Int(&message.id) || !fields.Int(&message.seq) || !fields.Int(&message.from) ||
      !fields.Int(&message.ts) || !fields.Int(&kind_size) || (files && !fields.Int(&files_size)) ||
      (change && !DecodeChange(fields, message))) {
    return std::nullopt;
  }
  if (reply &&
      (!fields.Int(&message.reply_to) || !fields.Int(&message.thread_root) ||
       !fields.Int(&quote.from) || !fields.Int(&quote_deleted) || !fields.Int(&quote_size) ||
       message.reply_to <= 0 || quote_size < 0 || quote_size > int64_t(payload.size()))) {
    return std::nullopt;
  }
  if (fields.Int(&mentions)) {  // Absent: none.
    if (mentions < 0 || mentions > int64_t(payload.size())) return std::nullopt;
    message.mentions.resize(size_t(mentions));
    for (int64_t& user : message.mentions) {
      if (!fields.Int(&user)) return std::nullopt;
    }
  }
  std::string_view rest;
  if (!fields.Rest(&rest) || kind_size < 0 || files_size < 0 ||
      uint64_t(kind_size) + uint64_t(files_size) + uint64_t(quote_size) > rest.size() ||
      message.seq <= 0) {
    return std::nullopt;
  }
  message.kind = std::string(rest.substr(0, size_t(kind_size)));
  rest.remove_prefix(size_t(kind_size));
  message.attachments = std::string(rest.substr(0, size_t(files_size)));
  rest.remove_prefix(size_t(files_size));
  if (reply && quote.from > 0) {
    quote.deleted = quote_deleted != 0;
    quote.excerpt = std::string(rest.substr(0, size_t(quote_size)));
    message.quote = std::move(quote);
  }
  message.body = std::string(rest.substr(size_t(quote_size)));
  return message;
}

// "f forward_id conv sender ts from_size cid_size kind_size mention_count mentions...\n"
//   from cid kind body
// A send with files (issue 15) is "g", with two more sizes after the mentions: the
// attachments' JSON and their ids (comma-separated), which go between the kind and the body. A
// writer that knows no 'g' leaves the send unanswered: the forwarding node commits it itself
// after --forward-timeout-ms. A change (issue 25) is "e", with the target's seq, the edit
// window, the reaction's on (1/0), --max-reactions and --max-pins after the mentions (never with
// files), left unanswered the same way by a writer that knows no 'e'. A reply's "f" or "g" ends
// its header with " reply_to thread" (thread 1/0); a writer that knows no replies reads past
// them and stores the message as no reply.
std::string ClusterLink::EncodeForward(std::string_view from_node, uint64_t forward_id,
                                       const storage::NewMessage& message) {
  const bool files = !message.attachment_ids.empty();
  const bool change = message.target != 0;
  std::string ids;
  for (const std::string& id : message.attachment_ids) {
    if (!ids.empty()) ids += ',';
    ids += id;
  }
  std::string out = change ? "e" : files ? "g" : "f";
  AppendInts(out, {int64_t(forward_id), message.conv, message.sender, message.ts,
                   int64_t(from_node.size()), int64_t(message.cid.size()),
                   int64_t(message.kind.size()), int64_t(message.mentions.size())});
  for (int64_t user : message.mentions) AppendInts(out, {user});
  if (change) {
    AppendInts(out, {message.target, message.edit_window_ms, message.reaction_on ? 1 : 0,
                     int64_t{message.max_reactions}, int64_t{message.max_pins}});
  } else if (files)
    AppendInts(out, {int64_t(message.attachments.size()), int64_t(ids.size())});
  if (!change && message.reply_to != 0) {
    AppendInts(out, {message.reply_to, message.thread ? 1 : 0});
  }
  out += '\n';
  out += from_node;
  out += message.cid;
  out += message.kind;
  if (files) out.append(message.attachments).append(ids);
  out += message.body;
  return out;
}

std::optional<ClusterLink::ForwardedSend> ClusterLink::DecodeForward(std::string_view payload) {
  const bool files = payload.starts_with('g');
  const bool change = payload.starts_with('e');
  if (!payload.starts_with('f') && !files && !change) return std::nullopt;
  Fields fields(payload.substr(1));
  ForwardedSend send;
  storage::NewMessage& message = send.message;
  int64_t id = 0, from_size = 0, cid_size = 0, kind_size = 0, mentions = 0;
  int64_t files_size = 0, ids_size = 0;
  if (!fields.Int(&id) || !fields.Int(&message.conv) || !fields.Int(&message.sender) ||
      !fields.Int(&message.ts) || !fields.Int(&from_size) || !fields.Int(&cid_size) ||
      !fields.Int(&kind_size) || !fields.Int(&mentions) || mentions < 0 ||
      mentions > int64_t(payload.size())) {
    return std::nullopt;
  }
  message.mentions.resize(size_t(mentions));
  for (int64_t& user : message.mentions) {
    if (!fields.Int(&user)) return std::nullopt;
  }
  if (files && (!fields.Int(&files_size) || !fields.Int(&ids_size))) return std::nullopt;
  int64_t on = 0, max_reactions = 0, max_pins = 0;
  if (change &&
      (!fields.Int(&message.target) || !fields.Int(&message.edit_window_ms) || !fields.Int(&on) ||
       !fields.Int(&max_reactions) || !fields.Int(&max_pins) || message.target <= 0 ||
       max_reactions < 0 || max_reactions > UINT32_MAX || max_pins < 0 || max_pins > UINT32_MAX)) {
    return std::nullopt;
  }
  int64_t thread = 0;
  if (!change && fields.Int(&message.reply_to) &&
      (!fields.Int(&thread) || message.reply_to <= 0 || thread < 0 || thread > 1)) {
    return std::nullopt;
  }
  message.thread = thread == 1;
  message.reaction_on = on != 0;
  message.max_reactions = uint32_t(max_reactions);
  message.max_pins = uint32_t(max_pins);
  std::string_view rest;
  if (!fields.Rest(&rest) || from_size <= 0 || cid_size < 0 || kind_size < 0 || files_size < 0 ||
      ids_size < 0 ||
      uint64_t(from_size) + uint64_t(cid_size) + uint64_t(kind_size) + uint64_t(files_size) +
              uint64_t(ids_size) >
          rest.size()) {
    return std::nullopt;
  }
  send.forward_id = uint64_t(id);
  send.from_node = std::string(rest.substr(0, size_t(from_size)));
  rest.remove_prefix(size_t(from_size));
  message.cid = std::string(rest.substr(0, size_t(cid_size)));
  rest.remove_prefix(size_t(cid_size));
  message.kind = std::string(rest.substr(0, size_t(kind_size)));
  rest.remove_prefix(size_t(kind_size));
  message.attachments = std::string(rest.substr(0, size_t(files_size)));
  rest.remove_prefix(size_t(files_size));
  std::string_view ids = rest.substr(0, size_t(ids_size));
  while (!ids.empty()) {
    const size_t comma = ids.find(',');
    message.attachment_ids.emplace_back(ids.substr(0, comma));
    if (comma == std::string_view::npos) break;
    ids.remove_prefix(comma + 1);
  }
  message.body = std::string(rest.substr(size_t(ids_size)));
  return send;
}

// "a forward_id conv outcome" (0 committed, 1 unavailable, 2 refused, followed by the
// storage::Denial's number: an answer without one is kForbidden), then for outcome 0
// " duplicate" and the message as EncodeMessage writes it.
std::string ClusterLink::EncodeForwardAnswer(
    uint64_t forward_id, int64_t conv, const storage::Result<storage::AppendOutcome>& result) {
  std::string out = "a";
  const int64_t outcome = !result.ok() ? 1 : result->denial != storage::Denial::kNone ? 2 : 0;
  AppendInts(out, {int64_t(forward_id), conv, outcome});
  if (outcome == 2) AppendInts(out, {int64_t(result->denial)});
  if (outcome != 0) return out;
  AppendInts(out, {result->duplicate ? 1 : 0});
  out += ' ';
  out += EncodeMessage(result->message);
  return out;
}

std::optional<ClusterLink::ForwardAnswer> ClusterLink::DecodeForwardAnswer(
    std::string_view payload) {
  if (!payload.starts_with('a')) return std::nullopt;
  Fields fields(payload.substr(1));
  ForwardAnswer answer;
  int64_t id = 0, outcome = 0;
  if (!fields.Int(&id) || !fields.Int(&answer.conv) || !fields.Int(&outcome)) return std::nullopt;
  answer.forward_id = uint64_t(id);
  if (outcome == 1) {
    answer.result = storage::Status(storage::Errc::kUnavailable, "the writing node's store");
    return answer;
  }
  storage::AppendOutcome appended;
  if (outcome == 2) {
    int64_t denial = 0;
    appended.denial =
        fields.Int(&denial) && denial > 0 && denial <= int64_t(storage::Denial::kTooManyPins)
            ? storage::Denial(denial)
            : storage::Denial::kForbidden;
    answer.result = std::move(appended);
    return answer;
  }
  int64_t duplicate = 0;
  if (outcome != 0 || !fields.Int(&duplicate)) return std::nullopt;
  const size_t message_at = payload.find_first_of("mxc");
  if (message_at == std::string_view::npos) return std::nullopt;
  auto message = DecodeMessage(answer.conv, payload.substr(message_at));
  if (!message) return std::nullopt;
  appended.duplicate = duplicate != 0;
  appended.message = std::move(*message);
  answer.result = std::move(appended);
  return answer;
}

// "M conv group last_seq name_size(-1: none) topic_size(-1: none) members removed\n" name topic
//   then per member "user delivered read role" (role: 0 member, 1 admin, 2 owner), then the
//   removed users, space-separated, then "\n" and the group's avatar (an upload id) when it has
//   one: a node that predates avatars reads the record up to there and ignores the rest.
namespace {
constexpr std::string_view kRoleCodes[] = {storage::kMemberRole, storage::kAdminRole,
                                           storage::kOwnerRole};
}  // namespace

std::string ClusterLink::EncodeMembers(const storage::ConversationState& state,
                                       const std::vector<int64_t>& removed) {
  std::string out = "M";
  AppendInts(out, {state.id, state.group ? 1 : 0, state.last_seq,
                   state.name ? int64_t(state.name->size()) : -1,
                   state.topic ? int64_t(state.topic->size()) : -1, int64_t(state.members.size()),
                   int64_t(removed.size())});
  out += '\n';
  if (state.name) out += *state.name;
  if (state.topic) out += *state.topic;
  for (const storage::MemberState& member : state.members) {
    const int64_t code = std::find(std::begin(kRoleCodes), std::end(kRoleCodes), member.role) -
                         std::begin(kRoleCodes);
    AppendInts(out, {member.user, member.delivered, member.read,
                     code < int64_t(std::size(kRoleCodes)) ? code : 0});
  }
  for (int64_t user : removed) AppendInts(out, {user});
  if (state.avatar) {
    out += '\n';
    out += *state.avatar;
  }
  return out;
}

bool ClusterLink::DecodeMembers(std::string_view payload, storage::ConversationState* state,
                                std::vector<int64_t>* removed) {
  if (!payload.starts_with('M')) return false;
  Fields header(payload.substr(1));
  int64_t group = 0, name_size = 0, topic_size = 0, members = 0, removed_count = 0;
  std::string_view rest;
  if (!header.Int(&state->id) || !header.Int(&group) || !header.Int(&state->last_seq) ||
      !header.Int(&name_size) || !header.Int(&topic_size) || !header.Int(&members) ||
      !header.Int(&removed_count) || !header.Rest(&rest) || members < 0 || removed_count < 0 ||
      std::max<int64_t>(name_size, 0) + std::max<int64_t>(topic_size, 0) > int64_t(rest.size())) {
    return false;
  }
  state->group = group != 0;
  if (name_size >= 0) {
    state->name = std::string(rest.substr(0, size_t(name_size)));
    rest.remove_prefix(size_t(name_size));
  }
  if (topic_size >= 0) {
    state->topic = std::string(rest.substr(0, size_t(topic_size)));
    rest.remove_prefix(size_t(topic_size));
  }
  Fields body(rest);
  for (int64_t i = 0; i < members; ++i) {
    storage::MemberState member;
    int64_t role = 0;
    if (!body.Int(&member.user) || !body.Int(&member.delivered) || !body.Int(&member.read) ||
        !body.Int(&role) || role < 0 || role >= int64_t(std::size(kRoleCodes))) {
      return false;
    }
    member.role = kRoleCodes[role];
    state->members.push_back(member);
  }
  for (int64_t i = 0; i < removed_count; ++i) {
    int64_t user = 0;
    if (!body.Int(&user)) return false;
    removed->push_back(user);
  }
  if (std::string_view tail = body.Tail(); tail.starts_with('\n')) {
    state->avatar = std::string(tail.substr(1));
  }
  return true;
}

// "C device except_device track conv call_size user_count user...\n" call json
std::string ClusterLink::EncodeCallNote(const CallNote& note) {
  std::string out = "C";
  AppendInts(out, {int64_t(note.device), int64_t(note.except_device), int64_t(note.track),
                   note.conv, int64_t(note.call.size()), int64_t(note.users.size())});
  for (int64_t user : note.users) AppendInts(out, {user});
  out += '\n';
  out += note.call;
  out += note.json;
  return out;
}

std::optional<CallNote> ClusterLink::DecodeCallNote(std::string_view payload) {
  if (!payload.starts_with('C')) return std::nullopt;
  Fields fields(payload.substr(1));
  CallNote note;
  int64_t device = 0, except = 0, track = 0, call_size = 0, users = 0;
  std::string_view rest;
  if (!fields.Int(&device) || !fields.Int(&except) || !fields.Int(&track) ||
      !fields.Int(&note.conv) || !fields.Int(&call_size) || !fields.Int(&users) || track < 0 ||
      track > kLastCallTrack || call_size < 0 || users < 1 ||
      uint64_t(users) > payload.size() / 2) {  // Each user is at least " 1".
    return std::nullopt;
  }
  note.users.resize(size_t(users));
  for (int64_t& user : note.users) {
    if (!fields.Int(&user)) return std::nullopt;
  }
  if (!fields.Rest(&rest) || uint64_t(call_size) > rest.size()) return std::nullopt;
  note.device = uint64_t(device);
  note.except_device = uint64_t(except);
  note.track = CallTrack(track);
  note.call = std::string(rest.substr(0, size_t(call_size)));
  note.json = std::string(rest.substr(size_t(call_size)));
  return note;
}

// "K op from_user from_device to_user to_device conv kind node_size call_size cid_size key_size\n"
// node call cid key json
std::string ClusterLink::EncodeCallRequest(const CallRequest& request) {
  std::string out = "K";
  AppendInts(out, {int64_t(request.op), request.from.user, int64_t(request.from.device),
                   request.to.user, int64_t(request.to.device), request.conv, int64_t(request.kind),
                   int64_t(request.node.size()), int64_t(request.call.size()),
                   int64_t(request.cid.size()), int64_t(request.signal_key.size())});
  out += '\n';
  out.append(request.node).append(request.call).append(request.cid).append(request.signal_key);
  out += request.signal_json;
  return out;
}

std::optional<CallRequest> ClusterLink::DecodeCallRequest(std::string_view payload) {
  if (!payload.starts_with('K')) return std::nullopt;
  Fields fields(payload.substr(1));
  int64_t op = 0, from_user = 0, from_device = 0, to_user = 0, to_device = 0, kind = 0;
  int64_t sizes[4] = {};  // node, call, cid, signal key
  CallRequest request;
  std::string_view rest;
  if (!fields.Int(&op) || !fields.Int(&from_user) || !fields.Int(&from_device) ||
      !fields.Int(&to_user) || !fields.Int(&to_device) || !fields.Int(&request.conv) ||
      !fields.Int(&kind) || op < 0 || op > kLastCallOp || kind < 0 || kind > 1) {
    return std::nullopt;
  }
  uint64_t total = 0;
  for (int64_t& size : sizes) {
    if (!fields.Int(&size) || size < 0) return std::nullopt;
    total += uint64_t(size);
  }
  if (!fields.Rest(&rest) || total > rest.size()) return std::nullopt;
  request.op = CallOp(op);
  request.from = CallDevice{from_user, uint64_t(from_device)};
  request.to = CallDevice{to_user, uint64_t(to_device)};
  request.kind = CallKind(kind);
  std::string* parts[] = {&request.node, &request.call, &request.cid, &request.signal_key};
  for (size_t i = 0; i < 4; ++i) {
    parts[i]->assign(rest.substr(0, size_t(sizes[i])));
    rest.remove_prefix(size_t(sizes[i]));
  }
  request.signal_json = std::string(rest);
  return request;
}

// "S" session "\n" user "\n" body (the body last: it may hold anything).
std::string ClusterLink::EncodeSsePost(std::string_view session, int64_t user,
                                       std::string_view body) {
  std::string out;
  out.reserve(session.size() + body.size() + 24);
  out.append("S").append(session).append("\n").append(std::to_string(user)).append("\n");
  return out.append(body);
}

std::optional<ClusterLink::SsePost> ClusterLink::DecodeSsePost(std::string_view payload) {
  if (!payload.starts_with('S')) return std::nullopt;
  payload.remove_prefix(1);
  const size_t first = payload.find('\n');
  if (first == std::string_view::npos) return std::nullopt;
  const size_t second = payload.find('\n', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  SsePost post;
  post.session = std::string(payload.substr(0, first));
  std::string_view user = payload.substr(first + 1, second - first - 1);
  auto [end, ec] = std::from_chars(user.data(), user.data() + user.size(), post.user);
  if (ec != std::errc() || end != user.data() + user.size() || post.user <= 0) return std::nullopt;
  post.body = std::string(payload.substr(second + 1));
  return post;
}

}  // namespace ringcast::chat
