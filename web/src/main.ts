/**
 * The Loom web app: sign in, the document list (#/), and a document
 * (#/doc/<id>). Plain TypeScript modules and TipTap; served by the gateway.
 */
import { Api, describeError } from './api.ts';
import { AppSocket } from './app-socket.ts';
import { fill, h, notify } from './dom.ts';
import { docListView } from './views/doc-list.ts';
import { docPage } from './views/doc-page.ts';
import { signInView } from './views/sign-in.ts';

const api = new Api();
let socket: AppSocket | undefined;
let leave: (() => void) | undefined;
let shown = 0;

function view(): HTMLElement {
  const el = document.getElementById('view');
  if (el === null) throw new Error('the page has no #view');
  return el;
}

function renderAccount(): void {
  const account = document.getElementById('account');
  if (account === null) return;
  const user = api.user;
  fill(account, user && h('span', { class: 'muted' }, user.email), user && h('button', { class: 'small', onclick: () => void api.signOut() }, 'Sign out'));
}

async function route(): Promise<void> {
  const ticket = ++shown;
  leave?.();
  leave = undefined;
  renderAccount();
  if (api.user === undefined) {
    fill(view(), signInView(api, () => void route()));
    return;
  }
  socket ??= new AppSocket(api.token());
  const match = /^#\/doc\/(.+)$/.exec(location.hash);
  if (match?.[1] === undefined) {
    fill(view(), docListView(api));
    return;
  }
  try {
    const page = await docPage(api, socket, decodeURIComponent(match[1]));
    if (ticket !== shown) return page.destroy();
    leave = page.destroy;
    fill(view(), page.element);
  } catch (err) {
    fill(view(), h('section', { class: 'card' }, h('p', { class: 'form-error' }, describeError(err)), h('a', { href: '#/' }, 'Back to documents')));
  }
}

api.onToken = (token) => socket?.setToken(token);
api.onSignedOut = (reason) => {
  socket?.close();
  socket = undefined;
  if (reason !== undefined) notify(reason);
  void route();
};
addEventListener('hashchange', () => void route());
addEventListener('unhandledrejection', (ev) => {
  ev.preventDefault();
  notify(describeError(ev.reason));
});
void route();
