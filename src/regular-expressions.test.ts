/**
 * No regular expression in Loom's production code may backtrack in more
 * than linear time: each one is applied to something a client, a model or
 * a document can make long (headers, answers, document text), and one
 * exponential or polynomial pattern lets a single request hold a process
 * for seconds to hours (a cubic fence parser, a quadratic Origin check and
 * an exponential Content-Type check were found this way). Every regex
 * literal in src/, actors/ and protocol/ (tests and test fixtures aside) is
 * analysed with recheck, as are the patterns built at run time. Only
 * patterns applied to the operator's own configuration may be super-linear,
 * listed below with where they are.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import ts from 'typescript';
import { analysePattern } from '../protocol/schema-patterns.ts';
import { CONTENT_TYPE } from './storage/objects/object-request.ts';

/** file → regex literals allowed there, each applied to configuration only. */
const CONFIGURATION_ONLY: Readonly<Record<string, readonly string[]>> = {
  'src/config.ts': ['/\\/+$/'], // LOOM_PUBLIC_URL
  'src/tracing/tracing.ts': ['/\\/+$/'], // the OTLP endpoint
  'src/storage/objects/gateway-url-signer.ts': ['/\\/+$/'], // the configured public base URL
};

function productionSources(): string[] {
  const listed = execFileSync('git', ['ls-files', 'src', 'actors', 'protocol'], { encoding: 'utf8' }).split('\n');
  return listed.filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.startsWith('src/testing/') && !f.startsWith('src/integration/'));
}

function regexLiterals(file: string): { text: string; line: number }[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: { text: string; line: number }[] = [];
  const visit = (node: ts.Node): void => {
    if (node.kind === ts.SyntaxKind.RegularExpressionLiteral) found.push({ text: node.getText(source), line: source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1 });
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

test('every regular expression literal in production code matches in linear time', () => {
  const files = productionSources();
  assert.ok(files.length > 100, `found ${files.length} source files`);
  const faults: string[] = [];
  let checked = 0;
  for (const file of files) {
    for (const { text, line } of regexLiterals(file)) {
      checked += 1;
      if (CONFIGURATION_ONLY[file]?.includes(text)) continue;
      const end = text.lastIndexOf('/');
      // g and y change where matching starts, not how it backtracks.
      // Loom's own code: no time pressure, and a slow verdict is not a refusal here.
      const reason = analysePattern(text.slice(1, end), text.slice(end + 1).replace(/[gy]/g, ''), 30_000);
      if (reason !== null) faults.push(`${file}:${line} ${text}: ${reason}`);
    }
  }
  assert.ok(checked > 100, `checked ${checked} literals`);
  assert.deepEqual(faults, []);
});

test('patterns built at run time match in linear time too', () => {
  assert.equal(analysePattern(CONTENT_TYPE.source, CONTENT_TYPE.flags, 30_000), null);
});
