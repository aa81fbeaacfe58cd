// The chat's files (chat/api/upload_api.h): uploads streamed to disk or a bucket, records,
// signed URLs, and serving with ETag, Range and safe headers.
#include "chat/api/upload_api.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <filesystem>

#include "chat/api/http_api.h"
#include "chat/chat_shard.h"
#include "chat/ops/routes.h"
#include "chat/service.h"
#include "core/log.h"
#include "core/media/thumbnail.h"
#include "core/net/file_download.h"
#include "core/net/shared_frame.h"
#include "core/routes/static_files.h"
#include "core/runtime/shard.h"
#include "files/object_download.h"
#include "files/object_upload.h"
#include "proto/file_response.h"
#include "proto/json_writer.h"
#include "proto/url_path.h"

namespace ringcast::chat {
namespace {

constexpr std::string_view kFilesPrefix = "/files/";
constexpr size_t kIdBytes = 16;  // 128 random bits.
constexpr size_t kIdChars = 22;  // Their base64url, unpadded.
constexpr size_t kMaxNameBytes = 255;
// Multipart framing around the file (boundaries, part headers, other fields) on top of
// --max-upload-bytes before the body is refused by its Content-Length alone.
constexpr uint64_t kMultipartSlack = 64 * 1024;
constexpr uint32_t kPrivateMaxAge = 365 * 86400;  // Immutable bytes: cache a year.

std::string Base64Url(const uint8_t* bytes, size_t size) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t bits = 0;
  int count = 0;
  for (size_t i = 0; i < size; ++i) {
    bits = (bits << 8) | bytes[i];
    count += 8;
    while (count >= 6) {
      count -= 6;
      out.push_back(kAlphabet[(bits >> count) & 63]);
    }
  }
  if (count > 0) out.push_back(kAlphabet[(bits << (6 - count)) & 63]);
  return out;
}

bool ValidId(std::string_view id) {
  if (id.size() != kIdChars) return false;
  for (char c : id) {
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
          c == '_')) {
      return false;
    }
  }
  return true;
}

// A file name as given (?name= decoded, or the multipart filename): no control bytes, no
// path (a browser may send "C:\\fakepath\\x"; only the last segment counts), bounded.
std::string CleanName(std::string_view name) {
  const size_t slash = name.find_last_of("/\\");
  if (slash != std::string_view::npos) name.remove_prefix(slash + 1);
  std::string out;
  for (char c : name) {
    if (static_cast<unsigned char>(c) >= 0x20 && c != 0x7F) out.push_back(c);
  }
  if (out.size() > kMaxNameBytes) out.resize(kMaxNameBytes);
  return out.empty() ? std::string("file") : out;
}

std::string HmacHex(std::span<const uint8_t> key, std::string_view data) {
  uint8_t mac[EVP_MAX_MD_SIZE];
  unsigned size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const uint8_t*>(data.data()), data.size(), mac, &size);
  return Base64Url(mac, size);
}

bool ParseInt64(std::string_view text, int64_t* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size() && !text.empty();
}

void UploadJson(JsonWriter& writer, const storage::UploadRecord& record,
                const std::string& signed_url) {
  writer.BeginObject();
  WriteUploadFields(writer, record);
  writer.Field("signed_url", signed_url).Field("created", record.created).EndObject();
}

}  // namespace

// What a GET or HEAD of a file asks for (UploadApi::ServeFile, AnswerFile).
struct FileAsk {
  bool head = false;
  bool keep_alive = true;
  std::string range;
  std::string if_none_match;
  int64_t signed_exp = 0;  // A signed URL's expiry (0: token access).
  bool thumb = false;      // /files/{id}/thumb.
};

std::string UploadFilesDir(const Config& config) {
  return config.files_dir.empty() ? config.data_dir + "/files" : config.files_dir;
}

std::string UploadNodeTag(const Config& config) {
  std::error_code error;
  const std::string data_dir = std::filesystem::absolute(config.data_dir, error).string();
  uint8_t digest[32];
  unsigned size = 0;
  EVP_Digest(data_dir.data(), data_dir.size(), digest, &size, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string tag;
  for (unsigned i = 0; i < 8; ++i)
    tag.append(1, kHex[digest[i] >> 4]).append(1, kHex[digest[i] & 15]);
  return tag;
}

std::string UploadTempDir(const Config& config) {
  return UploadFilesDir(config) + "/tmp/" + UploadNodeTag(config);
}

std::string NormalizeMediaType(std::string_view type) {
  type = type.substr(0, type.find(';'));
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  std::string out;
  bool slash = false;
  for (char c : type) {
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
    const bool token = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                       std::string_view("!#$&-^_.+").find(c) != std::string_view::npos;
    if (c == '/' && !slash && !out.empty()) {
      slash = true;
    } else if (!token) {
      return {};
    }
    out.push_back(c);
  }
  if (!slash || out.back() == '/' || out.size() > 127) return {};
  return out;
}

std::string StoredType(std::string_view declared, std::string_view head) {
  std::string type = NormalizeMediaType(declared);
  if (type.empty() || type == "application/x-www-form-urlencoded") {
    return "application/octet-stream";
  }
  if (type.starts_with("image/")) {
    const std::string_view sniffed =
        http::SniffImageType({reinterpret_cast<const uint8_t*>(head.data()), head.size()});
    if (sniffed != type) return "application/octet-stream";
  }
  return type;
}

UploadApi::UploadApi(Shard& shard, ChatService& service, HttpApi& http_api)
    : shard_(shard),
      service_(service),
      http_api_(http_api),
      config_(service.config()),
      files_dir_(UploadFilesDir(service.config())),
      temp_dir_(UploadTempDir(service.config())) {}

std::string UploadApi::SignedPath(std::string_view id, int64_t exp) const {
  std::string signed_data(id);
  signed_data.append(".").append(std::to_string(exp));
  std::string path(kFilesPrefix);
  path.append(id).append("?exp=").append(std::to_string(exp)).append("&sig=");
  path.append(HmacHex(service_.secret().bytes(), signed_data));
  return path;
}

bool UploadApi::SignatureValid(std::string_view id, std::string_view exp_text,
                               std::string_view sig) const {
  int64_t exp;
  if (!ParseInt64(exp_text, &exp) || exp < NowMs() / 1000) return false;
  std::string signed_data(id);
  signed_data.append(".").append(exp_text);
  const std::string expected = HmacHex(service_.secret().bytes(), signed_data);
  return expected.size() == sig.size() &&
         CRYPTO_memcmp(expected.data(), sig.data(), sig.size()) == 0;
}

// --- Uploads -----------------------------------------------------------------------------

void UploadApi::HandleUpload(HttpExchange& exchange) {
  const http::Request& request = exchange.request();
  std::string error;
  auto auth = http_api_.Authenticate(exchange, false, &error);
  if (!auth) return exchange.RespondError(401, error, "WWW-Authenticate: Bearer\r\n");
  const std::string_view content_type = request.Find("Content-Type");
  std::optional<std::string> boundary;
  if (NormalizeMediaType(content_type) == "multipart/form-data") {
    boundary = http::MultipartBoundary(content_type);
    if (!boundary) return exchange.RespondError(400, "multipart/form-data without a boundary");
  }
  const uint64_t allowed = config_.max_upload_bytes + (boundary ? kMultipartSlack : 0);
  if (request.content_length > allowed) {
    return exchange.RespondError(413, "file larger than --max-upload-bytes");
  }
  std::string name;
  if (auto param = http::QueryParam(request.query, "name")) {
    std::string decoded;
    if (!http::PercentDecode(*param, &decoded)) return exchange.RespondError(400, "bad name");
    name = std::move(decoded);
  }
  // With a bucket the file goes on in parts as it arrives (files/object_upload.h).
  std::shared_ptr<files::ObjectUpload> object;
  if (service_.objects())
    object = std::make_shared<files::ObjectUpload>(shard_, service_.objects());
  FileUpload::Options options{.temp_dir = temp_dir_,
                              .max_bytes = config_.max_upload_bytes,
                              .boundary = boundary,
                              .parts = object};
  // The sink's `done` is called on this shard; the DeferredHttp is known only after StreamBody.
  auto deferred_slot = std::make_shared<DeferredHttp>();
  const int64_t owner = auth->user;
  FileUpload* upload = FileUpload::Create(
      shard_, std::move(options),
      [this, deferred_slot, owner, name, declared = std::string(boundary ? "" : content_type),
       object](Shard&, UploadedFile file) mutable {
        OnUploaded(*deferred_slot, owner, std::move(name), std::move(declared), std::move(file),
                   std::move(object));
      });
  *deferred_slot = exchange.StreamBody(upload);
  upload->Begin(*deferred_slot);
}

// What a worker prepares before the record is written: the thumbnail of an image, in a
// temporary file of its own (fsynced and renamed with the file once the record is stored).
struct PreparedUpload {
  UploadedFile file;
  Thumbnail thumb;  // Sizes; its bytes already written to thumb_temp.
  std::string thumb_sha256;
  std::string thumb_temp;
  int thumb_fd = -1;
};

namespace {

void RemoveTemporaries(const PreparedUpload& prepared) {
  if (prepared.file.fd >= 0) close(prepared.file.fd);
  if (!prepared.file.temp_path.empty()) unlink(prepared.file.temp_path.c_str());
  if (prepared.thumb_fd >= 0) close(prepared.thumb_fd);
  if (!prepared.thumb_temp.empty()) unlink(prepared.thumb_temp.c_str());
}

// On a worker: the thumbnail (JPEG and PNG; chat/README.md "Files"), written to a temporary
// file beside the upload's.
void PrepareThumbnail(PreparedUpload& prepared, const std::string& type,
                      const std::string& temp_dir) {
  prepared.thumb = MakeThumbnail(prepared.file.temp_path, type);
  if (!prepared.thumb.ok) {
    if (!prepared.thumb.error.empty() && type.starts_with("image/")) {
      RC_LOG(kDebug, "uploads: no thumbnail: %s", prepared.thumb.error.c_str());
    }
    return;
  }
  uint8_t digest[32];
  unsigned size = 0;
  EVP_Digest(prepared.thumb.jpeg.data(), prepared.thumb.jpeg.size(), digest, &size, EVP_sha256(),
             nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  for (unsigned i = 0; i < size; ++i) {
    prepared.thumb_sha256.push_back(kHex[digest[i] >> 4]);
    prepared.thumb_sha256.push_back(kHex[digest[i] & 15]);
  }
  uint8_t random[12];
  RAND_bytes(random, sizeof(random));
  prepared.thumb_temp = temp_dir;
  prepared.thumb_temp.append("/").append(Base64Url(random, sizeof(random))).append(".part");
  prepared.thumb_fd =
      open(prepared.thumb_temp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  const std::string& bytes = prepared.thumb.jpeg;
  size_t done = 0;
  while (prepared.thumb_fd >= 0 && done < bytes.size()) {
    const ssize_t n = write(prepared.thumb_fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  if (prepared.thumb_fd < 0 || done < bytes.size()) {  // No thumbnail rather than a bad one.
    if (prepared.thumb_fd >= 0) close(prepared.thumb_fd);
    unlink(prepared.thumb_temp.c_str());
    prepared.thumb_fd = -1;
    prepared.thumb_temp.clear();
    prepared.thumb_sha256.clear();
    prepared.thumb.ok = false;
  }
}

}  // namespace

void UploadApi::OnUploaded(const DeferredHttp& deferred, int64_t owner, std::string name,
                           std::string declared_type, UploadedFile file,
                           std::shared_ptr<files::ObjectUpload> object) {
  if (file.status != 0) {
    if (object) object->Abandon();
    JsonWriter writer;
    shard_.AnswerDeferred(deferred, file.status, "application/json",
                          writer.BeginObject().Field("error", file.error).EndObject().str());
    return;
  }
  if (name.empty()) name = file.part_filename;
  if (!file.part_type.empty()) declared_type = file.part_type;
  uint8_t random[kIdBytes];
  RAND_bytes(random, sizeof(random));
  storage::UploadRecord record{.id = Base64Url(random, sizeof(random)),
                               .owner = owner,
                               .name = CleanName(name),
                               .size = static_cast<int64_t>(file.size),
                               .type = StoredType(declared_type, file.head),
                               .sha256 = file.sha256,
                               .created = NowMs()};
  auto prepared = std::make_shared<PreparedUpload>();
  prepared->file = std::move(file);
  const bool queued = shard_.TryRunBlocking(
      WorkClass::kMedia,
      [prepared, type = record.type, temp_dir = temp_dir_] {
        PrepareThumbnail(*prepared, type, temp_dir);
        return 0;
      },
      [this, deferred, record, prepared, object](Shard&, int) mutable {
        record.width = prepared->thumb.width;
        record.height = prepared->thumb.height;
        if (prepared->thumb.ok) {
          record.thumb_sha256 = prepared->thumb_sha256;
          record.thumb_size = static_cast<int64_t>(prepared->thumb.jpeg.size());
        }
        prepared->thumb.jpeg.clear();
        StoreUpload(deferred, std::move(record), std::move(prepared), std::move(object));
      });
  if (!queued) {
    if (object) object->Abandon();
    RemoveLater(prepared);
    shard_.AnswerDeferred(deferred, 503, "application/json",
                          R"({"error":"too many uploads being processed (--workers-media-queue), )"
                          R"(retry later"})");
  }
}

void UploadApi::StoreUpload(const DeferredHttp& deferred, storage::UploadRecord record,
                            std::shared_ptr<PreparedUpload> prepared,
                            std::shared_ptr<files::ObjectUpload> object) {
  const uint64_t quota = config_.upload_quota_bytes;
  service_.store().CreateUpload(
      record, quota,
      service_.ReplyOn<storage::UploadOutcome>(shard_.id(), [deferred, record, prepared, quota,
                                                             object](ChatShard& chat, auto result) {
        UploadApi& self = chat.uploads();
        if (!result.ok() || result->over_quota) {  // The bytes are not kept.
          if (object) object->Abandon();
          self.RemoveLater(prepared);
        }
        if (!result.ok()) {
          return chat.http_api().AnswerStoreFailure(deferred, result.status());
        }
        if (result->over_quota) {
          JsonWriter writer;
          writer.BeginObject()
              .Field("error", "upload quota exceeded (--upload-quota-bytes)")
              .Field("quota_bytes", static_cast<int64_t>(quota))
              .Field("used_bytes", result->used_bytes)
              .EndObject();
          self.shard_.AnswerDeferred(deferred, 507, "application/json", writer.str());
          return;
        }
        if (object) return self.CommitObjects(deferred, record, prepared, object);
        // fsync, rename into place, fsync the directory: on a worker.
        (void)self.shard_.TryRunBlocking(
            WorkClass::kFileCommit,
            [files_dir = self.files_dir_, prepared] {
              std::string error = CommitStoredFile(files_dir, prepared->file.fd,
                                                   prepared->file.temp_path, prepared->file.sha256);
              if (error.empty() && prepared->thumb_fd >= 0) {
                error = CommitStoredFile(files_dir, prepared->thumb_fd, prepared->thumb_temp,
                                         prepared->thumb_sha256);
              }
              return error;
            },
            [&self, deferred, record](Shard& shard, std::string error) {
              if (!error.empty()) {
                RC_LOG(kWarn, "uploads: storing %s: %s", record.id.c_str(), error.c_str());
                shard.AnswerDeferred(deferred, 500, "application/json",
                                     R"({"error":"cannot store the file"})");
                return;
              }
              self.AnswerStored(deferred, record);
            });
      }));
}

void UploadApi::CommitObjects(const DeferredHttp& deferred, const storage::UploadRecord& record,
                              std::shared_ptr<PreparedUpload> prepared,
                              std::shared_ptr<files::ObjectUpload> object) {
  // The file's object first (its last part, the completion, the copy to its content address),
  // then the thumbnail's; the temporary files go either way. The record is written already: a
  // failure leaves it unanswered, never attached to a message, and swept with the orphans.
  object->Commit(
      prepared->file.sha256, prepared->file.size,
      [this, deferred, record, prepared](Shard&, files::S3Status status) {
        auto store = service_.objects();
        const bool queued =
            status.ok() &&
            shard_.TryRunBlocking(
                WorkClass::kObjectStore,
                [store, prepared, thumb_size = static_cast<uint64_t>(record.thumb_size)] {
                  files::S3Status thumb;
                  if (prepared->thumb_fd >= 0) {
                    thumb =
                        store->CommitWhole(prepared->thumb_sha256, prepared->thumb_fd, thumb_size);
                  } else {
                    thumb.http = 200;
                  }
                  RemoveTemporaries(*prepared);
                  return thumb;
                },
                [this, deferred, record](Shard&, files::S3Status thumb) {
                  if (!thumb.ok()) return AnswerObjectFailure(deferred, record, thumb);
                  AnswerStored(deferred, record);
                });
        if (queued) return;
        RemoveLater(prepared);
        if (status.ok()) {
          status = files::S3Status{
              .http = 503, .code = "Busy", .message = "--workers-object-queue is full"};
        }
        AnswerObjectFailure(deferred, record, status);
      });
}

void UploadApi::AnswerObjectFailure(const DeferredHttp& deferred,
                                    const storage::UploadRecord& record,
                                    const files::S3Status& status) {
  RC_LOG(kWarn, "uploads: storing %s in the object store: %s", record.id.c_str(),
         status.ToString().c_str());
  shard_.AnswerDeferred(deferred, 503, "application/json",
                        R"({"error":"the object store does not take files now, retry later"})",
                        "Retry-After: 5\r\n");
}

void UploadApi::AnswerStored(const DeferredHttp& deferred, const storage::UploadRecord& record) {
  const int64_t exp = NowMs() / 1000 + config_.file_url_ttl_s;
  JsonWriter writer;
  UploadJson(writer, record, SignedPath(record.id, exp));
  std::string location = "Location: /files/";
  location.append(record.id).append("\r\n");
  shard_.AnswerDeferred(deferred, 201, "application/json", writer.str(), location);
}

void UploadApi::RemoveLater(std::shared_ptr<PreparedUpload> prepared) {
  (void)shard_.TryRunBlocking(
      WorkClass::kFileCommit,
      [prepared] {
        RemoveTemporaries(*prepared);
        return 0;
      },
      [](Shard&, int) {});
}

// --- Records and files -------------------------------------------------------------------

bool UploadApi::Found(ChatShard& chat, const DeferredHttp& deferred,
                      const storage::Result<std::optional<storage::UploadRecord>>& result) {
  if (!result.ok()) {
    chat.http_api().AnswerStoreFailure(deferred, result.status());
    return false;
  }
  if (!*result) {
    chat.uploads().shard_.AnswerDeferred(deferred, 404, "application/json",
                                         R"({"error":"not found"})");
    return false;
  }
  return true;
}

void UploadApi::HandleRecord(HttpExchange& exchange, const RouteCall& call) {
  if (!ValidId(call.text)) return exchange.RespondError(404, "not found");
  const DeferredHttp deferred = exchange.Defer();
  service_.store().FindUpload(
      std::string(call.text), call.auth.user,
      service_.ReplyOn<std::optional<storage::UploadRecord>>(
          shard_.id(), [deferred](ChatShard& chat, auto result) {
            if (!Found(chat, deferred, result)) return;
            UploadApi& self = chat.uploads();
            const int64_t exp = NowMs() / 1000 + self.config_.file_url_ttl_s;
            JsonWriter writer;
            UploadJson(writer, **result, self.SignedPath((*result)->id, exp));
            self.shard_.AnswerDeferred(deferred, 200, "application/json", writer.str());
          }));
}

void UploadApi::HandleFile(HttpExchange& exchange, const RouteCall& call) {
  ServeFile(exchange, call.text, false);
}

void UploadApi::HandleThumb(HttpExchange& exchange, const RouteCall& call) {
  ServeFile(exchange, call.text, true);
}

void UploadApi::ServeFile(HttpExchange& exchange, std::string_view id, bool thumb) {
  const http::Request& request = exchange.request();
  if (!ValidId(id)) return exchange.RespondError(404, "not found");
  FileAsk ask;
  ask.thumb = thumb;
  ask.head = request.method == http::Method::kHead;
  ask.keep_alive = request.keep_alive;
  if (std::string_view range = request.Find("Range"); range.data() != nullptr) ask.range = range;
  if (std::string_view inm = request.Find("If-None-Match"); inm.data() != nullptr) {
    ask.if_none_match = inm;
  }
  int64_t user = 0;
  auto exp = http::QueryParam(request.query, "exp");
  auto sig = http::QueryParam(request.query, "sig");
  if (exp && sig) {
    if (!SignatureValid(id, *exp, *sig)) return exchange.RespondError(404, "not found");
    ParseInt64(*exp, &ask.signed_exp);
  } else {
    std::string error;
    auto auth = http_api_.Authenticate(exchange, true, &error);
    if (!auth) return exchange.RespondError(401, error, "WWW-Authenticate: Bearer\r\n");
    user = auth->user;
  }
  const DeferredHttp deferred = exchange.Defer();
  service_.store().FindUpload(
      std::string(id), user,
      service_.ReplyOn<std::optional<storage::UploadRecord>>(
          shard_.id(), [deferred, ask = std::move(ask)](ChatShard& chat, auto result) {
            if (!Found(chat, deferred, result)) return;
            chat.uploads().AnswerFile(deferred, ask, std::move(**result));
          }));
}

// The file's (or its thumbnail's) bytes, or 304, 404 (no thumbnail) or 416.
void UploadApi::AnswerFile(const DeferredHttp& deferred, const FileAsk& ask,
                           storage::UploadRecord record) {
  if (ask.thumb) {  // The thumbnail: its own bytes, a JPEG, named after the file.
    if (record.thumb_sha256.empty()) {
      shard_.AnswerDeferred(deferred, 404, "application/json", R"({"error":"no thumbnail"})");
      return;
    }
    record.sha256 = record.thumb_sha256;
    record.size = record.thumb_size;
    record.type = "image/jpeg";
    record.name.append(".thumb.jpg");
  }
  std::string headers = "ETag: \"";
  headers.append(record.sha256).append("\"\r\nCache-Control: ");
  if (ask.signed_exp > 0) {
    // A signed URL is for shared caches (a CDN), never past its expiry.
    const int64_t left = std::max<int64_t>(0, ask.signed_exp - NowMs() / 1000);
    headers.append("public, max-age=").append(std::to_string(left));
  } else {
    headers.append("private, max-age=").append(std::to_string(kPrivateMaxAge));
  }
  headers.append(", immutable\r\nX-Content-Type-Options: nosniff\r\n");
  // Whatever the type, a document served from here may run nothing (defence in depth
  // behind the attachment disposition).
  headers.append("Content-Security-Policy: sandbox; default-src 'none'\r\n");
  if (!ask.if_none_match.empty() &&
      EtagMatches(ask.if_none_match, std::string("\"").append(record.sha256).append("\""))) {
    std::string head = "HTTP/1.1 304 Not Modified\r\n";
    head.append(headers);
    if (!ask.keep_alive) head.append("Connection: close\r\n");
    head.append("\r\n");
    shard_.AnswerDeferredBytes(deferred, 304, SharedFrame::Copy(head));
    return;
  }
  const bool inline_ok = http::InlineSafeType(record.type);
  if (service_.objects() && config_.files_serve == "redirect" && !ask.head && record.size > 0) {
    return RedirectToObject(deferred, ask, record, inline_ok);
  }
  headers.append("Content-Disposition: ")
      .append(http::ContentDisposition(inline_ok, record.name))
      .append("\r\nAccept-Ranges: bytes\r\n");
  const uint64_t size = static_cast<uint64_t>(record.size);
  http::ByteRange range = http::ParseByteRange(ask.range, size);
  if (range.kind == http::ByteRange::Kind::kUnsatisfiable) {
    std::string content_range = "Content-Range: bytes */";
    content_range.append(std::to_string(size)).append("\r\n");
    shard_.AnswerDeferred(deferred, 416, "application/json", R"({"error":"range not satisfiable"})",
                          content_range);
    return;
  }
  int status = 200;
  uint64_t first = 0, length = size;
  if (range.kind == http::ByteRange::Kind::kPartial) {
    status = 206;
    first = range.first;
    length = range.last - range.first + 1;
    headers.append("Content-Range: bytes ")
        .append(std::to_string(range.first))
        .append("-")
        .append(std::to_string(range.last))
        .append("/")
        .append(std::to_string(size))
        .append("\r\n");
  }
  // Anything but a raster image is an attachment (saved, never rendered here).
  std::string head = HttpExchange::FormatHead(ask.keep_alive, status, record.type, length, headers);
  if (ask.head || length == 0) {
    shard_.AnswerDeferredBytes(deferred, status, SharedFrame::Copy(head));
    return;
  }
  if (service_.objects()) {
    files::ObjectDownload::Start(shard_, deferred, status, std::move(head), service_.objects(),
                                 files::ObjectStore::KeyOf(record.sha256), first, length);
    return;
  }
  FileDownload::Start(shard_, deferred, status, std::move(head),
                      StoredFilePath(files_dir_, record.sha256), first, length);
}

// --files-serve redirect: the store serves the bytes (Range and all) at a presigned URL that
// names the answer's type and disposition; it lives as long as a signed URL of ours would, and
// no longer than the one the client came with.
void UploadApi::RedirectToObject(const DeferredHttp& deferred, const FileAsk& ask,
                                 const storage::UploadRecord& record, bool inline_ok) {
  const int64_t now = NowMs() / 1000;
  int64_t expires = config_.file_url_ttl_s;
  if (ask.signed_exp > 0) expires = std::min(expires, std::max<int64_t>(1, ask.signed_exp - now));
  const std::string url = service_.objects()->client().PresignGet(
      files::ObjectStore::KeyOf(record.sha256), now, expires,
      http::ContentDisposition(inline_ok, record.name), record.type);
  std::string head = "HTTP/1.1 302 Found\r\nLocation: ";
  head.append(url).append("\r\nCache-Control: no-store\r\nContent-Length: 0\r\n");
  if (!ask.keep_alive) head.append("Connection: close\r\n");
  head.append("\r\n");
  shard_.AnswerDeferredBytes(deferred, 302, SharedFrame::Copy(head));
}

std::span<const HttpRoute> FileRoutes() {
  using http::Method;
  constexpr RouteAccess kOwn = RouteAccess::kOwn;
  constexpr auto kUpload = [](ChatShard& chat, HttpExchange& exchange, const RouteCall&) {
    chat.uploads().HandleUpload(exchange);
  };
  constexpr auto kRecord = [](ChatShard& chat, HttpExchange& exchange, const RouteCall& call) {
    chat.uploads().HandleRecord(exchange, call);
  };
  constexpr auto kFile = [](ChatShard& chat, HttpExchange& exchange, const RouteCall& call) {
    chat.uploads().HandleFile(exchange, call);
  };
  constexpr auto kThumb = [](ChatShard& chat, HttpExchange& exchange, const RouteCall& call) {
    chat.uploads().HandleThumb(exchange, call);
  };
  // An upload takes its token itself (its body streams), a file a signed URL or a token (also in
  // the query, for an <img>).
  static constexpr HttpRoute kRows[] = {
      {Method::kPost, "/api/uploads", kOwn, kUpload, /*streams_body=*/true},
      {Method::kGet, "/api/uploads/{id}", RouteAccess::kBearer, kRecord},
      {Method::kGet, "/files/{id}", kOwn, kFile},
      {Method::kHead, "/files/{id}", kOwn, kFile},
      {Method::kGet, "/files/{id}/thumb", kOwn, kThumb},
      {Method::kHead, "/files/{id}/thumb", kOwn, kThumb},
  };
  return kRows;
}

}  // namespace ringcast::chat
