#include "chat/calls/call.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

namespace ringcast::chat {
namespace {

using Kind = CallSignal::Kind;

constexpr CallDevice kAlice{1, 10};
constexpr CallDevice kBobPhone{2, 20};
constexpr CallDevice kBobLaptop{2, 21};
constexpr CallDevice kCarol{3, 30};
constexpr CallDevice kDan{4, 40};
const CallOptions kOptions{
    .ring_timeout_ms = 45'000, .max_participants = 3, .rejoin_grace_ms = 10'000};

// Whether `signals` holds one of `kind` to `to` (device: nullopt for every device) about `about`.
bool Has(const std::vector<CallSignal>& signals, Kind kind, int64_t to,
         std::optional<uint64_t> device, CallDevice about) {
  return std::any_of(signals.begin(), signals.end(), [&](const CallSignal& s) {
    return s.kind == kind && s.to == to && s.device == device && s.about == about;
  });
}

size_t Count(const std::vector<CallSignal>& signals, Kind kind) {
  return static_cast<size_t>(std::count_if(signals.begin(), signals.end(),
                                           [&](const CallSignal& s) { return s.kind == kind; }));
}

TEST(CallTest, TheFirstDeviceToAcceptTakesAOneToOneCall) {
  std::vector<CallSignal> out;
  Call call(7, 100, CallKind::kVideo, false, kAlice, {2}, 1'000, kOptions, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(Has(out, Kind::kRing, 2, std::nullopt, kAlice));  // Every device of bob's.
  EXPECT_EQ(call.NextDeadline(), 46'000);

  out.clear();
  ASSERT_EQ(call.Accept(kBobLaptop, 3'000, out), Call::Refusal::kNone);
  EXPECT_TRUE(Has(out, Kind::kStopRinging, 2, std::nullopt, kBobLaptop));
  EXPECT_TRUE(Has(out, Kind::kJoined, 1, 10, kBobLaptop));
  EXPECT_EQ(call.answered_at(), 3'000);
  EXPECT_EQ(call.NextDeadline(), std::nullopt);  // Nothing rings, nobody dropped.

  out.clear();
  EXPECT_EQ(call.Accept(kBobPhone, 3'100, out), Call::Refusal::kNotInvited);
  EXPECT_TRUE(out.empty());
  EXPECT_TRUE(call.MayRelay(kAlice, kBobLaptop));
  EXPECT_TRUE(call.MayRelay(kBobLaptop, kAlice));
  EXPECT_FALSE(call.MayRelay(kAlice, kBobPhone));
  EXPECT_FALSE(call.MayRelay(kCarol, kAlice));

  ASSERT_EQ(call.HangUp(kBobLaptop, 63'000, out), Call::Refusal::kNone);
  EXPECT_TRUE(Has(out, Kind::kLeft, 1, 10, kBobLaptop));
  EXPECT_TRUE(Has(out, Kind::kEnded, 1, 10, CallDevice{}));
  EXPECT_EQ(call.outcome(), CallOutcome::kCompleted);
  EXPECT_EQ(call.duration_ms(), 60'000);
  EXPECT_EQ(call.joined_users(), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(call.HangUp(kAlice, 63'001, out), Call::Refusal::kEnded);
}

TEST(CallTest, DeclinedCancelledAndMissedCallsEndWithThatOutcome) {
  std::vector<CallSignal> out;
  Call declined(1, 100, CallKind::kAudio, false, kAlice, {2}, 0, kOptions, out);
  out.clear();
  ASSERT_EQ(declined.Decline(2, 5'000, out), Call::Refusal::kNone);
  EXPECT_TRUE(Has(out, Kind::kStopRinging, 2, std::nullopt, CallDevice{2, 0}));
  EXPECT_TRUE(Has(out, Kind::kDeclined, 1, 10, CallDevice{2, 0}));
  EXPECT_TRUE(Has(out, Kind::kEnded, 1, 10, CallDevice{}));
  EXPECT_EQ(declined.outcome(), CallOutcome::kDeclined);
  EXPECT_EQ(declined.duration_ms(), 0);

  Call cancelled(2, 100, CallKind::kAudio, false, kAlice, {2}, 0, kOptions, out);
  out.clear();
  EXPECT_EQ(cancelled.Cancel(kBobPhone, 1'000, out), Call::Refusal::kNotCaller);
  EXPECT_EQ(cancelled.HangUp(kBobPhone, 1'000, out), Call::Refusal::kNotJoined);
  ASSERT_EQ(cancelled.HangUp(kAlice, 2'000, out), Call::Refusal::kNone);  // Before an answer.
  EXPECT_EQ(cancelled.outcome(), CallOutcome::kCancelled);
  EXPECT_TRUE(Has(out, Kind::kStopRinging, 2, std::nullopt, kAlice));

  Call missed(3, 100, CallKind::kAudio, false, kAlice, {2}, 0, kOptions, out);
  out.clear();
  missed.Tick(44'999, out);
  EXPECT_FALSE(missed.ended());
  missed.Tick(45'000, out);
  EXPECT_EQ(missed.outcome(), CallOutcome::kMissed);
  EXPECT_TRUE(Has(out, Kind::kStopRinging, 2, std::nullopt, kAlice));
  EXPECT_TRUE(Has(out, Kind::kEnded, 1, 10, CallDevice{}));
  EXPECT_EQ(missed.Accept(kBobPhone, 45'001, out), Call::Refusal::kEnded);

  Call answered(4, 100, CallKind::kAudio, false, kAlice, {2}, 0, kOptions, out);
  ASSERT_EQ(answered.Accept(kBobPhone, 1'000, out), Call::Refusal::kNone);
  EXPECT_EQ(answered.Cancel(kAlice, 2'000, out), Call::Refusal::kAnswered);
  EXPECT_EQ(answered.Decline(2, 2'000, out), Call::Refusal::kNotInvited);
}

TEST(CallTest, AGroupCallIsAMeshUpToItsLimitThatEndsWhenOneIsLeft) {
  std::vector<CallSignal> out;
  Call call(9, 200, CallKind::kVideo, true, kAlice, {2, 3, 4}, 0, kOptions, out);
  EXPECT_EQ(Count(out, Kind::kRing), 3u);
  out.clear();
  ASSERT_EQ(call.Accept(kBobPhone, 1'000, out), Call::Refusal::kNone);
  EXPECT_EQ(Count(out, Kind::kStopRinging), 1u);  // Bob's other devices only: carol still rings.
  ASSERT_EQ(call.Accept(kCarol, 2'000, out), Call::Refusal::kNone);
  EXPECT_TRUE(Has(out, Kind::kJoined, 2, 20, kCarol));
  EXPECT_TRUE(Has(out, Kind::kJoined, 1, 10, kCarol));
  EXPECT_EQ(call.Accept(kDan, 3'000, out), Call::Refusal::kFull);
  EXPECT_TRUE(call.MayRelay(kBobPhone, kCarol));

  out.clear();
  call.Tick(45'000, out);  // Dan's invite stops ringing; the call goes on.
  EXPECT_FALSE(call.ended());
  EXPECT_TRUE(Has(out, Kind::kStopRinging, 4, std::nullopt, kAlice));
  EXPECT_EQ(call.Accept(kDan, 45'001, out), Call::Refusal::kFull);  // Still four in it.

  out.clear();
  ASSERT_EQ(call.HangUp(kAlice, 50'000, out), Call::Refusal::kNone);
  EXPECT_FALSE(call.ended());
  EXPECT_TRUE(Has(out, Kind::kLeft, 3, 30, kAlice));
  // A member not in the call joins it while it goes on: one who never answered its ring, or
  // one who left and comes back.
  ASSERT_EQ(call.Accept(kDan, 51'000, out), Call::Refusal::kNone);
  EXPECT_TRUE(Has(out, Kind::kJoined, 3, 30, kDan));
  ASSERT_EQ(call.HangUp(kDan, 53'000, out), Call::Refusal::kNone);
  ASSERT_EQ(call.Accept(kAlice, 54'000, out), Call::Refusal::kNone);
  EXPECT_EQ(call.Accept(kCarol, 54'500, out), Call::Refusal::kNotInvited);  // In it already.
  ASSERT_EQ(call.HangUp(kAlice, 55'000, out), Call::Refusal::kNone);
  ASSERT_EQ(call.HangUp(kCarol, 60'000, out), Call::Refusal::kNone);
  EXPECT_EQ(call.outcome(), CallOutcome::kCompleted);
  EXPECT_EQ(call.duration_ms(), 59'000);
  EXPECT_EQ(call.joined_users(), (std::vector<int64_t>{1, 2, 3, 4}));
}

TEST(CallTest, AGroupCallEveryoneDeclinesEndsDeclined) {
  std::vector<CallSignal> out;
  Call call(9, 200, CallKind::kAudio, true, kAlice, {2, 3}, 0, kOptions, out);
  ASSERT_EQ(call.Decline(2, 1'000, out), Call::Refusal::kNone);
  EXPECT_FALSE(call.ended());
  ASSERT_EQ(call.Decline(3, 2'000, out), Call::Refusal::kNone);
  EXPECT_EQ(call.outcome(), CallOutcome::kDeclined);
}

TEST(CallTest, ADroppedParticipantMayRejoinWithinTheGracePeriod) {
  std::vector<CallSignal> out;
  Call call(5, 100, CallKind::kAudio, false, kAlice, {2}, 0, kOptions, out);
  ASSERT_EQ(call.Accept(kBobPhone, 1'000, out), Call::Refusal::kNone);
  out.clear();
  call.Dropped(kBobPhone, 5'000, out);
  EXPECT_EQ(call.NextDeadline(), 15'000);
  EXPECT_FALSE(call.MayRelay(kAlice, kBobPhone));
  const CallDevice reconnected{2, 22};
  ASSERT_EQ(call.Rejoin(reconnected, 9'000, out), Call::Refusal::kNone);
  EXPECT_TRUE(Has(out, Kind::kLeft, 1, 10, kBobPhone));  // Its connection is gone for good.
  EXPECT_TRUE(Has(out, Kind::kJoined, 1, 10, reconnected));
  EXPECT_TRUE(call.MayRelay(kAlice, reconnected));
  EXPECT_EQ(call.NextDeadline(), std::nullopt);

  out.clear();
  call.Dropped(reconnected, 20'000, out);
  call.Tick(29'999, out);
  EXPECT_FALSE(call.ended());
  call.Tick(30'000, out);  // Not back within the grace period: the call ends without it.
  EXPECT_EQ(call.outcome(), CallOutcome::kCompleted);
  EXPECT_EQ(call.duration_ms(), 29'000);
  EXPECT_TRUE(Has(out, Kind::kLeft, 1, 10, reconnected));
  EXPECT_TRUE(Has(out, Kind::kEnded, 1, 10, CallDevice{}));
  EXPECT_EQ(call.Rejoin(CallDevice{2, 23}, 30'001, out), Call::Refusal::kEnded);
}

TEST(CallTest, ACallerLostBeforeAnAnswerFails) {
  std::vector<CallSignal> out;
  Call call(6, 100, CallKind::kAudio, false, kAlice, {2}, 0, kOptions, out);
  call.Dropped(kAlice, 1'000, out);
  out.clear();
  call.Tick(11'000, out);
  EXPECT_EQ(call.outcome(), CallOutcome::kFailed);
  EXPECT_TRUE(Has(out, Kind::kStopRinging, 2, std::nullopt, kAlice));
}

// Issue 44: a member removed from the group stops ringing and is put out of the call (the holder
// also refuses her accept and rejoin after asking the store).
TEST(CallTest, ARemovedMemberStopsRingingAndLeavesTheCall) {
  std::vector<CallSignal> out;
  Call call(9, 200, CallKind::kAudio, true, kAlice, {2, 3, 4}, 0, kOptions, out);
  out.clear();
  call.Remove(4, 500, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].kind, Kind::kStopRinging);
  EXPECT_EQ(out[0].to, 4);
  EXPECT_EQ(out[0].reason, CallEndReason::kRemoved);
  EXPECT_FALSE(call.ringing(4));
  EXPECT_FALSE(call.ended());
  ASSERT_EQ(call.Accept(kBobPhone, 1'000, out), Call::Refusal::kNone);
  ASSERT_EQ(call.Accept(kCarol, 2'000, out), Call::Refusal::kNone);

  out.clear();
  call.Remove(3, 3'000, out);
  EXPECT_TRUE(Has(out, Kind::kLeft, 1, 10, kCarol));
  EXPECT_TRUE(Has(out, Kind::kLeft, 2, 20, kCarol));
  EXPECT_TRUE(Has(out, Kind::kEnded, 3, 30, kCarol));  // Out of it, and told why.
  EXPECT_TRUE(std::any_of(out.begin(), out.end(), [](const CallSignal& s) {
    return s.kind == Kind::kEnded && s.reason == CallEndReason::kRemoved;
  }));
  EXPECT_FALSE(call.ended());
  EXPECT_FALSE(call.MayRelay(kAlice, kCarol));
  EXPECT_EQ(call.MayRejoin(kCarol), Call::Refusal::kNotJoined);

  out.clear();
  call.Remove(2, 4'000, out);  // Alone with the caller: over.
  EXPECT_EQ(call.outcome(), CallOutcome::kCompleted);
  EXPECT_EQ(call.end_reason(), CallEndReason::kRemoved);
  EXPECT_TRUE(Has(out, Kind::kEnded, 1, 10, CallDevice{}));
}

TEST(CallTest, ACallerRemovedBeforeAnAnswerCancelsTheCall) {
  std::vector<CallSignal> out;
  Call call(9, 200, CallKind::kAudio, true, kAlice, {2, 3}, 0, kOptions, out);
  out.clear();
  call.Remove(1, 1'000, out);
  EXPECT_EQ(call.outcome(), CallOutcome::kCancelled);
  EXPECT_EQ(Count(out, Kind::kStopRinging), 2u);
  EXPECT_TRUE(Has(out, Kind::kEnded, 1, 10, kAlice));
  for (const CallSignal& signal : out) EXPECT_EQ(signal.reason, CallEndReason::kRemoved);
}

// Issue 44: a group rings at most --call-ring-max members; the others may join unrung, before an
// answer too. A 1:1 takes its callee alone.
TEST(CallTest, AMemberTheGroupCallDidNotRingMayJoinIt) {
  std::vector<CallSignal> out;
  Call call(9, 200, CallKind::kAudio, true, kAlice, {2}, 0, kOptions, out);
  EXPECT_EQ(call.MayAccept(kCarol), Call::Refusal::kNone);
  ASSERT_EQ(call.Accept(kCarol, 1'000, out), Call::Refusal::kNone);
  EXPECT_TRUE(Has(out, Kind::kJoined, 1, 10, kCarol));
  EXPECT_TRUE(call.ringing(2));  // Bob still rings.

  Call one(5, 100, CallKind::kAudio, false, kAlice, {2}, 0, kOptions, out);
  EXPECT_EQ(one.MayAccept(kCarol), Call::Refusal::kNotInvited);
  EXPECT_EQ(one.Accept(kCarol, 1'000, out), Call::Refusal::kNotInvited);
}

// Issue 44: a block between a 1:1's members ends its call at once, for both, with the reason.
TEST(CallTest, ABlockEndsACallAtOnceForBoth) {
  std::vector<CallSignal> out;
  Call ringing(5, 100, CallKind::kAudio, false, kAlice, {2}, 0, kOptions, out);
  out.clear();
  ringing.EndBy(CallEndReason::kBlocked, 1'000, out);
  EXPECT_EQ(ringing.outcome(), CallOutcome::kCancelled);
  EXPECT_EQ(ringing.end_reason(), CallEndReason::kBlocked);
  EXPECT_TRUE(Has(out, Kind::kStopRinging, 2, std::nullopt, kAlice));
  EXPECT_TRUE(Has(out, Kind::kEnded, 1, 10, CallDevice{}));
  for (const CallSignal& signal : out) EXPECT_EQ(signal.reason, CallEndReason::kBlocked);

  Call answered(6, 100, CallKind::kAudio, false, kAlice, {2}, 0, kOptions, out);
  ASSERT_EQ(answered.Accept(kBobPhone, 1'000, out), Call::Refusal::kNone);
  out.clear();
  answered.EndBy(CallEndReason::kBlocked, 5'000, out);
  EXPECT_EQ(answered.outcome(), CallOutcome::kCompleted);
  EXPECT_EQ(answered.duration_ms(), 4'000);
  EXPECT_TRUE(Has(out, Kind::kEnded, 1, 10, CallDevice{}));
  EXPECT_TRUE(Has(out, Kind::kEnded, 2, 20, CallDevice{}));
  EXPECT_FALSE(answered.MayRelay(kAlice, kBobPhone));
}

TEST(CallTest, NamesAreTheWireNames) {
  EXPECT_EQ(CallKindName(CallKind::kVideo), "video");
  EXPECT_EQ(CallKindName(CallKind::kAudio), "audio");
  EXPECT_EQ(CallOutcomeName(CallOutcome::kMissed), "missed");
  EXPECT_EQ(CallOutcomeName(CallOutcome::kCompleted), "completed");
  EXPECT_EQ(CallEndReasonName(CallEndReason::kBlocked), "blocked");
  EXPECT_EQ(CallEndReasonName(CallEndReason::kRemoved), "removed");
  EXPECT_EQ(CallEndReasonName(CallEndReason::kNone), "");
}

}  // namespace
}  // namespace ringcast::chat
