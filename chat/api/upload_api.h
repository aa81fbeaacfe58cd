// UploadApi: the chat's files (proto/PROTOCOL.md, "Files"): POST /api/uploads takes a file as
// it streams in (core/net/file_upload.h), GET /api/uploads/{id} gives its record and a signed
// URL, GET /files/{id} serves it (core/net/file_download.h) to whoever may read it. With
// --files-url the bytes live in a bucket instead: sent on in parts as they stream in
// (files/object_upload.h), read back through the node (files/object_download.h) or by a
// redirect to a presigned URL (files/README.md).
//
// Owner: its shard's thread (one per ChatShard). Blocking work (fsync, rename, the object
// store's requests) runs on the worker pool, store calls on the store's threads; their results
// come back as mail.
//
// Who may read a file: its uploader, a member of a conversation where a message carries it,
// with a token (Authorization: Bearer, or ?token= for an <img src>), or anyone holding a signed
// URL (?exp=&sig=: HMAC-SHA256 with the server secret over "<id>.<exp>", until exp, seconds
// since the epoch; --file-url-ttl), which a CDN can cache without a token. Everyone else gets
// 404, as for a file that does not exist.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "chat/api/http_routes.h"
#include "chat/config.h"
#include "core/net/file_upload.h"
#include "core/net/http_exchange.h"
#include "storage/chat_store.h"

namespace ringcast {
class Shard;
}

namespace ringcast::files {
class ObjectUpload;
struct S3Status;
}  // namespace ringcast::files

namespace ringcast::chat {

class ChatService;
class ChatShard;
class HttpApi;
struct PreparedUpload;  // An upload between its body's end and its record (the .cc file).
struct FileAsk;         // What a GET or HEAD of a file asks for (the .cc file).

class UploadApi {
 public:
  UploadApi(Shard& shard, ChatService& service, HttpApi& http_api);

  // The routes (chat/api/http_routes.cc): POST /api/uploads (its body streams in as it
  // arrives), GET /api/uploads/{id}, GET and HEAD /files/{id}[/thumb]; the upload and the files
  // check their caller themselves (a token, or the file URL's signature).
  void HandleUpload(HttpExchange& exchange);
  void HandleRecord(HttpExchange& exchange, const RouteCall& call);
  void HandleFile(HttpExchange& exchange, const RouteCall& call);
  void HandleThumb(HttpExchange& exchange, const RouteCall& call);

  // The signed URL of a file, valid until `exp` (seconds since the epoch).
  std::string SignedPath(std::string_view id, int64_t exp) const;
  // Whether `sig` signs (id, exp) and exp has not passed.
  bool SignatureValid(std::string_view id, std::string_view exp, std::string_view sig) const;

 private:
  // GET or HEAD /files/{id}[/thumb]: by the URL's signature, or the caller's token.
  void ServeFile(HttpExchange& exchange, std::string_view id, bool thumb);
  void AnswerFile(const DeferredHttp& deferred, const FileAsk& ask, storage::UploadRecord record);
  void RedirectToObject(const DeferredHttp& deferred, const FileAsk& ask,
                        const storage::UploadRecord& record, bool inline_ok);
  // A FindUpload answer that failed or found nothing is answered here (the store's failure, or
  // 404); true when there is a record to go on with.
  static bool Found(ChatShard& chat, const DeferredHttp& deferred,
                    const storage::Result<std::optional<storage::UploadRecord>>& result);
  // After the body has arrived (on this shard): record, then commit the bytes, then answer.
  // `object`: the upload's parts on their way to the bucket (--files-url), else null.
  void OnUploaded(const DeferredHttp& deferred, int64_t owner, std::string name,
                  std::string declared_type, UploadedFile file,
                  std::shared_ptr<files::ObjectUpload> object);
  // After the worker made the thumbnail: the record (quota), then the bytes into place.
  void StoreUpload(const DeferredHttp& deferred, storage::UploadRecord record,
                   std::shared_ptr<PreparedUpload> prepared,
                   std::shared_ptr<files::ObjectUpload> object);
  // With --files-url, after the record: the file's and the thumbnail's objects, then 201.
  void CommitObjects(const DeferredHttp& deferred, const storage::UploadRecord& record,
                     std::shared_ptr<PreparedUpload> prepared,
                     std::shared_ptr<files::ObjectUpload> object);
  void AnswerObjectFailure(const DeferredHttp& deferred, const storage::UploadRecord& record,
                           const files::S3Status& status);
  void AnswerStored(const DeferredHttp& deferred, const storage::UploadRecord& record);
  // The upload's temporary files go, on a worker.
  void RemoveLater(std::shared_ptr<PreparedUpload> prepared);

  Shard& shard_;
  ChatService& service_;
  HttpApi& http_api_;
  const Config& config_;
  std::string files_dir_;
  std::string temp_dir_;
};

// Where uploads are stored: --files-dir, or <data-dir>/files. And this process's temporary
// files: <files>/tmp/<16 hex digits of the data dir's absolute path's SHA-256>, so that nodes
// sharing --files-dir (each with its own data dir) keep theirs apart.
std::string UploadFilesDir(const Config& config);
std::string UploadTempDir(const Config& config);
// The temporary folder's own name (16 hex digits), which also names this process's temporary
// objects in a bucket (files/object_store.h).
std::string UploadNodeTag(const Config& config);

// "image/png; charset=x" → "image/png": lowercase, parameters dropped; "" when not a valid
// type/subtype.
std::string NormalizeMediaType(std::string_view type);
// The type to store: the declared one, unless it claims an image the bytes are not (then
// application/octet-stream), or is absent.
std::string StoredType(std::string_view declared, std::string_view head);

}  // namespace ringcast::chat
