/**
 * A real poisoned Yjs update for tests (issue 12, item 4): it decodes, and
 * applying it throws "Unexpected case" after integrating its first struct.
 * Client 0 inserts "ZZ" into root text "t" (clock 0-1), then sets key "q"
 * of a map whose parent id (client 0, clock 12) lies beyond its own clocks.
 * Found by mutating valid updates; the bytes are the v1 encoding by hand:
 * 1 client, 2 structs of client 0 from clock 0; [04: string, parent key
 * "t", "ZZ"]; [28: any with parentSub, parent id 0:12, sub "q", [1]];
 * empty delete set.
 */
export const POISONED_UPDATE = Uint8Array.from(Buffer.from('0102000004010174025a5a2800000c0171017d0100', 'hex'));
/** What the poisoned update integrates into root text "t" before it throws. */
export const POISONED_PREFIX_TEXT = 'ZZ';
