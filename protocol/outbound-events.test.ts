/**
 * The hand check of outbound events agrees with the zod schema it stands in
 * for, on valid events and on each way an event can break the contract.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { outboundEventFault, outboundEventSchema, type OutboundEvent } from './outbound-events.ts';

const valid: OutboundEvent = {
  id: 'evt_0123456789abcdef0123456789abcdef',
  type: 'job.step.succeeded',
  timestamp: '2026-12-07T09:30:00.123Z',
  ownerIds: ['user-1'],
  orderKey: 'job:j1',
  data: { jobId: 'j1', step: 'fetch', attempt: 1 },
};

const variants: Array<[string, unknown]> = [
  ['valid', valid],
  ['no milliseconds', { ...valid, timestamp: '2026-12-07T09:30:00Z' }],
  ['no seconds', { ...valid, timestamp: '2026-12-07T09:30Z' }],
  ['custom type', { ...valid, type: 'discovery.completed' }],
  ['empty data', { ...valid, data: {} }],
  ['1,000 owners', { ...valid, ownerIds: Array.from({ length: 1_000 }, (_, i) => `u${i}`) }],
  ['extra key', { ...valid, extra: 1 }],
  ['empty id', { ...valid, id: '' }],
  ['long id', { ...valid, id: 'x'.repeat(201) }],
  ['id not a string', { ...valid, id: 7 }],
  ['type with capitals', { ...valid, type: 'Job.Done' }],
  ['one-word type', { ...valid, type: 'job' }],
  ['timestamp with offset', { ...valid, timestamp: '2026-12-07T09:30:00+01:00' }],
  ['timestamp on February 30', { ...valid, timestamp: '2026-02-30T09:30:00Z' }],
  ['timestamp a number', { ...valid, timestamp: 1 }],
  ['no owners', { ...valid, ownerIds: [] }],
  ['1,001 owners', { ...valid, ownerIds: Array.from({ length: 1_001 }, (_, i) => `u${i}`) }],
  ['empty owner', { ...valid, ownerIds: [''] }],
  ['owners not an array', { ...valid, ownerIds: 'user-1' }],
  ['empty orderKey', { ...valid, orderKey: '' }],
  ['data an array', { ...valid, data: [1] }],
  ['data null', { ...valid, data: null }],
  ['data a Date', { ...valid, data: new Date(0) }],
  ['data a Map', { ...valid, data: new Map() }],
  ['data missing', { ...valid, data: undefined }],
];

test('the hand check accepts and refuses what the schema does', () => {
  for (const [name, event] of variants) {
    const schemaOk = outboundEventSchema.safeParse(event).success;
    const fault = outboundEventFault(event as OutboundEvent);
    assert.equal(fault === null, schemaOk, `${name}: schema ${schemaOk ? 'accepts' : 'refuses'}, hand check says ${fault ?? 'ok'}`);
  }
});
