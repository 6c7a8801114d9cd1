/**
 * A Loom for browser tests: real nats-server and PostgreSQL, the fake model
 * server, one Loom process with every role (members-only documents, as
 * `npm start` runs), and headless Chromium with one context per person.
 * Screenshots go to $LOOM_SCREENSHOT_DIR when set (README's picture), else
 * to the fixture's temp dir.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from './browser.ts';
import {
  startFakeModelServer,
  startLoomProcess,
  startNatsServer,
  startPostgresServer,
  waitFor,
  type FakeModelServerOptions,
  type FakeModelServer,
  type LoomProcess,
  type NatsServerHandle,
  type PostgresServerHandle,
} from './index.ts';

export const WEB_TEST_MODEL = 'web-test-model';
export const PASSWORD = 'correct horse battery staple';

export interface Person {
  readonly email: string;
  readonly context: BrowserContext;
  readonly page: Page;
}

export interface WebAppFixture {
  /** The gateway and actors. */
  readonly loom: LoomProcess;
  /** The inference worker, in its own process so a test can stop it. */
  readonly worker: LoomProcess;
  readonly model: FakeModelServer;
  readonly browser: Browser;
  readonly screenshotDir: string;
  /** A new browser context for a new account, signed up through the app. */
  person(name: string): Promise<Person>;
  /** Signs in on the page (tokens live in memory, so after each reload too). */
  signIn(person: Person, mode: 'login' | 'register'): Promise<void>;
  screenshot(page: Page, name: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startWebApp(opts: { chromium: string; model: FakeModelServerOptions }): Promise<WebAppFixture> {
  const [nats, postgres, model, tempDir] = await Promise.all([
    startNatsServer(),
    startPostgresServer(),
    startFakeModelServer(opts.model),
    mkdtemp(path.join(tmpdir(), 'loom-web-')),
  ]);
  const stops: Array<() => Promise<unknown>> = [() => rm(tempDir, { recursive: true, force: true }), () => model.close(), () => postgres.stop(), () => nats.stop()];
  const stopAll = async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  };
  try {
    const databaseUrl = await postgres.createDatabase();
    const env = {
      LOOM_DOC_ACCESS: 'members',
      OPENAI_BASE_URL: model.baseURL,
      OPENAI_API_KEY: 'test',
      LOOM_DEFAULT_MODEL: WEB_TEST_MODEL,
      LOOM_INFERENCE_MODELS: WEB_TEST_MODEL,
      LOOM_RATE_LOGIN_BURST: '1000',
      LOOM_RATE_API_BURST: '100000',
      LOOM_RATE_API_PER_S: '100000',
      // Versions to show and restore within a test's few dozen edits.
      LOOM_DOC_SNAPSHOT_EVERY_UPDATES: '10',
    };
    const dataDir = path.join(tempDir, 'data');
    const loom = await startLoomProcess({ name: 'web-0', roles: ['gateway', 'actors'], natsUrl: nats.url, databaseUrl, dataDir, env });
    stops.push(() => loom.stop());
    const worker = await startLoomProcess({ name: 'web-worker', roles: ['inference'], natsUrl: nats.url, databaseUrl, dataDir, env });
    // A test may have stopped it already; stopping an ended process only reads its exit.
    stops.push(() => worker.stop());
    const browser = await launchChromium(opts.chromium);
    stops.push(() => browser.close());
    const screenshotDir = process.env['LOOM_SCREENSHOT_DIR'] ?? path.join(tempDir, 'screenshots');
    await mkdir(screenshotDir, { recursive: true });

    const signIn = async (person: Person, mode: 'login' | 'register') => {
      const { page } = person;
      await page.locator('input[name=email]').fill(person.email);
      await page.locator('input[name=password]').fill(PASSWORD);
      await page.getByRole('button', { name: mode === 'login' ? 'Sign in' : 'Create account' }).click();
      await page.locator('#account').getByText(person.email).waitFor();
    };
    return {
      loom,
      worker,
      model,
      browser,
      screenshotDir,
      signIn,
      async person(name) {
        const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
        const page = await context.newPage();
        const person = { email: `${name}-${Math.random().toString(36).slice(2, 8)}@web.test`, context, page };
        await page.goto(loom.httpUrl);
        await signIn(person, 'register');
        return person;
      },
      async screenshot(page, name) {
        const file = path.join(screenshotDir, `${name}.png`);
        await page.screenshot({ path: file });
        return file;
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** The editor's text as the person sees it (paragraphs joined by line breaks), without others' caret labels. */
export function editorText(page: Page): Promise<string> {
  return page.locator('.ProseMirror').evaluate((el) =>
    [...el.querySelectorAll('p')]
      .map((p) => {
        const copy = p.cloneNode(true) as typeof p;
        for (const caret of copy.querySelectorAll('.remote-caret')) caret.remove();
        return copy.textContent ?? '';
      })
      .join('\n'),
  );
}

/** Waits until the person's editor shows text that `until` accepts. */
export function waitForText(page: Page, until: (text: string) => boolean, what: string, timeoutMs = 30_000): Promise<string> {
  return waitFor(async () => {
    const text = await editorText(page);
    // Thrown, so a timeout's cause shows the text last seen.
    if (!until(text)) throw new Error(`the editor shows ${JSON.stringify(text.slice(-400))}`);
    return text;
  }, { what, timeoutMs, intervalMs: 100 });
}
