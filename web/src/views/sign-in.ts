/** Sign in or create an account (the existing /v1/auth API). */
import { describeError, type Api } from '../api.ts';
import { h } from '../dom.ts';

export function signInView(api: Api, onSignedIn: () => void): HTMLElement {
  const email = h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true, placeholder: 'you@example.com' });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true, minlength: '8', placeholder: 'at least 8 characters' });
  const error = h('p', { class: 'form-error', role: 'alert' });
  const submit = async (mode: 'login' | 'register') => {
    error.textContent = '';
    try {
      await api.signIn(mode, email.value, password.value);
      onSignedIn();
    } catch (err) {
      error.textContent = describeError(err);
    }
  };
  const form = h(
    'form',
    { class: 'card sign-in', onsubmit: (ev) => (ev.preventDefault(), void submit('login')) },
    h('h1', {}, 'Sign in to Loom'),
    h('label', {}, 'Email', email),
    h('label', {}, 'Password', password),
    error,
    h(
      'div',
      { class: 'row' },
      h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
      h('button', { type: 'button', onclick: () => void (form.reportValidity() && submit('register')) }, 'Create account'),
    ),
  );
  return form;
}
