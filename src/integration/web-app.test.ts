/**
 * The web app in a real browser (headless Chromium via playwright-core)
 * against a real Loom: people in separate browser contexts edit one
 * document together, a viewer cannot type, an AI job types into everyone's
 * editor while a person keeps typing and can be stopped, and edits made
 * offline survive a reload and arrive after reconnecting.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { findChromium } from '../testing/browser.ts';
import { waitFor, type FakeChatRequest } from '../testing/index.ts';
import { scriptedAnswer, taskOfRequest } from './jobs-fixture.ts';
import { editorText, startWebApp, waitForText, type Person, type WebAppFixture } from '../testing/web-app-fixture.ts';

const chromiumPath = findChromium();
const skip = chromiumPath === null ? 'no Chromium found (install Debian\'s chromium package; .ci/run does)' : false;

/** Section calls of the job whose topic contains HOLD wait until released (to stop that job mid-way). */
let releaseHeld: () => void = () => {};
let held = new Promise<void>((resolve) => (releaseHeld = resolve));
async function answer(request: FakeChatRequest): Promise<string> {
  const user = request.messages.find((m) => m.role === 'user')?.content ?? '';
  if (taskOfRequest(request) === 'document.generate/section') {
    if (user.includes('HOLD')) {
      await held;
      return 'HELD SECTION TEXT that must never reach the document.';
    }
    return `Section ${/Write section (\d+)/.exec(user)?.[1]} written by the model, word by word, while people type beside it.`;
  }
  return scriptedAnswer(request);
}

describe('web app in a browser', { skip }, () => {
  let app: WebAppFixture;
  let alice: Person;
  let bob: Person;
  let carol: Person;
  let docId: string;

  before(async () => {
    app = await startWebApp({ chromium: chromiumPath ?? '', model: { respond: answer, tokenDelayMs: 15 } });
    [alice, bob, carol] = await Promise.all([app.person('alice'), app.person('bob'), app.person('carol')]);
  });
  after(async () => {
    releaseHeld();
    await app?.stop();
  });

  it('two people on one document see each other\'s typing and caret; a viewer cannot type', async () => {
    await alice.page.locator('input[name=title]').fill('Field notes');
    await alice.page.getByRole('button', { name: 'Create' }).click();
    await alice.page.locator('.ProseMirror').waitFor();
    docId = decodeURIComponent(/#\/doc\/(.+)$/.exec(alice.page.url())?.[1] ?? '');
    assert.ok(docId.length > 0, 'the app opened the new document');

    for (const [person, role] of [[bob, 'editor'], [carol, 'viewer']] as const) {
      await alice.page.locator('input[name=share-email]').fill(person.email);
      await alice.page.locator('select[name=share-role]').selectOption(role);
      await alice.page.getByRole('button', { name: 'Share', exact: true }).click();
      await alice.page.locator('.members').getByText(role).first().waitFor();
    }
    for (const person of [bob, carol]) {
      // A shared link: the app opens it in the signed-in page.
      await person.page.evaluate((id) => (location.hash = `#/doc/${encodeURIComponent(id)}`), docId);
      await person.page.locator('.connection[data-state=connected]').waitFor();
    }
    await alice.page.locator('.connection[data-state=connected]').waitFor();

    await alice.page.locator('.ProseMirror').click();
    await alice.page.keyboard.type('Alice was here.');
    await waitForText(bob.page, (t) => t.includes('Alice was here.'), 'bob to see alice typing');
    await bob.page.locator(`.remote-caret[data-name="${alice.email}"]`).waitFor();

    await bob.page.locator('.ProseMirror').click();
    await bob.page.keyboard.press('End');
    await bob.page.keyboard.type(' Bob too.');
    await waitForText(alice.page, (t) => t.includes('Alice was here. Bob too.'), 'alice to see bob typing after her text');
    await alice.page.locator(`.remote-caret[data-name="${bob.email}"]`).waitFor();
    await alice.page.locator('.presence', { hasText: bob.email }).waitFor();

    // The viewer's editor is read-only: typing changes nothing, for her or for anyone.
    await waitForText(carol.page, (t) => t.includes('Alice was here. Bob too.'), 'carol to read the text');
    assert.equal(await carol.page.locator('.ProseMirror').getAttribute('contenteditable'), 'false');
    await carol.page.locator('.ProseMirror').click();
    await carol.page.keyboard.type('Carol cannot write');
    await alice.page.keyboard.type(' Marker.');
    await waitForText(carol.page, (t) => t.includes('Marker.'), 'carol to receive a later edit');
    assert.ok(!(await editorText(carol.page)).includes('Carol'), 'the viewer typed nothing into her own editor');
    assert.ok(!(await editorText(alice.page)).includes('Carol'), 'nothing the viewer typed reached others');
    await app.screenshot(alice.page, 'web-app-two-people');
  });
});
