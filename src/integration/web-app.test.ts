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
// CI must have a browser (.ci/run installs it): there a missing one fails the suite instead of skipping it.
const inCi = process.env['CI'] === 'true';
const skip = chromiumPath === null && !inCi ? 'no Chromium found (install Debian\'s chromium package; .ci/run does)' : false;

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

/** Opens a document the way a shared link does, in the signed-in page (tokens live in memory, so no reload). */
async function openByLink(person: Person, id: string): Promise<void> {
  await person.page.evaluate((hash) => {
    (globalThis as unknown as { location: { hash: string } }).location.hash = hash;
  }, `#/doc/${encodeURIComponent(id)}`);
}

describe('web app in a browser', { skip }, () => {
  let app: WebAppFixture;
  let alice: Person;
  let bob: Person;
  let carol: Person;
  let docId: string;

  before(async () => {
    if (chromiumPath === null) throw new Error('no Chromium found, and CI=true: .ci/run should have installed Debian\'s chromium package');
    app = await startWebApp({ chromium: chromiumPath, model: { respond: answer, tokenDelayMs: 15 } });
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
      await openByLink(person, docId);
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
    // Bob typed right at Alice's caret, which stays before his text (y-prosemirror keeps a caret where it was): End moves it after.
    await alice.page.keyboard.press('End');
    await alice.page.keyboard.type(' Marker.');
    await waitForText(carol.page, (t) => t.includes('Marker.'), 'carol to receive a later edit');
    assert.ok(!(await editorText(carol.page)).includes('Carol'), 'the viewer typed nothing into her own editor');
    assert.ok(!(await editorText(alice.page)).includes('Carol'), 'nothing the viewer typed reached others');
    await app.screenshot(alice.page, 'web-app-two-people');
  });

  it('a job started from the panel types into both editors while a person keeps typing; both texts survive; Stop cancels a job', async () => {
    await alice.page.locator('textarea[name=topic]').fill('Tide pools');
    await alice.page.locator('input[name=sections]').fill('2');
    await alice.page.getByRole('button', { name: 'Generate' }).click();
    // Bob keeps typing at the start of the document while the job writes at its end.
    await bob.page.locator('.ProseMirror').click();
    await bob.page.keyboard.press('Control+Home');
    const bobWords = ['Bob ', 'keeps ', 'typing ', 'meanwhile. '];
    let typed = 0;
    const jobText = await waitFor(async () => {
      if (typed < bobWords.length) await bob.page.keyboard.type(bobWords[typed++] ?? '');
      const text = await editorText(alice.page);
      return typed === bobWords.length && text.includes('Section 2 written by the model') ? text : undefined;
    }, { what: 'the job to write its last section into alice\'s editor while bob types', timeoutMs: 60_000, intervalMs: 200 });
    assert.ok(jobText.includes('# Tide pools'), 'the job wrote its title');
    assert.ok(jobText.includes('Section 1 written by the model'), 'the job wrote its first section');
    await waitForText(bob.page, (t) => t.includes('Section 2 written by the model'), 'bob to see the job\'s text too');
    await alice.page.locator('[data-job-status=succeeded]').waitFor({ timeout: 60_000 });
    await waitForText(alice.page, (t) => t.startsWith('Bob keeps typing meanwhile. Alice was here. Bob too. Marker.\n\n# Tide pools\n'), 'bob\'s words to reach alice');
    const [a, b] = await Promise.all([editorText(alice.page), editorText(bob.page)]);
    assert.equal(a, b, 'both editors converge');
    assert.ok(a.includes('Alice was here. Bob too.') && a.includes('Section 1 written by the model'), 'the people\'s text and the job\'s text both survive');
    await alice.page.locator('.job-history li', { hasText: 'succeeded' }).getByText('model calls').waitFor();
    await app.screenshot(alice.page, 'web-app');

    // A second job whose sections are held: Stop cancels it before they are written.
    await alice.page.locator('textarea[name=topic]').fill('HOLD this one');
    await alice.page.getByRole('button', { name: 'Generate' }).click();
    await waitForText(bob.page, (t) => t.includes('# HOLD this one'), 'the second job to write its title');
    await waitFor(() => app.model.calls.some((c) => c.outcome === 'in-flight' && JSON.stringify(c.request.messages).includes('HOLD')), { what: 'a held section call' });
    await alice.page.locator('[data-action=cancel-job]').click();
    await alice.page.locator('[data-job-status=cancelled]').waitFor({ timeout: 30_000 });
    releaseHeld();
    // The job is over (cancelled is terminal), so nothing of its held sections can arrive any more.
    const jobs = await alice.page.locator('.job-history li').count();
    assert.equal(jobs, 2, 'the history lists both jobs');
    assert.ok(!(await editorText(alice.page)).includes('HELD SECTION TEXT'), 'the cancelled job wrote no section');
    await app.screenshot(alice.page, 'web-app-cancelled');
  });

  it('edits made offline survive a reload and arrive after reconnecting', async () => {
    await bob.context.setOffline(true);
    await bob.page.locator('.connection[data-state=offline]').waitFor();
    await bob.page.locator('.ProseMirror').click();
    await bob.page.keyboard.press('Control+End');
    await bob.page.keyboard.type(' Written offline.');
    await bob.page.locator('.connection[data-pending=true]').waitFor();
    await app.screenshot(bob.page, 'web-app-offline');
    // Reloading while offline fails: the edits now live only in the browser's storage.
    await assert.rejects(bob.page.reload(), /ERR_INTERNET_DISCONNECTED/);
    await bob.context.setOffline(false);
    await bob.page.goto(`${app.loom.httpUrl}/#/doc/${encodeURIComponent(docId)}`);
    await app.signIn(bob, 'login');
    await bob.page.locator('.connection[data-state=connected]').waitFor();
    await waitForText(alice.page, (t) => t.endsWith('Written offline.'), 'bob\'s offline edit to reach alice after he reconnected');
    await waitForText(bob.page, (t) => t === '' ? false : t.endsWith('Written offline.'), 'bob to keep his edit');
    assert.equal(await editorText(bob.page), await editorText(alice.page), 'both editors converge');
  });

  it('a job whose model no worker serves says so in the app, and goes on when a worker starts', async () => {
    await app.worker.stop();
    await alice.page.locator('textarea[name=topic]').fill('Nobody home');
    await alice.page.locator('input[name=sections]').fill('1');
    await alice.page.getByRole('button', { name: 'Generate' }).click();
    const waiting = alice.page.locator('[data-status-detail=waiting-for-worker]');
    await waiting.waitFor({ timeout: 30_000 });
    assert.match(await waiting.innerText(), /nothing serves model web-test-model/);
    await app.screenshot(alice.page, 'web-app-waiting-for-worker');
    await app.worker.start();
    await waitForText(alice.page, (t) => t.includes('# Nobody home'), 'the job to go on once a worker serves its model', 60_000);
    await waiting.waitFor({ state: 'detached', timeout: 30_000 });
  });

  it("'Revert this AI's edits' removes one job's text from every editor and keeps everyone else's", async () => {
    // Newest first: the last row is the first job (Tide pools).
    await alice.page.locator('.job-history li').last().getByRole('button', { name: "Revert this AI's edits" }).click();
    for (const person of [alice, bob]) {
      await waitForText(person.page, (t) => !t.includes('# Tide pools') && !t.includes('Section 2 written by the model'), `the first job's text to leave ${person.email}'s editor`);
    }
    const text = await editorText(alice.page);
    assert.ok(text.includes('Alice was here. Bob too.') && text.includes('Written offline.') && text.includes('# Nobody home\n\n## Part 1\n\nSection 1 written by the model'), `the people's and the other jobs' text stays: ${JSON.stringify(text)}`);
    await alice.page.locator('#notice', { hasText: 'Reverted' }).waitFor();
  });

  it('the agent panel chats with an agent session attached to the document', async () => {
    await alice.page.locator('input[name=message]').fill('Hello agent, what is this document about?');
    await alice.page.locator('[data-panel=agent]').getByRole('button', { name: 'Send' }).click();
    await alice.page.locator('.chat-user', { hasText: 'Hello agent' }).waitFor();
    // The fake model answers an agent's turn with an echo of the person's message.
    await alice.page.locator('.chat-assistant', { hasText: 'echo: Hello agent' }).waitFor({ timeout: 60_000 });
    await alice.page.getByRole('button', { name: "Revert agent's edits" }).waitFor();
  });

  it('the versions panel lists stored versions and restores one for everyone', async () => {
    const panel = alice.page.locator('[data-panel=versions]');
    await waitFor(async () => {
      await panel.getByRole('button', { name: 'Refresh' }).click();
      return (await panel.getByRole('button', { name: 'Restore' }).count()) > 0;
    }, { what: 'a stored version to restore', timeoutMs: 30_000, intervalMs: 500 });
    alice.page.once('dialog', (dialog) => void dialog.accept());
    await panel.getByRole('button', { name: 'Restore' }).last().click();
    await alice.page.locator('#notice.info', { hasText: /Version restored|already matches/ }).waitFor();
    await waitFor(async () => (await editorText(alice.page)) === (await editorText(bob.page)), { what: 'both editors to converge after the restore', intervalMs: 200 });
  });
});
