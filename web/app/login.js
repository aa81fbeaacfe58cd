// The sign-in screen: one form, two buttons (sign in, create account). Registering signs in too.

import {byId, setText} from './dom.js';

/**
 * Shows the form until the user is signed in.
 * @param {import('/sdk/index.js').RingcastClient} client
 * @param {string} [message] why (the session expired, say)
 * @returns {Promise<void>} resolves once signed in
 */
export function signIn(client, message = '') {
  const screen = byId('login');
  const form = /** @type {HTMLFormElement} */ (byId('login-form'));
  const username = /** @type {HTMLInputElement} */ (byId('login-username'));
  const password = /** @type {HTMLInputElement} */ (byId('login-password'));
  const error = byId('login-error');
  setText(error, message);
  screen.hidden = false;
  username.focus();
  // An error speaks of the fields as they were: once they change it is stale.
  const clearError = () => setText(error, '');
  username.addEventListener('input', clearError);
  password.addEventListener('input', clearError);
  return new Promise((resolve) => {
    const onSubmit = async (/** @type {SubmitEvent} */ event) => {
      event.preventDefault();
      const action = /** @type {HTMLElement | null} */ (event.submitter)?.dataset.action;
      const buttons = form.querySelectorAll('button');
      buttons.forEach((b) => (b.disabled = true));
      setText(error, '');
      try {
        if (action === 'register') await client.register(username.value, password.value);
        await client.login(username.value, password.value);
        form.removeEventListener('submit', onSubmit);
        username.removeEventListener('input', clearError);
        password.removeEventListener('input', clearError);
        password.value = '';
        screen.hidden = true;
        resolve();
      } catch (e) {
        setText(error, explain(/** @type {any} */ (e), action === 'register'));
        password.focus();
      } finally {
        buttons.forEach((b) => (b.disabled = false));
      }
    };
    form.addEventListener('submit', onSubmit);
  });
}

/**
 * @param {{status?: number, message: string, retryAfterS?: number}} error @param {boolean}
 *     registering
 */
function explain(error, registering) {
  if (error.status === 409) return 'That username is taken.';
  if (error.status === 401) return 'Wrong username or password.';
  if (error.status === 429) return `Too many attempts: try again in ${error.retryAfterS ?? 60} s.`;
  if (error.status === 400)
    return registering ? `Cannot register: ${error.message}` : error.message;
  return `Cannot reach the server (${error.message}).`;
}
