// chat::Config: everything the chat service reads, its own options (chat_options.h) on top of
// the engine's (core/config.h: the shards take it as their ringcast::Config), the store's and
// notify's. The composition root (server/main.cc) fills it; inside namespace ringcast::chat the
// name Config means this one, so that the chat code reads every field as it always has.
#pragma once

#include "chat/chat_options.h"
#include "core/config.h"
#include "files/files_options.h"
#include "notify/notify_options.h"
#include "storage/store_options.h"

namespace ringcast::chat {

struct Config : ringcast::Config,
                storage::StoreOptions,
                notify::NotifyOptions,
                files::FilesOptions,
                ChatOptions {};

}  // namespace ringcast::chat
