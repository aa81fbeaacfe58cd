// Where uploaded files live (files/README.md): a local folder (--files-dir, the embedded
// default) or a bucket of an S3-compatible object store (--files-url s3://…), and how the
// store is reached. The flags that set them are in files_flags.cc; the store they open in
// files_setup.h.
#pragma once

#include <cstdint>
#include <string>

namespace ringcast {
class FlagRegistry;
}  // namespace ringcast

namespace ringcast::files {

struct FilesOptions {
  std::string files_url;    // "" (the --files-dir folder) or s3://BUCKET[/PREFIX].
  std::string s3_endpoint;  // "": AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS's for the region.
  std::string s3_region;    // "": AWS_REGION, AWS_DEFAULT_REGION, else us-east-1.
  std::string s3_addressing = "auto";  // path, virtual; auto: virtual on AWS, path elsewhere.
  std::string s3_access_key;
  std::string s3_secret_key;
  std::string s3_credentials_file;
  std::string s3_profile;
  uint64_t s3_part_bytes = 8 << 20;
  uint32_t s3_timeout_s = 60;
  uint32_t s3_workers = 16;
  std::string files_serve = "stream";  // stream (through the node) or redirect (presigned GET).
  bool migrate_files = false;  // Copy --files-dir into the bucket, then exit (files_migrate.h).
};

void RegisterFilesFlags(FlagRegistry& flags, FilesOptions* options);

}  // namespace ringcast::files
