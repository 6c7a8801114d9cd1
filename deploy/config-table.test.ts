/**
 * The README's configuration table and ENV_SCHEMA in src/config.ts must list
 * the same variables, each once: the table is how an operator learns what a
 * deployment may set, and deploy.test.ts lets manifests set only ENV_SCHEMA keys.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import { ENV_SCHEMA } from '../src/config.ts';
import { REPO_ROOT } from './manifests.ts';

const SECTION = '## Configuration';

/** The variable of each row (`| \`NAME\` | …`) of the README section "Configuration". */
function tableVariables(readme: string): string[] {
  const start = readme.indexOf(`\n${SECTION}\n`);
  assert.notEqual(start, -1, `README.md has no "${SECTION}" section`);
  const rest = readme.slice(start + SECTION.length + 2);
  const end = rest.search(/^## /m);
  const section = end === -1 ? rest : rest.slice(0, end);
  return [...section.matchAll(/^\| `([A-Z][A-Z0-9_]*)` \|/gm)].map((row) => row[1] ?? '');
}

it('the README configuration table and ENV_SCHEMA list the same variables, each once', () => {
  const rows = tableVariables(readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8'));
  const schema = Object.keys(ENV_SCHEMA.shape);
  const problems = [
    ...schema.filter((k) => !rows.includes(k)).map((k) => `${k}: in ENV_SCHEMA (src/config.ts) but not in README.md "${SECTION}"`),
    ...rows.filter((r) => !schema.includes(r)).map((r) => `${r}: in README.md "${SECTION}" but not in ENV_SCHEMA`),
    ...rows.filter((r, i) => rows.indexOf(r) !== i).map((r) => `${r}: listed twice in README.md "${SECTION}"`),
  ];
  assert.equal(problems.length, 0, `configuration table and schema disagree:\n  - ${problems.join('\n  - ')}`);
});
