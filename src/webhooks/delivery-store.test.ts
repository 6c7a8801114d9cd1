/**
 * DeliveryStore's intake write on a real PostgreSQL 15 and on PGlite: the
 * deliveries and the cursor's advance are one compare-and-set, so an intake
 * whose cursor is stale writes nothing, and an event recorded twice adds no
 * second delivery.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { eq } from 'drizzle-orm';
import type { Database } from '../storage/postgres/database.ts';
import { testDatabases } from '../testing/test-databases.ts';
import { webhookDeliveries, webhookEndpoints } from '../storage/postgres/webhooks-schema.ts';
import { DeliveryStore, type NewDelivery } from './delivery-store.ts';

for (const [driver, open] of Object.entries(testDatabases())) {
  describe(`DeliveryStore intake on ${driver}`, () => {
    let db: Database;
    let store: DeliveryStore;
    const endpointId = randomUUID();
    const stream = `stream-${randomUUID()}`;
    const delivery = (eventId: string, eventSeq: number): NewDelivery => ({
      id: randomUUID(),
      endpointId,
      eventId,
      eventType: 'job.succeeded',
      orderKey: 'job:1',
      eventSeq,
      body: `{"type":"job.succeeded","n":${eventSeq}}`,
    });
    const recorded = async () =>
      (await db.db.select({ eventId: webhookDeliveries.eventId }).from(webhookDeliveries).where(eq(webhookDeliveries.endpointId, endpointId)).orderBy(webhookDeliveries.eventSeq)).map((r) => r.eventId);

    it('migrates from empty', async () => {
      db = await open();
      await db.migrate();
      store = new DeliveryStore(db.db);
      await db.db.insert(webhookEndpoints).values({ id: endpointId, ownerId: randomUUID(), url: 'https://hooks.example.com/x', events: ['job.*'], secret: 'sealed' });
    });

    it('the first record creates the cursor; a second "first" record is refused and writes nothing', async () => {
      assert.equal(await store.recordIntake(stream, 0, 5, [delivery('evt_a', 5)]), true);
      assert.equal(await store.intakeCursor(stream), 5);
      assert.equal(await store.recordIntake(stream, 0, 7, [delivery('evt_b', 7)]), false);
      assert.equal(await store.intakeCursor(stream), 5);
      assert.deepEqual(await recorded(), ['evt_a']);
    });

    it('a record from a stale cursor is refused and writes nothing', async () => {
      assert.equal(await store.recordIntake(stream, 3, 9, [delivery('evt_b', 9)]), false);
      assert.equal(await store.intakeCursor(stream), 5);
      assert.deepEqual(await recorded(), ['evt_a']);
    });

    it('a record from the cursor moves it and adds its deliveries, an event already recorded only once', async () => {
      assert.equal(await store.recordIntake(stream, 5, 9, [delivery('evt_a', 5), delivery('evt_b', 9)]), true);
      assert.equal(await store.intakeCursor(stream), 9);
      assert.deepEqual(await recorded(), ['evt_a', 'evt_b']);
      assert.equal(await store.recordIntake(stream, 9, 10, []), true);
      assert.equal(await store.intakeCursor(stream), 10);
    });
  });
}
