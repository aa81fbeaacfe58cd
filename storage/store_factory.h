// OpenStore: the chat store that --database-url names, built once by the composition root
// (server/main.cc): PostgreSQL for a URL or libpq connection string, else the embedded SQLite
// store in --data-dir. Blocking, main thread, at start.
#pragma once

#include <memory>
#include <string>

#include "storage/chat_store.h"
#include "storage/store_options.h"

namespace ringcast::storage {

// What a node of a cluster must share with every other: the token signing secret (hex) and
// the VAPID key (PEM, notify/push/vapid_key.h). A shared store (PostgreSQL) keeps the first
// node's candidates and answers what it holds; a node's own store (SQLite) leaves them as given.
// An empty jwt_secret_hex proposes none (--jwt-secret is given: the store keeps none).
struct SharedSettings {
  std::string jwt_secret_hex;
  std::string vapid_key_pem;
};

// True when options name a store every node of a cluster shares.
inline bool IsSharedStore(const StoreOptions& options) { return !options.database_url.empty(); }

// Opens the store, with *settings proposed and answered as above; `log` takes its info and
// warning lines (storage/ has no logger of its own). Null with *error (one line, without the
// password) when it cannot be opened.
std::unique_ptr<ChatStore> OpenStore(const StoreOptions& options, SharedSettings* settings,
                                     void (*log)(bool warning, const std::string& line),
                                     std::string* error);

}  // namespace ringcast::storage
