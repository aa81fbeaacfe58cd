#include "core/flags.h"
#include "files/files_options.h"

namespace ringcast::files {

void RegisterFilesFlags(FlagRegistry& flags, FilesOptions* options) {
  flags.Add({
      {"files-url", &options->files_url,
       "Where uploaded files live: empty for --files-dir, or s3://BUCKET[/PREFIX] for a bucket of "
       "an S3-compatible object store (AWS S3, MinIO, Ceph RGW, Cloudflare R2, Aliyun OSS: "
       "files/README.md), which every node of a cluster may share"},
      {"s3-endpoint", &options->s3_endpoint,
       "The object store's URL, http(s)://HOST[:PORT] (empty: AWS_ENDPOINT_URL_S3 or "
       "AWS_ENDPOINT_URL, else AWS S3 in --s3-region)"},
      {"s3-region", &options->s3_region,
       "The bucket's region, as requests are signed for it (empty: AWS_REGION or "
       "AWS_DEFAULT_REGION, else us-east-1)"},
      {"s3-addressing", &options->s3_addressing,
       "path (HOST/BUCKET/KEY) or virtual (BUCKET.HOST/KEY); auto: virtual on AWS, path with "
       "--s3-endpoint",
       CLI::IsMember({"auto", "path", "virtual"})},
      {"s3-access-key", &options->s3_access_key,
       "The object store's access key id (empty: AWS_ACCESS_KEY_ID, else the credentials file)"},
      {"s3-secret-key", &options->s3_secret_key,
       "The secret of --s3-access-key (empty: AWS_SECRET_ACCESS_KEY, else the credentials file)"},
      {"s3-credentials-file", &options->s3_credentials_file,
       "A shared credentials file in AWS's format (empty: AWS_SHARED_CREDENTIALS_FILE, else "
       "~/.aws/credentials)"},
      {"s3-profile", &options->s3_profile,
       "The credentials file's profile (empty: AWS_PROFILE, else default)"},
      Bounded("s3-part-bytes", &options->s3_part_bytes, uint64_t{5} << 20, uint64_t{5} << 30,
              "Bytes of each part of a multipart upload (a file larger than one part is sent in "
              "parts as it arrives; an upload holds at most two parts on the node's disk)"),
      Bounded("s3-timeout", &options->s3_timeout_s, 1, 3600,
              "Seconds one request to the object store may take (a part, a download window) "
              "before it fails and is retried"),
      Bounded("s3-workers", &options->s3_workers, 1, 1024,
              "Threads for requests to the object store (parts, commits, download windows), on "
              "top of --workers: each waits on the network"),
      {"files-serve", &options->files_serve,
       "With --files-url: stream (GET /files/{id} streams the object through the node, Range "
       "and ETag kept) or redirect (302 to a presigned URL of the store, which serves the bytes)",
       CLI::IsMember({"stream", "redirect"})},
      {"migrate-files", &options->migrate_files,
       "Copy the files of --files-dir into the bucket of --files-url and exit instead of serving: "
       "resumable (objects present with the same size are skipped), every file's hash checked "
       "against its name and every object's size (and a single part's MD5) against its file"},
  });
  flags.AddSecretFile({"s3-secret-key", "--s3-secret-key-file", "RINGCAST_S3_SECRET_KEY_FILE"});
}

}  // namespace ringcast::files
