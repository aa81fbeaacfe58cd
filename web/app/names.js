// Names: user id → username. The chat API gives ids (members, senders); the names come from the
// server's lookup by id (GET /api/users?ids=, the SDK's users()), asked once per id and in
// batches: every id asked for during one turn of the event loop goes out in one request. Names
// also come from the session and from search results. Kept in localStorage, per signed-in
// user, so a reload shows them at once (a username never changes).

const storageKey = (me) => `ringcast-app:names:${me}`;

export class Names {
  /** @param {import('/sdk/index.js').RingcastClient} client */
  constructor(client) {
    this._client = client;
    /** @type {Map<number, string>} */
    this._names = new Map();
    /** @type {Set<number>} ids to ask for at the next flush */
    this._wanted = new Set();
    /** @type {Map<number, Promise<void>>} ids asked for and not answered yet */
    this._asking = new Map();
    /** @type {Set<number>} ids the server does not know (never asked again) */
    this._unknown = new Set();
    /** @type {Promise<void> | null} the flush the wanted ids wait for */
    this._flush = null;
    /** @type {() => void} */
    this.onChange = () => {};
    this._me = 0;
  }

  /** Starts over for the signed-in user. @param {number} me @param {string | undefined} username */
  reset(me, username) {
    this._me = me;
    this._names.clear();
    this._wanted.clear();
    this._asking.clear();
    this._unknown.clear();
    try {
      const stored = JSON.parse(localStorage.getItem(storageKey(me)) ?? '{}');
      for (const [id, name] of Object.entries(stored)) {
        if (typeof name === 'string') this._names.set(Number(id), name);
      }
    } catch {
      // A corrupted entry: names are asked for again.
    }
    if (username) this.learn(me, username);
  }

  /** A name the server gave (search results, the login). @param {number} id @param {string} name */
  learn(id, name) {
    if (this._names.get(id) === name) return;
    this._names.set(id, name);
    try {
      localStorage.setItem(storageKey(this._me), JSON.stringify(Object.fromEntries(this._names)));
    } catch {
      // Storage full or off: names are kept for this page only.
    }
    this.onChange();
  }

  /**
   * @param {number} id @returns {string} the username, or "user #id" while it is being asked
   *     for (onChange follows the answer)
   */
  name(id) {
    const name = this._names.get(id);
    if (name !== undefined) return name;
    this.resolve([id]);
    return `user #${id}`;
  }

  /** @param {number} id */
  known(id) {
    return this._names.has(id);
  }

  /**
   * Asks for the names of `ids` not known yet; resolves once they are known (or found unknown,
   * or the request failed: a later name() asks again).
   * @param {Iterable<number>} ids @returns {Promise<void>}
   */
  resolve(ids) {
    /** @type {Promise<void>[]} */
    const waits = [];
    for (const id of ids) {
      if (this._names.has(id) || this._unknown.has(id) || !Number.isSafeInteger(id) || id < 1) {
        continue;
      }
      const asking = this._asking.get(id);
      if (asking) {
        waits.push(asking);
        continue;
      }
      this._wanted.add(id);
      waits.push(this._scheduleFlush());
    }
    return Promise.all(waits).then(() => {});
  }

  /** @returns {Promise<void>} */
  _scheduleFlush() {
    if (this._flush) return this._flush;
    const me = this._me;
    this._flush = Promise.resolve().then(async () => {
      this._flush = null;
      const ids = [...this._wanted];
      this._wanted.clear();
      const answered = this._ask(me, ids);
      for (const id of ids) this._asking.set(id, answered);
      await answered;
    });
    return this._flush;
  }

  /** @param {number} me the user signed in when asked @param {number[]} ids */
  async _ask(me, ids) {
    try {
      const users = await this._client.users(ids);
      if (me !== this._me) return;  // Signed out meanwhile: another user's names.
      for (const id of ids) this._unknown.add(id);
      for (const user of users) {
        this._unknown.delete(user.id);
        this.learn(user.id, user.username);
      }
    } catch {
      // Offline or signed out: the next name() asks again.
    } finally {
      if (me === this._me) for (const id of ids) this._asking.delete(id);
    }
  }
}
