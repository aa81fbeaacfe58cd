// The chat store and the secrets that go with it, as the composition root opens them: the
// token signing secret and Web Push's VAPID key live in the data dir on SQLite, and in the
// database on PostgreSQL, so that every node of a cluster accepts every node's tokens
// (storage::SharedSettings). Main thread, at start.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "chat/auth/jwt.h"
#include "chat/config.h"
#include "storage/chat_store.h"

namespace ringcast::server {

struct OpenedStore {
  std::unique_ptr<storage::ChatStore> store;
  auth::JwtSecret secret;
  std::string vapid_pem;  // Its private key, PEM (notify/push/vapid_key.h).
};

// Creates --data-dir if missing, then opens the store --database-url names
// (storage/store_factory.h) and the secrets in force. On PostgreSQL the secret is the database's
// unless --jwt-secret is given: the first node to start keeps its data dir's secret there (a single
// node moving to PostgreSQL keeps its users logged in), or a new one; the VAPID key likewise. On
// SQLite: --jwt-secret, else the data dir's file, else a new one written there. nullopt, with a
// one-line reason on stderr, on failure.
std::optional<OpenedStore> OpenStoreWithSecrets(const chat::Config& config);

}  // namespace ringcast::server
