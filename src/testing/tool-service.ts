/**
 * A stand-alone internal service that offers agent tools over NATS the way
 * any service would: a plain NATS connection and @nats-io/services, no Loom
 * code beyond the documented metadata keys. Tests run it as a child process
 * (`node --import tsx src/testing/tool-service.ts <nats-url> <name-prefix>`)
 * and read its stdout: `tool service ready`, then `tool-call <tool> <callId>`
 * per call received. Tools (names prefixed):
 * - `lookup` {query}: answers `{"answer","callId","owner"}` from the call's headers
 * - `slow` (timeout_ms 300): receives calls and never answers
 * - `broken`: answers every call with a service error (500)
 * - `malformed`: an announcement whose schema is not JSON (must be ignored)
 * and a plain endpoint `counts` (no tool metadata) answering how many
 * times each call id reached it, for exactly-once checks.
 */
import { Svcm, type ServiceMsg } from '@nats-io/services';
import { connect } from '@nats-io/transport-node';
import { SERVICE_TOOL_HEADERS, SERVICE_TOOL_METADATA as K } from '../../protocol/agent-tools.ts';

const [natsUrl, prefix = ''] = process.argv.slice(2);
if (natsUrl === undefined) throw new Error('usage: tool-service.ts <nats-url> [name-prefix]');

const nc = await connect({ servers: natsUrl });
const counts = new Map<string, number>();
const seen = (tool: string, msg: ServiceMsg) => {
  const callId = msg.headers?.get(SERVICE_TOOL_HEADERS.callId) ?? '';
  counts.set(callId, (counts.get(callId) ?? 0) + 1);
  process.stdout.write(`tool-call ${tool} ${callId}\n`);
  return callId;
};
const objectSchema = (properties: Record<string, unknown>, required: string[]) => JSON.stringify({ type: 'object', properties, required, additionalProperties: false });

const service = await new Svcm(nc).add({ name: `${prefix}tool-service`, version: '1.0.0', description: 'agent tools for tests' });
const tools = service.addGroup(`${prefix}tools`);

tools.addEndpoint('lookup', {
  metadata: {
    [K.name]: `${prefix}lookup`,
    [K.description]: 'Looks up an answer',
    [K.schema]: objectSchema({ query: { type: 'string', minLength: 1 } }, ['query']),
  },
  handler: (err, msg) => {
    if (err !== null) return;
    const callId = seen('lookup', msg);
    const { query } = msg.json<{ query: string }>();
    msg.respond(JSON.stringify({ answer: `answer to ${query}`, callId, owner: msg.headers?.get(SERVICE_TOOL_HEADERS.ownerId) ?? '' }));
  },
});

tools.addEndpoint('slow', {
  metadata: {
    [K.name]: `${prefix}slow`,
    [K.description]: 'Never answers in time',
    [K.schema]: objectSchema({}, []),
    [K.timeoutMs]: '300',
  },
  handler: (err, msg) => {
    if (err === null) seen('slow', msg);
  },
});

tools.addEndpoint('broken', {
  metadata: { [K.name]: `${prefix}broken`, [K.description]: 'Always fails', [K.schema]: objectSchema({}, []), [K.needsApproval]: 'false' },
  handler: (err, msg) => {
    if (err !== null) return;
    seen('broken', msg);
    msg.respondError(500, 'the backend is down');
  },
});

tools.addEndpoint('malformed', {
  metadata: { [K.name]: `${prefix}malformed`, [K.description]: 'Bad schema', [K.schema]: '{not json' },
  handler: (err, msg) => {
    if (err === null) msg.respond('never offered');
  },
});

tools.addEndpoint('counts', {
  handler: (err, msg) => {
    if (err === null) msg.respond(JSON.stringify(Object.fromEntries(counts)));
  },
});

process.stdout.write('tool service ready\n');
process.once('SIGTERM', () => {
  void service.stop().then(() => nc.close());
});
