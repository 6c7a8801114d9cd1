import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseHeir, type Candidate } from './heir.ts';

const at = (minute: number) => new Date(Date.UTC(2026, 0, 1, 0, minute));
const leaving = 'u-leaving';

describe('chooseHeir', () => {
  it('prefers the longest-standing other owner over any editor', () => {
    const members: Candidate[] = [
      { userId: leaving, role: 'owner', addedAt: at(0) },
      { userId: 'editor-early', role: 'editor', addedAt: at(1) },
      { userId: 'owner-late', role: 'owner', addedAt: at(5) },
      { userId: 'owner-early', role: 'owner', addedAt: at(3) },
    ];
    assert.equal(chooseHeir(members, leaving), 'owner-early');
  });

  it('falls back to the longest-standing editor', () => {
    const members: Candidate[] = [
      { userId: leaving, role: 'owner', addedAt: at(0) },
      { userId: 'viewer', role: 'viewer', addedAt: at(1) },
      { userId: 'editor-late', role: 'editor', addedAt: at(4) },
      { userId: 'editor-early', role: 'editor', addedAt: at(2) },
    ];
    assert.equal(chooseHeir(members, leaving), 'editor-early');
  });

  it('names nobody when only viewers (or nobody) remain, so the document is deleted', () => {
    assert.equal(chooseHeir([{ userId: leaving, role: 'owner', addedAt: at(0) }, { userId: 'v', role: 'viewer', addedAt: at(1) }], leaving), null);
    assert.equal(chooseHeir([{ userId: leaving, role: 'owner', addedAt: at(0) }], leaving), null);
  });

  it('breaks ties on the same instant by user id, so every process picks the same heir', () => {
    const members: Candidate[] = [
      { userId: 'b', role: 'editor', addedAt: at(1) },
      { userId: 'a', role: 'editor', addedAt: at(1) },
    ];
    assert.equal(chooseHeir(members, leaving), 'a');
  });
});
