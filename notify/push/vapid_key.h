// The VAPID key pair (RFC 8292): one ES256 (P-256) key per deployment, which push services tie
// a browser's subscription to (the browser subscribed with its public key as
// applicationServerKey, so a new key silently orphans every subscription: it must persist).
//
// On SQLite it lives in <data-dir>/vapid-key (PKCS#8 PEM, mode 0600), generated at first start.
// On PostgreSQL every node of a cluster must sign with the same key: server_settings.vapid_key
// holds it (the first node to start keeps its data dir's key there, or a new one), as the
// token signing secret is shared (chat/service.cc).
#pragma once

#include <optional>
#include <string>

#include "notify/push/webpush_crypto.h"

namespace ringcast::notify {

inline constexpr const char* kVapidKeyFile = "vapid-key";

// SQLite: the data dir's key, else a new one written there (0600, atomically). nullopt with
// *error set when the file is unreadable, not a P-256 key, or cannot be written.
std::optional<EcKey> LoadOrCreateVapidKey(const std::string& data_dir, std::string* error);
// PostgreSQL: what this node offers to keep in the database: the data dir's key (PEM) if it
// has one, else a new one (not written to the data dir).
std::optional<std::string> VapidKeyCandidate(const std::string& data_dir, std::string* error);

}  // namespace ringcast::notify
