// Names: user id → username. The chat API gives ids (members, senders) and only one way to a
// name: the user search (GET /api/users?q=). So names are learnt from search results, from the
// session, and from roster messages (roster.js) — which any member could forge, so a claimed
// name is shown only once the search confirms it (the name's exact match has that id).
// Confirmed names are kept in localStorage, per signed-in user.

const storageKey = (me) => `ringcast-app:names:${me}`;

export class Names {
  /** @param {import('/sdk/index.js').RingcastClient} client */
  constructor(client) {
    this._client = client;
    /** @type {Map<number, string>} */
    this._names = new Map();
    /** @type {Set<string>} claims being checked or found false ("id:name") */
    this._checked = new Set();
    /** @type {() => void} */
    this.onChange = () => {};
    this._me = 0;
  }

  /** Starts over for the signed-in user. @param {number} me @param {string | undefined} username */
  reset(me, username) {
    this._me = me;
    this._names.clear();
    this._checked.clear();
    try {
      const stored = JSON.parse(localStorage.getItem(storageKey(me)) ?? '{}');
      for (const [id, name] of Object.entries(stored)) {
        if (typeof name === 'string') this._names.set(Number(id), name);
      }
    } catch {
      // A corrupted entry: names are learnt again.
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

  /** @param {number} id @returns {string} the username, or "user #id" while unknown */
  name(id) {
    return this._names.get(id) ?? `user #${id}`;
  }

  /** @param {number} id */
  known(id) {
    return this._names.has(id);
  }

  /**
   * A roster's claim that user `id` is called `name`: checked with the user search (the exact
   * name sorts first among the names it starts), then learnt. Each claim is checked once.
   * @param {number} id @param {string} name
   */
  async confirm(id, name) {
    const claim = `${id}:${name}`;
    if (this._names.has(id) || this._checked.has(claim)) return;
    this._checked.add(claim);
    try {
      const [first] = await this._client.searchUsers(name, 1);
      if (first && first.id === id && first.username.toLowerCase() === name.toLowerCase()) {
        this.learn(id, first.username);
      }
    } catch {
      this._checked.delete(claim);  // Offline: tried again at the next roster seen.
    }
  }
}
