#include "files/files_setup.h"

#include <cstdlib>

#include "core/log.h"
#include "files/s3_credentials.h"

namespace ringcast::files {

std::optional<S3Location> LocationFromFlags(const FilesOptions& options,
                                            const std::function<const char*(const char*)>& getenv,
                                            std::string* credentials_source, std::string* error) {
  const auto env = [&](const char* name) {
    const char* value = getenv(name);
    return value == nullptr ? std::string() : std::string(value);
  };
  S3Location location;
  if (!ParseS3Url(options.files_url, &location, error)) {
    *error = "--files-url: " + *error;
    return std::nullopt;
  }
  std::string endpoint = options.s3_endpoint;
  if (endpoint.empty()) endpoint = env("AWS_ENDPOINT_URL_S3");
  if (endpoint.empty()) endpoint = env("AWS_ENDPOINT_URL");
  if (!endpoint.empty()) {
    location.endpoint = NormalizeEndpoint(endpoint, error);
    if (location.endpoint.empty()) {
      *error = "--s3-endpoint: " + *error;
      return std::nullopt;
    }
  }
  location.region = options.s3_region;
  if (location.region.empty()) location.region = env("AWS_REGION");
  if (location.region.empty()) location.region = env("AWS_DEFAULT_REGION");
  if (location.region.empty()) location.region = "us-east-1";
  location.virtual_host = options.s3_addressing == "virtual" ||
                          (options.s3_addressing == "auto" && location.endpoint.empty());
  location.timeout = std::chrono::seconds(options.s3_timeout_s);
  CredentialSources sources{
      .given = {.access_key = options.s3_access_key, .secret_key = options.s3_secret_key},
      .credentials_file = options.s3_credentials_file,
      .profile = options.s3_profile};
  auto found = FindCredentials(sources, getenv, error);
  if (!found) return std::nullopt;
  location.credentials = std::move(found->credentials);
  *credentials_source = std::move(found->source);
  return location;
}

std::shared_ptr<ObjectStore> OpenObjectStore(const FilesOptions& options, const std::string& node,
                                             std::vector<std::string>* restored,
                                             std::string* error) {
  if (options.files_url.empty()) return nullptr;
  std::string source;
  auto location = LocationFromFlags(
      options, [](const char* name) { return std::getenv(name); }, &source, error);
  if (!location) return nullptr;
  auto store = std::make_shared<ObjectStore>(
      ObjectStoreOptions{.location = *location, .part_bytes = options.s3_part_bytes, .node = node});
  // One listing of at most a page: the credentials, the bucket and the endpoint at once.
  std::string token;
  std::vector<S3Object> page;
  const S3Status status = store->client().List("tmp/" + node + "/", &token, &page);
  const std::string where =
      options.files_url + " at " + (location->endpoint.empty() ? "AWS S3" : location->endpoint) +
      " (" + location->region + ", " + (location->virtual_host ? "virtual-host" : "path") +
      " addressing, credentials from " + source + ")";
  if (!status.ok() && !status.transient()) {
    *error = "the object store refused us: " + status.ToString() + "; " + where;
    return nullptr;
  }
  if (!status.ok()) {
    RC_LOG(kWarn,
           "files: the object store does not answer (%s): %s; uploads answer 503 until it does",
           status.ToString().c_str(), where.c_str());
    return store;
  }
  if (std::string problem = store->Recover(restored); !problem.empty()) {
    RC_LOG(kWarn, "files: recovering what a crash left in the bucket: %s", problem.c_str());
  }
  RC_LOG(kInfo, "files: %s", where.c_str());
  return store;
}

}  // namespace ringcast::files
