#include "chat/upload_sweeper.h"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>
#include <vector>

#include "core/net/file_upload.h"
#include "storage/upload_store.h"
#include "tests/unit/storage/storage_test_util.h"

namespace ringcast::chat {
namespace {

using storage::Reply;
using storage::UploadRecord;

const std::string kSha(64, 'a');
const std::string kThumbSha(64, 'b');
const std::string kOtherSha(64, 'c');

// The sweeper takes an UploadStore and nothing more: this one answers from the test's script.
// Called on the sweeper's thread; the test waits on `changed`.
class ScriptedUploadStore final : public storage::UploadStore {
 public:
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<UploadRecord> orphans;  // Handed out by the first DeleteOrphanUploads.
  // Answers to UnreferencedFiles, in call order; past the end: every hash asked about.
  std::vector<std::vector<std::string>> unreferenced;
  std::vector<std::vector<std::string>> asked;  // What each UnreferencedFiles call asked.
  int64_t created_from = -1, created_before = -1;

  void DeleteOrphanUploads(int64_t from, int64_t before, uint32_t /*limit*/,
                           Reply<std::vector<UploadRecord>> reply) override {
    std::vector<UploadRecord> out;
    {
      std::lock_guard lock(mutex);
      created_from = from;
      created_before = before;
      out.swap(orphans);
    }
    reply(std::move(out));
  }
  void UnreferencedFiles(std::vector<std::string> hashes,
                         Reply<std::vector<std::string>> reply) override {
    std::vector<std::string> out = hashes;
    {
      std::lock_guard lock(mutex);
      if (asked.size() < unreferenced.size()) out = unreferenced[asked.size()];
      asked.push_back(std::move(hashes));
    }
    changed.notify_all();
    reply(std::move(out));
  }
  void TakeReleasedFiles(uint32_t, Reply<std::vector<std::string>> reply) override {
    reply(std::vector<std::string>{});
  }
  // The rest is not the sweeper's: a call fails the test.
  void CreateUpload(UploadRecord, uint64_t, Reply<storage::UploadOutcome> reply) override {
    ADD_FAILURE() << "CreateUpload";
    reply(storage::UploadOutcome{});
  }
  void FindUpload(std::string, int64_t, Reply<std::optional<UploadRecord>> reply) override {
    ADD_FAILURE() << "FindUpload";
    reply(std::optional<UploadRecord>());
  }
  void FindOwnedUploads(int64_t, std::vector<std::string>,
                        Reply<std::vector<UploadRecord>> reply) override {
    ADD_FAILURE() << "FindOwnedUploads";
    reply(std::vector<UploadRecord>{});
  }
};

UploadRecord Orphan(const std::string& sha, const std::string& thumb_sha = "") {
  UploadRecord record;
  record.id = "u1";
  record.sha256 = sha;
  record.thumb_sha256 = thumb_sha;
  return record;
}

class UploadSweeperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(dir_.ok());
    options_.ttl = std::chrono::seconds(4);  // The first pass one second after Start.
    options_.files_dir = dir_.File("files");
    options_.temp_dir = dir_.File("files/tmp");
    std::filesystem::create_directories(options_.temp_dir);
    for (const std::string& sha : {kSha, kThumbSha, kOtherSha}) Store(sha);
  }

  void Store(const std::string& sha) {
    const std::string path = StoredFilePath(options_.files_dir, sha);
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path) << "bytes";
  }
  bool Stored(const std::string& sha) {
    return std::filesystem::exists(StoredFilePath(options_.files_dir, sha));
  }
  // Runs the sweeper until the store was asked `calls` times which files no upload names.
  void Sweep(size_t calls) {
    UploadSweeper sweeper(store_, options_);
    sweeper.Start();
    std::unique_lock lock(store_.mutex);
    ASSERT_TRUE(store_.changed.wait_for(lock, std::chrono::seconds(10),
                                        [&] { return store_.asked.size() >= calls; }));
    lock.unlock();
    sweeper.Stop();  // Waits for the pass under way.
  }

  storage::testing::TempDir dir_;
  UploadSweepOptions options_;
  ScriptedUploadStore store_;
};

TEST_F(UploadSweeperTest, RemovesTheFilesOfOrphansThatNoUploadNames) {
  store_.orphans = {Orphan(kSha, kThumbSha)};
  const auto start = std::chrono::system_clock::now();
  Sweep(2);
  EXPECT_FALSE(Stored(kSha));
  EXPECT_FALSE(Stored(kThumbSha));
  EXPECT_TRUE(Stored(kOtherSha));
  EXPECT_FALSE(std::filesystem::exists(options_.temp_dir + "/" + kSha + ".swept"));
  // Asked once before the files were moved aside and once after.
  const std::vector<std::string> both = {kSha, kThumbSha};
  EXPECT_EQ(store_.asked[0], both);
  EXPECT_EQ(store_.asked[1], both);
  // The first pass looks from the start of time to ttl + min(ttl, 60 s) ago.
  EXPECT_EQ(store_.created_from, 0);
  const int64_t start_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(start.time_since_epoch()).count();
  EXPECT_GE(store_.created_before, start_ms - 8000);
  EXPECT_LE(store_.created_before, start_ms - 8000 + 5000);
}

TEST_F(UploadSweeperTest, PutsBackAFileNamedAgainWhileMovedAside) {
  store_.orphans = {Orphan(kSha)};
  // Unreferenced at first; by the second question an upload of the same bytes names it.
  store_.unreferenced = {{kSha}, {}};
  Sweep(2);
  EXPECT_TRUE(Stored(kSha));
  EXPECT_FALSE(std::filesystem::exists(options_.temp_dir + "/" + kSha + ".swept"));
}

}  // namespace
}  // namespace ringcast::chat
