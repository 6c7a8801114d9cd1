/**
 * Validates the deployment files against the schemas of what reads them,
 * without a Docker engine or a cluster: docker-compose.yml against the Compose
 * specification's JSON Schema (vendored in deploy/schemas/), every Kubernetes
 * object under deploy/k8s against the Kubernetes OpenAPI schemas (through
 * kubernetes-models, KEDA's ScaledObject through @kubernetes-models/keda), the
 * Kustomize files against the files they name, and the cluster settings
 * (R3, NATS Helm values, KEDA consumers) against Loom's own names.
 * Each failure lists every problem with the file and object at fault.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { Ajv, type ErrorObject } from 'ajv';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ConfigMap, Secret, Service } from 'kubernetes-models/v1';
import { parse, parseAllDocuments } from 'yaml';
import { INFERENCE_STREAM, inferenceConsumerName, type InferencePriority } from '../protocol/inference.ts';
import { ENV_SCHEMA } from '../src/config.ts';
import { imageName, isObj, listOf, loadManifests, objOf, REPO_ROOT, type Obj } from './manifests.ts';
import { readNatsConf } from './nats-conf.ts';

const m = loadManifests();
const known: ReadonlySet<string> = new Set(Object.keys(ENV_SCHEMA.shape));
/** The replica count the cluster configs give every stream and KV bucket. */
const CLUSTER_REPLICAS = '3';
const PRIORITIES: readonly InferencePriority[] = ['interactive', 'batch'];

function expectNone(problems: readonly string[], what: string): void {
  assert.equal(problems.length, 0, `${what}:\n  - ${problems.join('\n  - ')}`);
}

const ajvErrors = (errors: readonly ErrorObject[] | null | undefined): string[] =>
  (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}${e.params !== undefined ? ` ${JSON.stringify(e.params)}` : ''}`);

/** A model class per apiVersion and kind; each validates against its OpenAPI schema. */
type Model = new (data: never) => { validate(): void };
const MODELS: ReadonlyMap<string, Model> = new Map<string, Model>([
  ['v1/ConfigMap', ConfigMap],
  ['v1/Secret', Secret],
  ['v1/Service', Service],
  ['apps/v1/Deployment', Deployment],
  ['policy/v1/PodDisruptionBudget', PodDisruptionBudget],
  ['autoscaling/v2/HorizontalPodAutoscaler', HorizontalPodAutoscaler],
  ['keda.sh/v1alpha1/ScaledObject', ScaledObject],
]);

const K8S_DIR = path.join(REPO_ROOT, 'deploy', 'k8s');
const HELM_VALUES = 'deploy/nats/helm-values.yaml';
const kustomizations = m.k8s.filter((d) => d.kind === 'Kustomization');
/** Helm values are not Kubernetes objects: checked on their own below. */
const objects = m.k8s.filter((d) => d.kind !== 'Kustomization' && d.file !== HELM_VALUES);
const configMap = objects.find((d) => d.kind === 'ConfigMap' && d.name === 'loom-config');
const configData = objOf(configMap?.doc.data);

/** What the Kubernetes OpenAPI schema of the object's kind says is wrong with it. */
function schemaProblems(doc: Obj, where: string): string[] {
  const kind = String(doc.kind);
  const Model = MODELS.get(`${String(doc.apiVersion)}/${kind}`);
  if (Model === undefined) return [`${where}: apiVersion ${String(doc.apiVersion)} kind ${kind} has no schema in this check; add its model to MODELS`];
  try {
    new Model(doc as never).validate();
    return [];
  } catch (err) {
    return [`${where}: ${err instanceof Error ? err.message : String(err)}`];
  }
}

/**
 * kustomize writes long base64 Secret values as YAML block scalars, line
 * breaks included; the API server's base64 decoder skips them, the schema's
 * "byte" format does not, so they are removed before validation.
 */
function unwrapSecretData(doc: Obj): Obj {
  if (doc.kind !== 'Secret') return doc;
  const data = Object.fromEntries(Object.entries(objOf(doc.data)).map(([k, v]) => [k, String(v).replace(/\s+/g, '')]));
  return { ...doc, data };
}

/** KEY=value lines of an env file, comments and blanks skipped. */
function envFileKeys(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => l.split('=')[0] ?? '');
}

describe('deployment files against their schemas', () => {
  it('docker-compose.yml is valid under the Compose specification JSON Schema', () => {
    const { $schema: _draft, ...schema } = JSON.parse(readFileSync(path.join(REPO_ROOT, 'deploy', 'schemas', 'compose-spec.json'), 'utf8')) as Obj;
    const validate = new Ajv({ strict: false, allErrors: true, validateFormats: false }).compile(schema);
    const compose: unknown = parse(readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true });
    validate(compose);
    expectNone(ajvErrors(validate.errors).map((e) => `docker-compose.yml ${e}`), 'Compose schema violations');
  });

  it('every Kubernetes object is a known kind and valid under its OpenAPI schema', () => {
    const problems: string[] = [];
    for (const d of objects) problems.push(...schemaProblems(d.doc, `${d.file} ${d.kind}/${d.name}`));
    assert.ok(objects.length > 0, 'no Kubernetes objects found under deploy/k8s');
    expectNone(problems, 'Kubernetes schema violations');
  });

  it('every Kustomization names files that exist, and together they include every object', () => {
    const problems: string[] = [];
    const included = new Set<string>();
    for (const k of kustomizations) {
      const dir = path.dirname(path.join(REPO_ROOT, k.file));
      for (const r of listOf(k.doc.resources).map(String)) {
        const target = path.join(dir, r);
        if (!existsSync(target)) problems.push(`${k.file}: resource ${r} does not exist`);
        included.add(path.relative(REPO_ROOT, target));
      }
      for (const gen of listOf(k.doc.secretGenerator).map(objOf)) {
        for (const env of listOf(gen.envs).map(String)) {
          // The real file holds secrets and is git-ignored; its template is committed.
          if (!existsSync(path.join(dir, `${env}.example`))) problems.push(`${k.file}: secretGenerator ${String(gen.name)} reads ${env} but ${env}.example is missing`);
        }
      }
    }
    for (const file of new Set(objects.map((d) => d.file))) {
      if (file.startsWith('deploy/k8s/') && !included.has(file)) problems.push(`${file}: not a resource of any kustomization.yaml`);
    }
    expectNone(problems, 'Kustomize problems');
  });

  it('every Secret key a container reads is templated in secrets.env.example, and only Loom settings are', () => {
    const problems: string[] = [];
    const generated = new Map<string, Set<string>>();
    for (const k of kustomizations) {
      for (const gen of listOf(k.doc.secretGenerator).map(objOf)) {
        const keys = listOf(gen.envs).flatMap((env) => envFileKeys(path.join(path.dirname(path.join(REPO_ROOT, k.file)), `${String(env)}.example`)));
        generated.set(String(gen.name), new Set(keys));
        for (const key of keys) if (!known.has(key)) problems.push(`${k.file} secret ${String(gen.name)}: ${key} is not a key of ENV_SCHEMA`);
      }
    }
    for (const c of m.loom.filter((x) => x.platform === 'k8s')) {
      for (const item of listOf(c.container.env).map(objOf)) {
        const ref = objOf(objOf(item.valueFrom).secretKeyRef);
        if (!isObj(objOf(item.valueFrom).secretKeyRef)) continue;
        const keys = generated.get(String(ref.name));
        if (keys === undefined) problems.push(`${c.where} env ${String(item.name)}: Secret ${String(ref.name)} is created by no kustomization`);
        else if (!keys.has(String(ref.key))) problems.push(`${c.where} env ${String(item.name)}: key ${String(ref.key)} is not in secret ${String(ref.name)}'s template`);
      }
    }
    // vLLM's sidecar reads the same Secret: it is no Loom container, so check it here.
    for (const d of objects) {
      for (const c of listOf(objOf(objOf(objOf(d.doc.spec).template).spec).initContainers).map(objOf)) {
        for (const item of listOf(c.env).map(objOf)) {
          const ref = objOf(objOf(item.valueFrom).secretKeyRef);
          if (ref.name !== undefined && !(generated.get(String(ref.name))?.has(String(ref.key)) ?? false)) {
            problems.push(`${d.file} ${d.kind}/${d.name} initContainers["${String(c.name)}"] env ${String(item.name)}: secret ${String(ref.name)}/${String(ref.key)} is never created`);
          }
        }
      }
    }
    expectNone(problems, 'Secrets that are never created');
  });
});

describe('the production overlay, built by kubectl kustomize', () => {
  const probe = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
  const skip = probe.error !== undefined || probe.status !== 0 ? 'no kubectl on PATH' : false;

  it('builds from the committed files and secrets.env.example, into valid objects whose Secret and ConfigMap references resolve', { skip }, () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'loom-kustomize-'));
    try {
      cpSync(K8S_DIR, path.join(dir, 'k8s'), { recursive: true });
      const overlay = path.join(dir, 'k8s', 'overlays', 'production');
      copyFileSync(path.join(overlay, 'secrets.env.example'), path.join(overlay, 'secrets.env'));
      const run = spawnSync('kubectl', ['kustomize', overlay], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
      assert.equal(run.status, 0, `kubectl kustomize deploy/k8s/overlays/production failed: ${run.stderr}`);
      const built = parseAllDocuments(run.stdout).map((d) => objOf(d.toJS())).map(unwrapSecretData);
      const names = (kind: string) => new Set(built.filter((d) => d.kind === kind).map((d) => String(objOf(d.metadata).name)));
      const secrets = names('Secret');
      const configMaps = names('ConfigMap');
      const problems: string[] = [];
      for (const d of built) {
        const where = `built ${String(d.kind)}/${String(objOf(d.metadata).name)}`;
        problems.push(...schemaProblems(d, where));
        if (objOf(d.metadata).namespace !== 'loom') problems.push(`${where}: namespace ${String(objOf(d.metadata).namespace)}, not loom`);
        const pod = objOf(objOf(objOf(d.spec).template).spec);
        for (const c of [...listOf(pod.initContainers), ...listOf(pod.containers)].map(objOf)) {
          for (const item of listOf(c.env).map(objOf)) {
            const ref = objOf(objOf(item.valueFrom).secretKeyRef);
            if (ref.name !== undefined && !secrets.has(String(ref.name))) problems.push(`${where} container ${String(c.name)}: Secret ${String(ref.name)} is not in the build`);
          }
          for (const from of listOf(c.envFrom).map(objOf)) {
            const ref = objOf(from.configMapRef);
            if (ref.name !== undefined && !configMaps.has(String(ref.name))) problems.push(`${where} container ${String(c.name)}: ConfigMap ${String(ref.name)} is not in the build`);
          }
        }
      }
      assert.ok(built.some((d) => d.kind === 'Secret'), 'the build has no Secret');
      expectNone(problems, 'problems in the built overlay');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('cluster settings agree with Loom', () => {
  it(`give every long-running Loom container LOOM_NATS_REPLICAS=${CLUSTER_REPLICAS} and enough NATS servers for it`, () => {
    const problems: string[] = [];
    for (const c of m.loom.filter((x) => x.command === undefined)) {
      for (const name of ['LOOM_NATS_REPLICAS', 'LOOM_OUTBOUND_EVENTS_REPLICAS']) {
        const value = c.env.get(name)?.value;
        if (value !== CLUSTER_REPLICAS) problems.push(`${c.where}: ${name} is ${value ?? 'unset'}, not ${CLUSTER_REPLICAS}`);
      }
    }
    const composeNats = Object.entries(m.compose.services).filter(([, s]) => imageName(String(s.image ?? '')) === 'nats');
    if (composeNats.length < Number(CLUSTER_REPLICAS)) problems.push(`docker-compose.yml: ${composeNats.length} NATS services for R${CLUSTER_REPLICAS} streams`);
    const helm = objOf(m.k8s.find((d) => d.file === HELM_VALUES)?.doc);
    const helmReplicas = Number(objOf(objOf(helm.config).cluster).replicas);
    if (!(helmReplicas >= Number(CLUSTER_REPLICAS))) problems.push(`${HELM_VALUES}: config.cluster.replicas ${helmReplicas} for R${CLUSTER_REPLICAS} streams`);
    expectNone(problems, 'replication problems');
  });

  it('NATS Helm values: JetStream on volumes, a 2.11+ image, and the max_payload and sync_interval of nats-server.conf', () => {
    const problems: string[] = [];
    const helm = objOf(m.k8s.find((d) => d.file === HELM_VALUES)?.doc);
    const js = objOf(objOf(helm.config).jetstream);
    const conf = readNatsConf(readFileSync(path.join(REPO_ROOT, 'deploy', 'nats', 'nats-server.conf'), 'utf8'));
    if (js.enabled !== true) problems.push(`${HELM_VALUES}: config.jetstream.enabled is not true`);
    if (objOf(objOf(js.fileStore).pvc).enabled !== true) problems.push(`${HELM_VALUES}: JetStream file store is not on a PersistentVolumeClaim`);
    if (objOf(js.merge).sync_interval !== 'always') problems.push(`${HELM_VALUES}: config.jetstream.merge.sync_interval is not always`);
    const payload = Number(objOf(objOf(helm.config).merge).max_payload);
    if (payload !== conf.maxPayloadBytes) problems.push(`${HELM_VALUES}: max_payload ${payload} but nats-server.conf has ${String(conf.maxPayloadBytes)}`);
    const image = objOf(objOf(helm.container).image);
    const version = /^(\d+)\.(\d+)\.\d+/.exec(String(image.tag ?? ''));
    if (image.repository !== 'nats' || version === null) problems.push(`${HELM_VALUES}: container.image ${String(image.repository)}:${String(image.tag)} is not a pinned nats version`);
    else if (Number(version[1]) < 2 || (Number(version[1]) === 2 && Number(version[2]) < 11)) problems.push(`${HELM_VALUES}: NATS ${String(image.tag)} is older than 2.11`);
    expectNone(problems, 'NATS Helm values problems');
  });

  it('KEDA scales inference on the consumers Loom creates for the configured models', () => {
    const problems: string[] = [];
    const models = String(configData.LOOM_INFERENCE_MODELS ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
    const expected = new Set(models.flatMap((model) => PRIORITIES.map((p) => inferenceConsumerName(model, p))));
    const scalers = objects.filter((d) => d.kind === 'ScaledObject');
    if (scalers.length === 0) problems.push('deploy/k8s: no KEDA ScaledObject');
    const seen = new Set<string>();
    for (const s of scalers) {
      const where = `${s.file} ScaledObject/${s.name}`;
      const target = String(objOf(objOf(s.doc.spec).scaleTargetRef).name);
      if (!objects.some((d) => d.kind === 'Deployment' && d.name === target)) problems.push(`${where}: scaleTargetRef ${target} is no Deployment here`);
      for (const t of listOf(objOf(s.doc.spec).triggers).map(objOf)) {
        const md = objOf(t.metadata);
        if (t.type !== 'nats-jetstream') continue;
        if (md.stream !== INFERENCE_STREAM) problems.push(`${where}: stream ${String(md.stream)}, Loom's is ${INFERENCE_STREAM}`);
        if (!expected.has(String(md.consumer))) problems.push(`${where}: consumer ${String(md.consumer)} serves no model of LOOM_INFERENCE_MODELS (${models.join(',')})`);
        seen.add(String(md.consumer));
      }
    }
    for (const name of expected) if (!seen.has(name)) problems.push(`deploy/k8s: no KEDA trigger on consumer ${name}`);
    expectNone(problems, 'KEDA problems');
  });

  it('pin inference to GPU nodes: nodeSelector, a toleration of the GPU taint and an nvidia.com/gpu limit', () => {
    const problems: string[] = [];
    const inference = m.loom.filter((c) => c.platform === 'k8s' && c.env.get('LOOM_ROLES')?.value === 'inference');
    if (inference.length === 0) problems.push('deploy/k8s: no inference container');
    for (const c of inference) {
      if (Object.keys(objOf(c.spec.nodeSelector)).length === 0) problems.push(`${c.where}: no nodeSelector`);
      if (!listOf(c.spec.tolerations).some((t) => objOf(t).key === 'nvidia.com/gpu')) problems.push(`${c.where}: no toleration of nvidia.com/gpu`);
      const gpus = listOf(c.spec.initContainers).concat(listOf(c.spec.containers)).map((x) => objOf(objOf(objOf(x).resources).limits)['nvidia.com/gpu']);
      if (!gpus.some((g) => Number(g) >= 1)) problems.push(`${c.where}: no container limits nvidia.com/gpu`);
    }
    expectNone(problems, 'inference not pinned to GPUs');
  });

  it('give every Deployment a PodDisruptionBudget that selects its pods', () => {
    const pdbs = objects.filter((d) => d.kind === 'PodDisruptionBudget').map((d) => objOf(objOf(d.doc.spec).selector).matchLabels);
    const problems = objects
      .filter((d) => d.kind === 'Deployment')
      .filter((d) => {
        const labels = objOf(objOf(objOf(objOf(d.doc.spec).template).metadata).labels);
        return !pdbs.some((sel) => Object.keys(objOf(sel)).length > 0 && Object.entries(objOf(sel)).every(([k, v]) => labels[k] === v));
      })
      .map((d) => `${d.file} Deployment/${d.name}: no PodDisruptionBudget selects its pods`);
    expectNone(problems, 'Deployments without a PodDisruptionBudget');
  });

  it('give every role that keeps state in PostgreSQL a DATABASE_URL, and inference a model server', () => {
    const problems: string[] = [];
    for (const c of m.loom.filter((x) => x.command === undefined)) {
      const roles = (c.env.get('LOOM_ROLES')?.value ?? '').split(',');
      // Without it a process opens a private embedded database no other process sees (src/main.ts).
      if (roles.some((r) => ['gateway', 'actors', 'webhooks'].includes(r)) && c.env.get('DATABASE_URL') === undefined) problems.push(`${c.where}: runs ${roles.join(',')} without DATABASE_URL`);
      if (roles.includes('inference') && c.env.get('OPENAI_BASE_URL')?.value === undefined) problems.push(`${c.where}: runs inference without OPENAI_BASE_URL`);
    }
    expectNone(problems, 'roles without their servers');
  });

  it('run every role the config schema knows, in compose and on Kubernetes', () => {
    const roles = ['gateway', 'actors', 'inference', 'webhooks'];
    const problems: string[] = [];
    for (const platform of ['compose', 'k8s'] as const) {
      const running = new Set(m.loom.filter((c) => c.platform === platform && c.command === undefined).flatMap((c) => (c.env.get('LOOM_ROLES')?.value ?? '').split(',')));
      for (const role of roles) if (!running.has(role)) problems.push(`${platform}: no container runs the ${role} role`);
    }
    expectNone(problems, 'roles that never run');
  });
});

// K8S_DIR is where Kustomize looks; a stray manifest outside it would be applied by nobody.
it('keeps every Kubernetes object under deploy/k8s', () => {
  const stray = objects.filter((d) => !path.join(REPO_ROOT, d.file).startsWith(K8S_DIR)).map((d) => `${d.file} ${d.kind}/${d.name}`);
  expectNone(stray, 'Kubernetes objects outside deploy/k8s');
});
