/**
 * Rendering stays what it was for ordinary templates, and a template that
 * asks for more than TEMPLATE_LIMITS (sections nested over large arrays, or
 * text repeated past megabytes) stops with TemplateBudgetError instead of
 * holding the actor host. The over-budget cases finish in about a second
 * without the limits too, so a missing limit fails the assertion, not CI's patience.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderMapping, renderTemplate, TEMPLATE_LIMITS, TemplateBudgetError } from './templates.ts';

const isBudget = (what: RegExp) => (err: unknown) => err instanceof TemplateBudgetError && what.test(err.message);

test('templates render as before: values as text, non-strings as JSON, sections over arrays, lone tags keep their type', () => {
  const ctx = { input: { topic: 'tides', n: 3, items: [{ name: 'a' }, { name: 'b' }], obj: { k: 1 } } };
  assert.equal(renderTemplate('On {{input.topic}} x{{input.n}} {{input.obj}} <{{#input.items}}{{name}},{{/input.items}}>{{^input.none}}!{{/input.none}}', ctx), 'On tides x3 {"k":1} <a,b,>!');
  assert.deepEqual(renderMapping({ list: '{{input.items}}', text: 'n={{input.n}}', nested: ['{{input.obj.k}}', 7] }, ctx), { list: ctx.input.items, text: 'n=3', nested: [1, 7] });
});

test('sections nested over a large array stop at the budget', () => {
  const items = Array.from({ length: 200 }, (_, i) => i);
  const nested = '{{#input.items}}{{#input.items}}{{#input.items}}x{{/input.items}}{{/input.items}}{{/input.items}}';
  assert.throws(() => renderTemplate(nested, { input: { items } }), isBudget(/section passes|characters/));
  // Nothing produced at all: the passes alone are bounded.
  const empty = '{{#input.items}}{{#input.items}}{{#input.items}}{{/input.items}}{{/input.items}}{{/input.items}}';
  assert.throws(() => renderTemplate(empty, { input: { items: items.slice(0, 60) } }), isBudget(new RegExp(`passed ${TEMPLATE_LIMITS.maxSectionPasses} section passes`)));
});

test('text past the character budget stops, and a mapping shares one budget across its strings', () => {
  const big = 'x'.repeat(700 * 1024);
  assert.equal(renderTemplate('{{input.big}}{{input.big}}', { input: { big } }).length, 1_400 * 1024);
  assert.throws(() => renderTemplate('{{input.big}}{{input.big}}{{input.big}}{{input.big}}', { input: { big } }), isBudget(/more than 2097152 characters/));
  assert.throws(() => renderMapping({ a: 'a{{input.big}}', b: 'b{{input.big}}', c: 'c{{input.big}}', d: 'd{{input.big}}' }, { input: { big } }), isBudget(/characters/));
  // A lone tag passes the value itself along: nothing is rendered, nothing counted.
  assert.deepEqual(renderMapping(['{{input.big}}', '{{input.big}}', '{{input.big}}', '{{input.big}}'], { input: { big } }), [big, big, big, big]);
});

test('a render after one that ran out starts with a fresh budget', () => {
  const items = Array.from({ length: 200 }, (_, i) => i);
  assert.throws(() => renderTemplate('{{#i}}{{#i}}{{#i}}x{{/i}}{{/i}}{{/i}}', { i: items }), TemplateBudgetError);
  assert.equal(renderTemplate('{{#i}}.{{/i}}', { i: items }).length, 200);
});
