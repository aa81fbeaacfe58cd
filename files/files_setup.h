// Opening the object store of --files-url at start (main thread): the location, endpoint,
// region, addressing and credentials from the flags and AWS's environment variables, a first
// call to the bucket, and the recovery of what a crash left (files/object_store.h).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "files/files_options.h"
#include "files/object_store.h"

namespace ringcast::files {

// The location --files-url and the --s3-* flags describe, with AWS's variables where a flag is
// empty (`getenv`: the environment's lookup). nullopt with `error` when they do not make one.
std::optional<S3Location> LocationFromFlags(const FilesOptions& options,
                                            const std::function<const char*(const char*)>& getenv,
                                            std::string* credentials_source, std::string* error);

// The store of --files-url (null when it is empty). `node` names this process's temporaries
// (tmp/<node>/, swept/<node>/). A bucket that refuses the credentials or does not exist is an
// error (null, `error`); one that does not answer is logged and the server starts (uploads
// answer 503 until it does). `restored`: hashes a sweep had moved aside, put back.
std::shared_ptr<ObjectStore> OpenObjectStore(const FilesOptions& options, const std::string& node,
                                             std::vector<std::string>* restored,
                                             std::string* error);

}  // namespace ringcast::files
