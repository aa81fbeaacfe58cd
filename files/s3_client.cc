#include "files/s3_client.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <mutex>
#include <pugixml.hpp>

namespace ringcast::files {
namespace {

// An error document or a listing: anything longer is not S3 answering.
constexpr size_t kMaxAnswerBytes = 4 << 20;

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// One handle per thread, reset before each call: its connection cache outlives the calls.
CURL* ThreadHandle() {
  struct Handle {
    CURL* curl = nullptr;
    ~Handle() {
      if (curl != nullptr) curl_easy_cleanup(curl);
    }
  };
  thread_local Handle handle;
  if (handle.curl == nullptr) {
    InitCurlOnce();
    handle.curl = curl_easy_init();
  } else {
    curl_easy_reset(handle.curl);
  }
  return handle.curl;
}

std::string Base64(const uint8_t* bytes, size_t size) {
  std::string out(4 * ((size + 2) / 3), '\0');
  const int n =
      EVP_EncodeBlock(reinterpret_cast<uint8_t*>(out.data()), bytes, static_cast<int>(size));
  out.resize(static_cast<size_t>(n));
  return out;
}

std::string ContentMd5(std::string_view body) {
  uint8_t digest[16];
  unsigned size = 0;
  EVP_Digest(body.data(), body.size(), digest, &size, EVP_md5(), nullptr);
  return Base64(digest, size);
}

std::string Unquoted(std::string_view etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  return std::string(etag);
}

bool StartsWithNoCase(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(text[i])) != prefix[i]) return false;
  }
  return true;
}

std::string_view Trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == '\r' || text.back() == '\n' || text.back() == ' ')) {
    text.remove_suffix(1);
  }
  return text;
}

std::string StripPrefix(std::string_view key, std::string_view prefix) {
  if (key.starts_with(prefix)) key.remove_prefix(prefix.size());
  return std::string(key);
}

// CopyObject and CompleteMultipartUpload answer 200 at once and keep the connection busy while
// they work: a failure then comes as an <Error> document in that 200's body.
S3Status FailedAfterItsStatus(S3Status status, const std::string& answer) {
  if (!status.ok() || answer.find("<Error>") == std::string::npos) return status;
  pugi::xml_document doc;
  doc.load_buffer(answer.data(), answer.size());
  status.http = 500;
  status.code = doc.child("Error").child_value("Code");
  status.message = doc.child("Error").child_value("Message");
  return status;
}

}  // namespace

// One request and what came back.
struct S3Client::Exchange {
  const char* method = "GET";
  std::string path;  // Unencoded.
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::pair<std::string, std::string>> headers;  // Lowercase names; signed.
  std::optional<S3Body> body;
  std::string xml_body;  // Sent when `body` is not set and this is not empty (signed hash).
  const std::function<bool(std::span<const uint8_t>)>* sink = nullptr;
  bool head = false;

  // Answer.
  std::string answer;  // Error documents and listings.
  std::string etag;
  std::string content_type;
  uint64_t content_length = 0;
  bool sink_refused = false;
  CURL* curl = nullptr;
};

std::string S3Status::ToString() const {
  std::string out = http == 0 ? std::string("no answer") : "HTTP " + std::to_string(http);
  if (!code.empty()) out.append(" ").append(code);
  if (!message.empty()) out.append(": ").append(message);
  return out;
}

bool ParseS3Url(std::string_view url, S3Location* location, std::string* error) {
  constexpr std::string_view kScheme = "s3://";
  if (!url.starts_with(kScheme)) {
    *error = "not an s3:// URL";
    return false;
  }
  url.remove_prefix(kScheme.size());
  const size_t slash = url.find('/');
  std::string_view bucket = url.substr(0, slash);
  std::string_view prefix = slash == std::string_view::npos ? "" : url.substr(slash + 1);
  // S3's bucket names: 3 to 63 of lowercase letters, digits, '.' and '-'. R2 and OSS agree.
  const bool bucket_ok =
      bucket.size() >= 3 && bucket.size() <= 63 &&
      std::all_of(bucket.begin(), bucket.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
      });
  if (!bucket_ok) {
    *error = "the bucket must be 3 to 63 lowercase letters, digits, '.' or '-'";
    return false;
  }
  while (prefix.starts_with('/')) prefix.remove_prefix(1);
  location->bucket = std::string(bucket);
  location->prefix = std::string(prefix);
  if (!location->prefix.empty() && location->prefix.back() != '/') location->prefix.push_back('/');
  return true;
}

std::string NormalizeEndpoint(std::string_view endpoint, std::string* error) {
  std::string lower;
  for (char c : endpoint)
    lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  std::string_view rest = lower;
  std::string scheme;
  if (rest.starts_with("https://")) {
    scheme = "https";
  } else if (rest.starts_with("http://")) {
    scheme = "http";
  } else {
    *error = "the endpoint must be http://HOST[:PORT] or https://HOST[:PORT]";
    return {};
  }
  rest.remove_prefix(scheme.size() + 3);
  while (rest.ends_with('/')) rest.remove_suffix(1);
  if (rest.empty() || rest.find_first_of("/?#@ ") != std::string_view::npos) {
    *error = "the endpoint must be http://HOST[:PORT] or https://HOST[:PORT], without a path";
    return {};
  }
  const std::string_view default_port = scheme == "https" ? ":443" : ":80";
  if (rest.ends_with(default_port)) rest.remove_suffix(default_port.size());
  return scheme + "://" + std::string(rest);
}

S3Client::S3Client(S3Location location) : location_(std::move(location)) {
  std::string endpoint = location_.endpoint;
  if (endpoint.empty()) endpoint = "https://s3." + location_.region + ".amazonaws.com";
  const size_t colon = endpoint.find("://");
  scheme_ = endpoint.substr(0, colon);
  host_ = endpoint.substr(colon + 3);
}

std::string S3Client::HostOf() const {
  return location_.virtual_host ? location_.bucket + "." + host_ : host_;
}

std::string S3Client::PathOf(std::string_view key) const {
  std::string path = "/";
  if (!location_.virtual_host) path.append(location_.bucket);
  if (key.empty()) return path;
  if (!location_.virtual_host) path.append("/");
  path.append(location_.prefix).append(key);
  return path;
}

S3Status S3Client::Perform(Exchange& exchange) {
  CURL* curl = ThreadHandle();
  exchange.curl = curl;
  S3Status status;
  if (curl == nullptr) {
    status.code = "curl";
    status.message = "curl_easy_init failed";
    return status;
  }
  const std::string host = HostOf();
  SigV4Request request{.method = exchange.method,
                       .host = host,
                       .path = exchange.path,
                       .query = exchange.query,
                       .headers = exchange.headers};
  if (!exchange.body && !exchange.xml_body.empty()) {
    request.payload_sha256 = Sha256Hex(exchange.xml_body);
  }
  const std::string amz_date = AmzDate(time(nullptr));
  std::vector<std::string> lines =
      SignHeaders(request, location_.credentials, location_.region, amz_date);
  lines.push_back("Host: " + std::string(request.host));
  for (const auto& [name, value] : exchange.headers) lines.push_back(name + ": " + value);
  // Without it curl sends "Expect: 100-continue" for bodies over 1 KiB and waits for an answer.
  lines.push_back("Expect:");
  curl_slist* list = nullptr;
  for (const std::string& line : lines) list = curl_slist_append(list, line.c_str());

  std::string url = scheme_ + "://" + std::string(request.host) + UriEncode(exchange.path, true);
  for (size_t i = 0; i < exchange.query.size(); ++i) {
    url.append(i == 0 ? "?" : "&").append(UriEncode(exchange.query[i].first, false)).append("=");
    url.append(UriEncode(exchange.query[i].second, false));
  }
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(location_.timeout.count()));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min<int64_t>(location_.timeout.count(), 10'000)));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // Threads: no SIGALRM for DNS timeouts.
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);

  // The body: from memory (the XML too) or a file (pread: parts of one file may go at once).
  const S3Body xml{.bytes = {reinterpret_cast<const uint8_t*>(exchange.xml_body.data()),
                             exchange.xml_body.size()}};
  struct Reader {
    const S3Body* body = nullptr;
    uint64_t sent = 0;
  } reader{.body = exchange.body ? &*exchange.body : &xml};
  const bool sends_body = exchange.body.has_value() || !exchange.xml_body.empty() ||
                          std::string_view(exchange.method) == "PUT";
  if (sends_body) {
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE,
                     static_cast<curl_off_t>(reader.body->length()));
    curl_easy_setopt(curl, CURLOPT_READDATA, &reader);
    curl_easy_setopt(
        curl, CURLOPT_READFUNCTION,
        +[](char* out, size_t size, size_t count, void* data) -> size_t {
          auto* r = static_cast<Reader*>(data);
          const uint64_t left = r->body->length() - r->sent;
          const size_t n = static_cast<size_t>(std::min<uint64_t>(size * count, left));
          if (r->body->fd < 0) {
            std::memcpy(out, r->body->bytes.data() + r->sent, n);
            r->sent += n;
            return n;
          }
          const ssize_t got =
              pread(r->body->fd, out, n, static_cast<off_t>(r->body->offset + r->sent));
          if (got < 0 || (got == 0 && n > 0)) return CURL_READFUNC_ABORT;
          r->sent += static_cast<uint64_t>(got);
          return static_cast<size_t>(got);
        });
  }
  if (std::string_view(exchange.method) != "GET" && std::string_view(exchange.method) != "PUT") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, exchange.method);
  }
  if (exchange.head) curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);

  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &exchange);
  curl_easy_setopt(
      curl, CURLOPT_HEADERFUNCTION,
      +[](char* line, size_t size, size_t count, void* data) -> size_t {
        auto* e = static_cast<Exchange*>(data);
        const std::string_view text(line, size * count);
        const size_t colon = text.find(':');
        if (colon != std::string_view::npos) {
          const std::string_view value = Trimmed(text.substr(colon + 1));
          if (StartsWithNoCase(text, "etag:")) e->etag = Unquoted(value);
          if (StartsWithNoCase(text, "content-type:")) e->content_type = std::string(value);
          if (StartsWithNoCase(text, "content-length:")) {
            std::from_chars(value.data(), value.data() + value.size(), e->content_length);
          }
        }
        return size * count;
      });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &exchange);
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION,
      +[](char* bytes, size_t size, size_t count, void* data) -> size_t {
        auto* e = static_cast<Exchange*>(data);
        const size_t n = size * count;
        long code = 0;
        curl_easy_getinfo(e->curl, CURLINFO_RESPONSE_CODE, &code);
        if (e->sink != nullptr && code >= 200 && code < 300) {
          if (!(*e->sink)({reinterpret_cast<const uint8_t*>(bytes), n})) {
            e->sink_refused = true;
            return 0;  // Stops the transfer.
          }
          return n;
        }
        if (e->answer.size() + n > kMaxAnswerBytes) return 0;
        e->answer.append(bytes, n);
        return n;
      });

  const CURLcode code = curl_easy_perform(curl);
  curl_slist_free_all(list);
  long http = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &http);
  if (code != CURLE_OK && !(exchange.sink_refused && code == CURLE_WRITE_ERROR)) {
    status.code = "curl";
    status.message = error[0] != '\0' ? error : curl_easy_strerror(code);
    return status;  // http 0: no (whole) answer.
  }
  status.http = static_cast<int>(http);
  if (exchange.sink_refused) {
    status.code = "aborted";
    return status;
  }
  if (!status.ok()) {
    pugi::xml_document doc;
    if (doc.load_buffer(exchange.answer.data(), exchange.answer.size())) {
      status.code = doc.child("Error").child_value("Code");
      status.message = doc.child("Error").child_value("Message");
    }
    if (status.code.empty()) status.code = http == 404 ? "NotFound" : "HTTP";
  }
  return status;
}

S3Status S3Client::Put(std::string_view key, const S3Body& body, std::string_view content_type,
                       std::string* etag) {
  Exchange exchange{.method = "PUT", .path = PathOf(key), .body = body};
  if (!content_type.empty())
    exchange.headers.emplace_back("content-type", std::string(content_type));
  S3Status status = Perform(exchange);
  if (etag != nullptr) *etag = exchange.etag;
  return status;
}

S3Status S3Client::Head(std::string_view key, S3Object* object) {
  Exchange exchange{.method = "HEAD", .path = PathOf(key), .head = true};
  S3Status status = Perform(exchange);
  if (status.ok()) {
    *object = S3Object{.key = std::string(key),
                       .size = exchange.content_length,
                       .etag = exchange.etag,
                       .content_type = exchange.content_type};
  }
  return status;
}

S3Status S3Client::Get(std::string_view key, uint64_t first, uint64_t length,
                       const std::function<bool(std::span<const uint8_t>)>& sink) {
  Exchange exchange{.method = "GET", .path = PathOf(key), .sink = &sink};
  if (first > 0 || length > 0) {
    std::string range = "bytes=" + std::to_string(first) + "-";
    if (length > 0) range.append(std::to_string(first + length - 1));
    exchange.headers.emplace_back("range", std::move(range));
  }
  return Perform(exchange);
}

S3Status S3Client::Copy(std::string_view from_key, std::string_view to_key) {
  Exchange exchange{.method = "PUT", .path = PathOf(to_key)};
  // x-amz-copy-source: /bucket/key, URL-encoded.
  exchange.headers.emplace_back(
      "x-amz-copy-source",
      UriEncode("/" + location_.bucket + "/" + location_.prefix + std::string(from_key), true));
  return FailedAfterItsStatus(Perform(exchange), exchange.answer);
}

S3Status S3Client::Delete(std::string_view key) {
  Exchange exchange{.method = "DELETE", .path = PathOf(key)};
  return Perform(exchange);
}

S3Status S3Client::DeleteMany(std::span<const std::string> keys, std::vector<std::string>* failed) {
  pugi::xml_document doc;
  pugi::xml_node root = doc.append_child("Delete");
  root.append_child("Quiet").text().set("true");
  for (const std::string& key : keys) {
    root.append_child("Object").append_child("Key").text().set((location_.prefix + key).c_str());
  }
  struct Writer : pugi::xml_writer {
    std::string out;
    void write(const void* data, size_t size) override {
      out.append(static_cast<const char*>(data), size);
    }
  } writer;
  doc.save(writer, "", pugi::format_raw);
  Exchange exchange{.method = "POST", .path = PathOf(""), .query = {{"delete", ""}}};
  exchange.xml_body = std::move(writer.out);
  // AWS refuses a DeleteObjects without it.
  exchange.headers.emplace_back("content-md5", ContentMd5(exchange.xml_body));
  S3Status status = Perform(exchange);
  if (!status.ok()) return status;
  pugi::xml_document answer;
  answer.load_buffer(exchange.answer.data(), exchange.answer.size());
  for (pugi::xml_node error : answer.child("DeleteResult").children("Error")) {
    failed->push_back(StripPrefix(error.child_value("Key"), location_.prefix));
  }
  return status;
}

S3Status S3Client::List(std::string_view under, std::string* token, std::vector<S3Object>* page) {
  Exchange exchange{.method = "GET", .path = PathOf("")};
  exchange.query = {{"list-type", "2"}, {"prefix", location_.prefix + std::string(under)}};
  if (!token->empty()) exchange.query.emplace_back("continuation-token", *token);
  S3Status status = Perform(exchange);
  if (!status.ok()) return status;
  pugi::xml_document doc;
  doc.load_buffer(exchange.answer.data(), exchange.answer.size());
  const pugi::xml_node result = doc.child("ListBucketResult");
  for (pugi::xml_node item : result.children("Contents")) {
    S3Object object{.key = StripPrefix(item.child_value("Key"), location_.prefix),
                    .etag = Unquoted(item.child_value("ETag"))};
    object.size = std::strtoull(item.child_value("Size"), nullptr, 10);
    page->push_back(std::move(object));
  }
  const bool truncated = std::string_view(result.child_value("IsTruncated")) == "true";
  *token = truncated ? result.child_value("NextContinuationToken") : "";
  return status;
}

S3Status S3Client::CreateMultipart(std::string_view key, std::string_view content_type,
                                   std::string* upload_id) {
  Exchange exchange{.method = "POST", .path = PathOf(key), .query = {{"uploads", ""}}};
  if (!content_type.empty())
    exchange.headers.emplace_back("content-type", std::string(content_type));
  S3Status status = Perform(exchange);
  if (!status.ok()) return status;
  pugi::xml_document doc;
  doc.load_buffer(exchange.answer.data(), exchange.answer.size());
  *upload_id = doc.child("InitiateMultipartUploadResult").child_value("UploadId");
  if (upload_id->empty()) {
    status.http = 502;
    status.code = "BadAnswer";
    status.message = "CreateMultipartUpload answered no UploadId";
  }
  return status;
}

S3Status S3Client::UploadPart(std::string_view key, std::string_view upload_id, int part,
                              const S3Body& body, std::string* etag) {
  Exchange exchange{
      .method = "PUT",
      .path = PathOf(key),
      .query = {{"partNumber", std::to_string(part)}, {"uploadId", std::string(upload_id)}},
      .body = body};
  S3Status status = Perform(exchange);
  *etag = exchange.etag;
  return status;
}

S3Status S3Client::CompleteMultipart(std::string_view key, std::string_view upload_id,
                                     std::span<const std::string> etags) {
  std::string xml = "<CompleteMultipartUpload>";
  for (size_t i = 0; i < etags.size(); ++i) {
    xml.append("<Part><PartNumber>").append(std::to_string(i + 1)).append("</PartNumber><ETag>\"");
    xml.append(etags[i]).append("\"</ETag></Part>");
  }
  xml.append("</CompleteMultipartUpload>");
  Exchange exchange{
      .method = "POST", .path = PathOf(key), .query = {{"uploadId", std::string(upload_id)}}};
  exchange.xml_body = std::move(xml);
  return FailedAfterItsStatus(Perform(exchange), exchange.answer);
}

S3Status S3Client::AbortMultipart(std::string_view key, std::string_view upload_id) {
  Exchange exchange{
      .method = "DELETE", .path = PathOf(key), .query = {{"uploadId", std::string(upload_id)}}};
  return Perform(exchange);
}

S3Status S3Client::ListMultipart(std::string_view under, std::vector<S3Upload>* uploads) {
  Exchange exchange{.method = "GET", .path = PathOf("")};
  exchange.query = {{"uploads", ""}, {"prefix", location_.prefix + std::string(under)}};
  S3Status status = Perform(exchange);
  if (!status.ok()) return status;
  pugi::xml_document doc;
  doc.load_buffer(exchange.answer.data(), exchange.answer.size());
  for (pugi::xml_node item : doc.child("ListMultipartUploadsResult").children("Upload")) {
    uploads->push_back({.key = StripPrefix(item.child_value("Key"), location_.prefix),
                        .upload_id = item.child_value("UploadId")});
  }
  return status;
}

std::string S3Client::PresignGet(std::string_view key, int64_t now_s, int64_t expires_s,
                                 std::string_view disposition, std::string_view type) const {
  const std::string host = HostOf();
  SigV4Request request{.method = "GET", .host = host, .path = PathOf(key)};
  if (!disposition.empty()) {
    request.query.emplace_back("response-content-disposition", std::string(disposition));
  }
  if (!type.empty()) request.query.emplace_back("response-content-type", std::string(type));
  std::string url = scheme_ + "://" + host + UriEncode(request.path, true) + "?";
  url.append(
      PresignQuery(request, location_.credentials, location_.region, AmzDate(now_s), expires_s));
  return url;
}

}  // namespace ringcast::files
