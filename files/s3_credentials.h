// Where S3 credentials come from, as AWS's own tools look for them: given explicitly (flags),
// then the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), then a
// shared credentials file (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, the profile named
// by AWS_PROFILE or "default"). Read once at start, on the main thread.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "files/sigv4.h"

namespace ringcast::files {

struct CredentialSources {
  SigV4Credentials given;        // Both keys, or neither.
  std::string credentials_file;  // "": AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials.
  std::string profile;           // "": AWS_PROFILE, else "default".
};

struct FoundCredentials {
  SigV4Credentials credentials;
  std::string source;  // For the start-up log: "flags", "environment", "<file> [profile]".
};

// The first source that has both keys; nullopt with `error` when a source is malformed (a key
// without its secret, an unreadable named file, a profile missing from a named file) or none
// has any. `getenv` is the environment's lookup (nullptr for an unset variable).
std::optional<FoundCredentials> FindCredentials(
    const CredentialSources& sources, const std::function<const char*(const char*)>& getenv,
    std::string* error);

// The keys of `profile` in the text of a shared credentials file (INI: [profile] sections of
// aws_access_key_id, aws_secret_access_key, aws_session_token); nullopt when the profile is absent.
std::optional<SigV4Credentials> ParseCredentialsFile(std::string_view text,
                                                     std::string_view profile);

}  // namespace ringcast::files
