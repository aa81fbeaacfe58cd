// ringcast-client: the JavaScript SDK of the ringcast chat server. No runtime dependencies; runs
// in browsers and in Node 18+ (there with the `ws` package's WebSocket). README.md has the
// guide; proto/PROTOCOL.md the wire contract it implements.

export {ReconnectPolicy} from './backoff.js';
export {CallSignalling} from './call_signalling.js';
export {Call, callEntry, formatDuration} from './calls.js';
export {newCid, RingcastClient} from './client.js';
export {ConversationCursors} from './cursors.js';
export {Emitter} from './emitter.js';
export {RingcastError} from './errors.js';
export {rolesOf, systemEntry} from './groups.js';
export {completeMention, isMuted, mentionAt, mentions, mentionSpans} from './mentions.js';
export {avatarUrl, displayName, ProfileCache} from './profiles.js';
export {decodeBase64Url, deletePushSubscription, savePushSubscription, subscribePush, unsubscribePush, vapidPublicKey} from './push.js';
export {defaultStorage, MemoryStorage} from './storage.js';
export {attachmentUrl, formatSize, isImage, upload} from './uploads.js';
