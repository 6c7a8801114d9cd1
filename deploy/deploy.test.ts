/**
 * Checks the deployment files without a Docker engine or a cluster: the
 * Dockerfile, docker-compose.yml, every YAML file under deploy/, the NATS
 * configs and .ci/run. Loom containers may set only variables src/config.ts
 * declares and their settings must pass loadConfig;
 * ports, probes, entry files, images and the NATS version must agree.
 * Each failure lists every problem with the file and object at fault.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { BUNDLE_ENV, BUNDLE_NODE_ARGS, BUNDLES } from '../scripts/build.ts';
import { ConfigError, ENV_SCHEMA, loadConfig, type Config } from '../src/config.ts';
import { imageName, isObj, listOf, loadManifests, objOf, podSpecOf, REPO_ROOT, type LoomContainer } from './manifests.ts';
import { readNatsConf } from './nats-conf.ts';

/** Production NATS: KV compare-and-set on R3 is atomic from 2.10.19; we require the 2.11 line. */
const MIN_NATS: readonly [number, number] = [2, 11];
/** Room for NATS headers beside the largest WebSocket frame in one message. */
const NATS_HEADER_ROOM_BYTES = 64 * 1024;
const PROBE_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz']);
/** src/main.ts force-exits this long after SIGTERM if draining has not finished. */
const APP_DRAIN_S = 30;
const NATS_DIR = path.join(REPO_ROOT, 'deploy', 'nats');
const CI_RUN = path.join(REPO_ROOT, '.ci', 'run');

const m = loadManifests();
/** Loom's settings, and the C library's memory tuning the image sets for node itself (scripts/build.ts). */
const known: ReadonlySet<string> = new Set([...Object.keys(ENV_SCHEMA.shape), ...Object.keys(BUNDLE_ENV)]);

function expectNone(problems: readonly string[], what: string): void {
  assert.equal(problems.length, 0, `${what}:\n  - ${problems.join('\n  - ')}`);
}

interface Resolved {
  readonly c: LoomContainer;
  readonly config: Config | undefined;
  readonly roles: readonly string[];
  readonly problems: readonly string[];
}

/** Runs a container's effective environment through loadConfig. */
function resolve(c: LoomContainer): Resolved {
  const env: Record<string, string> = {};
  for (const [name, entry] of c.env) if (entry.value !== undefined) env[name] = entry.value;
  const declared = (c.env.get('LOOM_ROLES')?.value ?? '').split(',').map((r) => r.trim()).filter((r) => r !== '');
  try {
    const config = loadConfig(env);
    return { c, config, roles: declared.length > 0 ? declared : config.roles, problems: [] };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const problems = err.problems.map((p) => {
      const name = p.split(':')[0] ?? '';
      return `${c.where}: ${p} (set in ${c.env.get(name)?.where ?? 'unknown'})`;
    });
    return { c, config: undefined, roles: declared, problems };
  }
}

const resolved = m.loom.map(resolve);
const longRunning = (r: Resolved) => r.c.command === undefined;
/** src/roles/index.ts serves /healthz and /readyz on PORT in every role; one-shot commands (migrate) serve nothing. */
const servesHttp = longRunning;
const isGateway = (r: Resolved) => longRunning(r) && r.roles.includes('gateway');

function natsVersion(tag: string): [number, number] | undefined {
  const v = /^v?(\d+)\.(\d+)/.exec(tag);
  return v === null ? undefined : [Number(v[1]), Number(v[2])];
}
/** Compose durations: `40s`, `1m30s`, or a number of seconds. */
function seconds(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v !== 'string') return undefined;
  const parts = [...v.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|ns)/g)];
  const unit: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6, ns: 1e-9 };
  return parts.length === 0 ? undefined : parts.reduce((sum, p) => sum + Number(p[1]) * (unit[p[2] ?? 's'] ?? 1), 0);
}
const atLeast = (v: readonly [number, number], min: readonly [number, number]) => v[0] > min[0] || (v[0] === min[0] && v[1] >= min[1]);

describe('deployment files', () => {
  it('parse as YAML without errors or warnings', () => {
    expectNone(m.yamlErrors, 'YAML problems');
  });

  it('leave nothing this check cannot see', () => {
    expectNone(m.unchecked, 'settings this check cannot follow');
  });

  it('set only variables that ENV_SCHEMA in src/config.ts declares (or the runtime tuning of scripts/build.ts)', () => {
    const problems = m.envSettings
      .filter((s) => !known.has(s.name))
      .map((s) => `${s.where}: ${s.name} is not a key of ENV_SCHEMA in src/config.ts`);
    expectNone(problems, 'unknown environment variables');
  });

  it('give every Loom container settings that pass loadConfig, LOOM_ROLES included', () => {
    expectNone(resolved.flatMap((r) => r.problems), 'settings loadConfig rejects');
  });

  it('name LOOM_ROLES for every long-running Loom container', () => {
    const problems = resolved
      .filter((r) => longRunning(r) && r.c.env.get('LOOM_ROLES') === undefined)
      .map((r) => `${r.c.where}: sets no LOOM_ROLES, so it would run every role`);
    expectNone(problems, 'containers without a role');
  });

  it('bind HTTP-serving containers to all interfaces', () => {
    const problems = resolved
      .filter((r) => servesHttp(r) && ['127.0.0.1', 'localhost', '::1'].includes(r.config?.http.host ?? ''))
      .map((r) => `${r.c.where}: LOOM_HOST=${r.config?.http.host ?? ''} (${r.c.env.get('LOOM_HOST')?.where ?? 'default'}) is unreachable from outside the container`);
    expectNone(problems, 'loopback-bound gateways');
  });

  it('declare container ports equal to PORT, and the Dockerfile EXPOSEs the default PORT', () => {
    const problems: string[] = [];
    for (const r of resolved) {
      const port = r.config?.http.port;
      if (port === undefined) continue;
      for (const p of r.c.ports) if (p.port !== port) problems.push(`${r.c.where}: container port ${p.port} but PORT is ${port}`);
      if (servesHttp(r) && r.c.ports.length === 0) problems.push(`${r.c.where}: serves HTTP on PORT ${port} but declares no port`);
      if (!servesHttp(r) && r.c.ports.length > 0) problems.push(`${r.c.where}: declares ports but runs a one-shot command that serves no HTTP`);
    }
    const imagePort = loadConfig(Object.fromEntries(m.dockerfile.env)).http.port;
    if (m.dockerfile.expose.join() !== String(imagePort)) problems.push(`Dockerfile: EXPOSE ${m.dockerfile.expose.join(' ')} but the image's PORT is ${imagePort}`);
    expectNone(problems, 'port mismatches');
  });

  it('route every Kubernetes Service to a pod template and a declared container port', () => {
    const problems: string[] = [];
    for (const svc of m.k8s.filter((d) => d.kind === 'Service')) {
      const selector = Object.entries(objOf(objOf(svc.doc.spec).selector));
      const pods = m.k8s
        .map((d) => ({ d, pod: podSpecOf(d.doc), labels: objOf(objOf(objOf(objOf(d.doc.spec).template).metadata).labels) }))
        .filter((x) => x.pod !== undefined && selector.length > 0 && selector.every(([k, v]) => x.labels[k] === v));
      const where = `${svc.file} Service/${svc.name}`;
      if (pods.length === 0) problems.push(`${where}: selector ${JSON.stringify(Object.fromEntries(selector))} matches no pod template`);
      const ports = pods.flatMap((x) => listOf(x.pod?.containers).flatMap((c) => listOf(objOf(c).ports).map(objOf)));
      for (const sp of listOf(objOf(svc.doc.spec).ports).map(objOf)) {
        const target = sp.targetPort ?? sp.port;
        if (!ports.some((p) => p.name === target || p.containerPort === target)) problems.push(`${where}: targetPort ${String(target)} is no container port of the pods it selects`);
      }
    }
    expectNone(problems, 'Services that reach nothing');
  });

  it('probe /healthz for liveness and /readyz for readiness', () => {
    const problems: string[] = [];
    if (!/\/healthz\b/.test(m.dockerfile.healthcheck ?? '')) problems.push(`Dockerfile: HEALTHCHECK does not request /healthz (${m.dockerfile.healthcheck ?? 'missing'})`);
    for (const r of resolved) {
      const http = servesHttp(r);
      for (const p of r.c.probes) {
        if (p.path === undefined) continue;
        if (!http) problems.push(`${r.c.where}: ${p.kind} requests ${p.path} but this container serves no HTTP`);
        if (!PROBE_PATHS.has(p.path)) problems.push(`${r.c.where}: ${p.kind} requests ${p.path}; Loom serves /healthz and /readyz`);
        const portOk = r.c.ports.some((cp) => cp.name === p.port || String(cp.port) === p.port);
        if (!portOk) problems.push(`${r.c.where}: ${p.kind} targets port ${p.port ?? '(none)'}, not a declared container port`);
      }
      if (r.c.platform === 'k8s' && longRunning(r)) {
        const probePath = (kind: string) => r.c.probes.find((p) => p.kind === kind)?.path;
        if (probePath('livenessProbe') !== '/healthz') problems.push(`${r.c.where}: livenessProbe must GET /healthz (has ${probePath('livenessProbe') ?? 'none'})`);
        if (probePath('readinessProbe') !== '/readyz') problems.push(`${r.c.where}: readinessProbe must GET /readyz (has ${probePath('readinessProbe') ?? 'none'})`);
        const startup = probePath('startupProbe');
        if (startup !== undefined && startup !== '/healthz') problems.push(`${r.c.where}: startupProbe must GET /healthz (has ${startup})`);
      }
      // The image's HEALTHCHECK asks for /healthz: a compose service without HTTP must switch it off.
      if (r.c.platform === 'compose' && !http && objOf(r.c.spec.healthcheck).disable !== true) {
        problems.push(`${r.c.where}: serves no HTTP, so the image's /healthz HEALTHCHECK would mark it unhealthy; set healthcheck.disable: true`);
      }
    }
    expectNone(problems, 'probe problems');
  });

  it(`give every role time to drain on SIGTERM (src/main.ts allows itself ${APP_DRAIN_S} s), gateways after a preStop delay`, () => {
    const problems: string[] = [];
    for (const r of resolved.filter(longRunning)) {
      if (r.c.platform === 'compose') {
        const grace = seconds(r.c.spec.stop_grace_period) ?? 10;
        if (grace <= APP_DRAIN_S) problems.push(`${r.c.where}: stop_grace_period ${grace} s would SIGKILL before the ${APP_DRAIN_S} s drain ends`);
        continue;
      }
      const preStop = objOf(objOf(r.c.container.lifecycle).preStop);
      const argv = listOf(objOf(preStop.exec).command).map(String);
      const delay = argv[0] === 'sleep' ? Number(argv[1]) : Number(objOf(preStop.sleep).seconds ?? 0);
      const grace = Number(r.c.spec.terminationGracePeriodSeconds ?? 30);
      if (isGateway(r) && !(delay > 0)) problems.push(`${r.c.where}: lifecycle.preStop should sleep a few seconds so the Service stops routing before SIGTERM`);
      if (!(grace > delay + APP_DRAIN_S)) problems.push(`${r.c.where}: terminationGracePeriodSeconds ${grace} is not more than the ${delay} s preStop plus the ${APP_DRAIN_S} s drain`);
    }
    expectNone(problems, 'containers that cannot drain');
  });

  it('start entry files that exist, or that the image builds from sources that exist', () => {
    const problems: string[] = [];
    const buildsBundles = m.dockerfile.run.some((r) => r.includes('scripts/build.ts'));
    const check = (argv: readonly string[] | undefined, where: string) => {
      for (const arg of argv ?? []) {
        if (!/\.(ts|js|mjs)$/.test(arg)) continue;
        const source = BUNDLES[arg];
        if (arg.startsWith('dist/')) {
          if (source === undefined) problems.push(`${where}: runs ${arg}, which scripts/build.ts does not build`);
          else if (!existsSync(path.join(REPO_ROOT, source))) problems.push(`${where}: runs ${arg}, built from ${source}, which does not exist`);
          else if (!buildsBundles) problems.push(`${where}: runs ${arg}, but the Dockerfile never RUNs scripts/build.ts`);
        } else if (!existsSync(path.join(REPO_ROOT, arg))) problems.push(`${where}: runs ${arg}, which does not exist`);
      }
    };
    if (m.dockerfile.cmd?.[0] !== 'node') problems.push(`Dockerfile: CMD should be exec form starting with node (is ${JSON.stringify(m.dockerfile.cmd)})`);
    check(m.dockerfile.cmd, 'Dockerfile CMD');
    for (const c of m.loom) check(c.command, c.where);
    expectNone(problems, 'missing entry files');
  });

  it('run the bundle as `npm start` does, with the same memory tuning', () => {
    const problems: string[] = [];
    const expectedCmd = ['node', ...BUNDLE_NODE_ARGS, 'dist/main.js'];
    if (JSON.stringify(m.dockerfile.cmd) !== JSON.stringify(expectedCmd)) problems.push(`Dockerfile: CMD is ${JSON.stringify(m.dockerfile.cmd)}, expected ${JSON.stringify(expectedCmd)}`);
    for (const [name, value] of Object.entries(BUNDLE_ENV)) {
      if (m.dockerfile.env.get(name) !== value) problems.push(`Dockerfile: ENV ${name} is ${m.dockerfile.env.get(name) ?? 'unset'}, expected ${value}`);
    }
    const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts?: Record<string, string> };
    const envText = Object.entries(BUNDLE_ENV).map(([name, value]) => `${name}=${value}`).join(' ');
    const expectedStart = `${envText} exec node ${BUNDLE_NODE_ARGS.join(' ')} dist/main.js`;
    if (pkg.scripts?.start !== expectedStart) problems.push(`package.json: start is ${JSON.stringify(pkg.scripts?.start)}, expected ${JSON.stringify(expectedStart)}`);
    if (!(pkg.scripts?.prestart ?? '').includes('build')) problems.push('package.json: prestart does not build the bundle');
    expectNone(problems, 'launch differences between npm start and the image');
  });

  it('run Loom as a non-root user', () => {
    const problems: string[] = [];
    const user = m.dockerfile.user ?? 'root';
    if (['root', '0'].includes(user.split(':')[0] ?? '')) problems.push(`Dockerfile: USER is ${user}`);
    for (const c of m.loom.filter((x) => x.platform === 'k8s')) {
      const runAsUser = objOf(c.container.securityContext).runAsUser ?? objOf(c.spec.securityContext).runAsUser;
      if (runAsUser === 0) problems.push(`${c.where}: runAsUser 0`);
    }
    expectNone(problems, 'root containers');
  });

  it('make compose depends_on name existing services, in states they can reach', () => {
    const problems: string[] = [];
    const services = m.compose.services;
    const conditions = new Set(['service_started', 'service_healthy', 'service_completed_successfully']);
    for (const [name, service] of Object.entries(services)) {
      const deps = service.depends_on;
      const entries: [string, string][] = Array.isArray(deps)
        ? deps.map((d) => [String(d), 'service_started'])
        : Object.entries(objOf(deps)).map(([d, v]) => [d, String(objOf(v).condition ?? 'service_started')]);
      for (const [dep, condition] of entries) {
        const where = `docker-compose.yml services.${name}.depends_on.${dep}`;
        const target = services[dep];
        if (target === undefined) {
          problems.push(`${where}: no service named ${dep}`);
          continue;
        }
        if (!conditions.has(condition)) problems.push(`${where}: unknown condition ${condition}`);
        const hasCheck = isObj(target.healthcheck) ? target.healthcheck.disable !== true : target.build !== undefined && m.dockerfile.healthcheck !== undefined;
        if (condition === 'service_healthy' && !hasCheck) problems.push(`${where}: waits for healthy, but ${dep} has no healthcheck`);
        if (condition === 'service_completed_successfully' && ['always', 'unless-stopped'].includes(String(target.restart))) {
          problems.push(`${where}: waits for ${dep} to complete, but it restarts (${String(target.restart)})`);
        }
      }
    }
    expectNone(problems, 'broken depends_on');
  });

  it('pin every image to a version, never latest', () => {
    const problems = m.images.flatMap(({ image, where }) => {
      const [nameAndTag = '', digest] = image.split('@');
      const tag = nameAndTag.split('/').pop()?.split(':')[1];
      if (digest !== undefined) return [];
      if (tag === undefined || tag === '') return [`${where}: ${image || '(empty)'} has no tag`];
      return tag === 'latest' ? [`${where}: ${image} uses latest`] : [];
    });
    expectNone(problems, 'unpinned images');
  });

  it(`run NATS ${MIN_NATS.join('.')} or newer, and say so in its config`, () => {
    const problems: string[] = [];
    for (const { image, where } of m.images.filter((i) => imageName(i.image) === 'nats')) {
      const version = natsVersion(image.split('@')[0]?.split(':')[1] ?? '');
      if (version === undefined) problems.push(`${where}: ${image} names no NATS version`);
      else if (!atLeast(version, MIN_NATS)) problems.push(`${where}: ${image} is older than NATS ${MIN_NATS.join('.')}`);
    }
    const conf = readFileSync(path.join(NATS_DIR, 'nats-server.conf'), 'utf8');
    if (!conf.includes(`${MIN_NATS.join('.')}`)) problems.push(`deploy/nats/nats-server.conf: does not name the required version ${MIN_NATS.join('.')}`);
    expectNone(problems, 'NATS version problems');
  });

  it('enable JetStream with a store dir, and size max_payload for the largest frame', () => {
    const problems: string[] = [];
    const conf = readNatsConf(readFileSync(path.join(NATS_DIR, 'nats-server.conf'), 'utf8'));
    const where = 'deploy/nats/nats-server.conf';
    if (!conf.hasJetStream) problems.push(`${where}: no jetstream block`);
    if (conf.storeDir === undefined) problems.push(`${where}: jetstream has no store_dir`);
    const payload = conf.maxPayloadBytes ?? 1_048_576;
    for (const r of resolved) {
      const frame = r.config?.gateway.maxFrameBytes;
      if (frame !== undefined && payload < frame + NATS_HEADER_ROOM_BYTES) {
        problems.push(`${where}: max_payload ${payload} B cannot carry a ${frame} B frame plus headers (LOOM_WS_MAX_FRAME_BYTES of ${r.c.where})`);
      }
    }
    expectNone(problems, 'NATS config problems');
  });

  it('keep secrets out of Kubernetes manifests: DATABASE_URL and API keys come from Secrets', () => {
    const problems: string[] = [];
    for (const c of m.loom.filter((x) => x.platform === 'k8s')) {
      for (const [name, entry] of c.env) {
        if ((name === 'DATABASE_URL' || name.endsWith('_API_KEY')) && entry.value !== undefined) problems.push(`${entry.where}: ${name} is a literal; use secretKeyRef`);
      }
    }
    expectNone(problems, 'secrets in manifests');
  });

  it('keep node_modules and .git out of the Docker build context', () => {
    const ignored = readFileSync(path.join(REPO_ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
    const missing = ['node_modules', '.git'].filter((p) => !ignored.includes(p));
    expectNone(missing.map((p) => `.dockerignore: does not list ${p}`), 'build context problems');
  });
});

describe('deploy/nats configs on the local nats-server', () => {
  const probe = spawnSync('nats-server', ['--version'], { encoding: 'utf8' });
  const local = natsVersion(/v(\d+\.\d+)/.exec(probe.stdout ?? '')?.[1] ?? '');
  const skip = probe.error !== undefined || local === undefined ? 'no nats-server on PATH' : false;

  it('pass `nats-server -t` (keys newer than the local server dropped)', { skip }, (t) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'loom-nats-conf-'));
    try {
      const files = readdirSync(NATS_DIR).filter((f) => f.endsWith('.conf'));
      for (const f of files) {
        let text = readFileSync(path.join(NATS_DIR, f), 'utf8');
        if (local !== undefined && !atLeast(local, [2, 10])) {
          t.diagnostic(`local nats-server ${local.join('.')} < 2.10: checking ${f} without sync_interval`);
          text = text.replace(/^\s*sync_interval\b.*$/gm, '');
        }
        writeFileSync(path.join(dir, f), text);
      }
      const problems = files.flatMap((f) => {
        const run = spawnSync('nats-server', ['-t', '-c', path.join(dir, f)], { encoding: 'utf8', env: { ...process.env, POD_NAME: 'nats-0' } });
        return run.status === 0 ? [] : [`deploy/nats/${f}: ${(run.stderr || run.stdout).trim()}`];
      });
      expectNone(problems, 'nats-server rejects');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('.ci/run', () => {
  it('is executable and valid bash', () => {
    assert.ok((statSync(CI_RUN).mode & 0o111) !== 0, '.ci/run: not executable (chmod +x .ci/run)');
    const syntax = spawnSync('bash', ['-n', CI_RUN], { encoding: 'utf8' });
    assert.equal(syntax.status, 0, `.ci/run: bash -n failed: ${syntax.stderr}`);
  });

  it('reports in --check mode what it would install, ending with npm test', () => {
    const run = spawnSync('bash', [CI_RUN, '--check'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.equal(run.status, 0, `.ci/run --check exited ${String(run.status)}: ${run.stderr}`);
    assert.match(run.stdout, /would run: npm test$/m, `.ci/run --check: no 'would run: npm test' line in:\n${run.stdout}`);
  });
});
