/**
 * Finds and launches the machine's Chromium for browser tests through
 * playwright-core (which downloads nothing): Debian's `chromium` package, as
 * `.ci/run` installs it. Headless, no sandbox (CI runs as root), and none of
 * Chromium's own network chatter, so a test sees only its own traffic.
 */
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Where Debian, Ubuntu and Chrome put the browser, real binary before wrapper scripts. */
const CANDIDATES = ['/usr/lib/chromium/chromium', '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome', '/usr/bin/google-chrome-stable'];

const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'];

/** The first Chromium found, or null (browser tests then skip, saying so). */
export function findChromium(): string | null {
  return CANDIDATES.find((p) => existsSync(p)) ?? null;
}

/**
 * Launches headless Chromium with a fresh profile (playwright-core makes a
 * temporary user-data dir per launch and removes it on close).
 * @throws Error when `executablePath` does not start.
 */
export function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({ executablePath, headless: true, args: ARGS, timeout: 60_000 });
}
