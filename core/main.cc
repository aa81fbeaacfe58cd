// ringcast: shard-per-core io_uring WebSocket server. See README.md and docs/architecture.md.
#include "chat/service.h"
#include "core/config.h"
#include "core/log.h"
#include "core/runtime/shard_set.h"

int main(int argc, char** argv) {
  // First, before the store starts its threads: they inherit the mask, so only the main thread
  // (ShardSet::Run) ever takes SIGINT/SIGTERM.
  ringcast::ShardSet::BlockShutdownSignals();
  ringcast::Config config;
  int status = ringcast::ParseConfig(argc, argv, &config);
  if (status >= 0) return status;
  using ringcast::LogLevel;
  ringcast::SetLogLevel(config.log_level == "debug"   ? LogLevel::kDebug
                        : config.log_level == "warn"  ? LogLevel::kWarn
                        : config.log_level == "error" ? LogLevel::kError
                                                      : LogLevel::kInfo);
  std::unique_ptr<ringcast::chat::ChatService> chat = ringcast::chat::ChatService::Start(config);
  if (!chat) return 1;
  ringcast::ShardSet shards(config,
                            [&chat](ringcast::Shard& shard) { return chat->MakeShardApp(shard); });
  chat->Attach(shards);
  return shards.Run();
}
