/**
 * Loads Loom's deployment files for deploy.test.ts and flattens every Loom
 * container into one shape: each compose service built from ./Dockerfile and
 * each Kubernetes container running the `loom` image, with its effective
 * environment (Dockerfile ENV, then ConfigMaps, then its own env), ports,
 * probes and command. Third-party containers (nats, postgres, vllm) are
 * listed only for their images: their variables are not Loom's.
 * Whatever the loader cannot check goes to `unchecked`, never silently past.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { parseDockerfile, type Dockerfile } from './dockerfile.ts';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export type Obj = Record<string, unknown>;
export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
export const objOf = (v: unknown): Obj => (isObj(v) ? v : {});
export const listOf = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const scalar = (v: unknown): string | undefined =>
  typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;

export interface EnvEntry {
  /** undefined when the value comes from a Secret or the host at run time. */
  readonly value: string | undefined;
  readonly where: string;
}
export interface HttpProbe {
  readonly kind: string;
  readonly path: string | undefined;
  readonly port: string | undefined;
}
export interface LoomContainer {
  readonly where: string;
  readonly platform: 'compose' | 'k8s';
  readonly env: ReadonlyMap<string, EnvEntry>;
  /** Container-side ports, with their k8s names where given. */
  readonly ports: readonly { readonly name: string | undefined; readonly port: number }[];
  readonly probes: readonly HttpProbe[];
  /** A command that replaces the image's CMD (a one-shot task such as migrate). */
  readonly command: readonly string[] | undefined;
  /** The pod or service object, for platform-specific checks. */
  readonly spec: Obj;
  readonly container: Obj;
}
export interface K8sDoc {
  readonly file: string;
  readonly kind: string;
  readonly name: string;
  readonly doc: Obj;
}
export interface Manifests {
  readonly dockerfile: Dockerfile;
  readonly compose: { readonly services: Readonly<Record<string, Obj>> };
  readonly k8s: readonly K8sDoc[];
  readonly loom: readonly LoomContainer[];
  /** Every variable name a Loom container gets, with where it is set. */
  readonly envSettings: readonly { readonly name: string; readonly where: string }[];
  readonly images: readonly { readonly image: string; readonly where: string }[];
  readonly yamlErrors: readonly string[];
  readonly unchecked: readonly string[];
}

export const rel = (file: string): string => path.relative(REPO_ROOT, file);

/** `registry:5000/team/loom:1.2@sha256:..` → `loom`. */
export function imageName(image: string): string {
  const last = image.split('@')[0]?.split('/').pop() ?? '';
  return last.split(':')[0] ?? '';
}

/** All YAML files under a directory, recursively, sorted. */
export function yamlFilesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((f) => /\.ya?ml$/.test(f))
    .map((f) => path.join(dir, f))
    .sort();
}

function parseYaml(file: string, errors: string[]): Obj[] {
  const docs = parseAllDocuments(readFileSync(file, 'utf8'), { merge: true, prettyErrors: true });
  if (!Array.isArray(docs)) return [];
  const out: Obj[] = [];
  for (const doc of docs) {
    for (const e of [...doc.errors, ...doc.warnings]) errors.push(`${rel(file)}: ${e.message}`);
    const value: unknown = doc.toJS();
    if (isObj(value)) out.push(value);
  }
  return out;
}

function composeEnv(service: Obj, where: string, unchecked: string[]): [string, EnvEntry][] {
  if (service.env_file !== undefined) unchecked.push(`${where}: env_file is not checked; set variables under environment`);
  const env = service.environment;
  const entries: [string, EnvEntry][] = [];
  if (Array.isArray(env)) {
    for (const item of env) {
      const [name = '', ...rest] = String(item).split('=');
      entries.push([name, { value: rest.length > 0 ? rest.join('=') : undefined, where: `${where}.environment` }]);
    }
  } else {
    for (const [name, v] of Object.entries(objOf(env))) entries.push([name, { value: scalar(v), where: `${where}.environment` }]);
  }
  return entries;
}

/** Container-side ports: published `ports` targets and unpublished `expose` entries. */
function composePorts(service: Obj): { name: undefined; port: number }[] {
  const published = listOf(service.ports).map((p) => (isObj(p) ? scalar(p.target) : String(p).split(':').pop()));
  const exposed = listOf(service.expose).map(scalar);
  return [...published, ...exposed].map((p) => ({ name: undefined, port: Number(p?.split('/')[0]) }));
}

function loadCompose(dockerfile: Dockerfile, out: Builder): Obj {
  const file = path.join(REPO_ROOT, 'docker-compose.yml');
  const [compose = {}] = parseYaml(file, out.yamlErrors);
  for (const [name, raw] of Object.entries(objOf(compose.services))) {
    const service = objOf(raw);
    const where = `docker-compose.yml services.${name}`;
    const image = scalar(service.image);
    if (image !== undefined) out.images.push({ image, where: `${where}.image` });
    if (service.build === undefined && (image === undefined || imageName(image) !== 'loom')) continue;
    const own = composeEnv(service, where, out.unchecked);
    for (const [envName, entry] of own) out.envSettings.push({ name: envName, where: entry.where });
    const command = service.command;
    out.loom.push({
      where,
      platform: 'compose',
      env: new Map([...dockerfileEnv(dockerfile), ...own]),
      ports: composePorts(service),
      probes: [],
      command: Array.isArray(command) ? command.map(String) : typeof command === 'string' ? ['/bin/sh', '-c', command] : undefined,
      spec: service,
      container: service,
    });
  }
  return objOf(compose.services);
}

function dockerfileEnv(dockerfile: Dockerfile): [string, EnvEntry][] {
  return [...dockerfile.env].map(([name, value]) => [name, { value, where: 'Dockerfile ENV' }]);
}

interface Builder {
  loom: LoomContainer[];
  envSettings: { name: string; where: string }[];
  images: { image: string; where: string }[];
  yamlErrors: string[];
  unchecked: string[];
}

const WORKLOADS = new Set(['Deployment', 'StatefulSet', 'DaemonSet', 'Job']);

/** The pod spec of a workload object, or undefined for other kinds. */
export function podSpecOf(doc: Obj): Obj | undefined {
  const kind = scalar(doc.kind) ?? '';
  let workload = objOf(doc.spec);
  if (kind === 'CronJob') workload = objOf(objOf(workload.jobTemplate).spec);
  else if (!WORKLOADS.has(kind)) return undefined;
  const spec = objOf(workload.template).spec;
  return isObj(spec) ? spec : undefined;
}

function k8sEnv(container: Obj, where: string, configMaps: ReadonlyMap<string, Obj>, out: Builder): [string, EnvEntry][] {
  const entries: [string, EnvEntry][] = [];
  for (const source of listOf(container.envFrom).map(objOf)) {
    const ref = scalar(objOf(source.configMapRef).name);
    const data = ref === undefined ? undefined : configMaps.get(ref);
    if (data === undefined) {
      out.unchecked.push(`${where}: envFrom ${JSON.stringify(source)} names no ConfigMap under deploy/k8s`);
      continue;
    }
    for (const [name, v] of Object.entries(data)) entries.push([name, { value: scalar(v), where: `ConfigMap ${ref}` }]);
  }
  for (const item of listOf(container.env).map(objOf)) {
    const name = scalar(item.name) ?? '';
    const secret = objOf(objOf(item.valueFrom).secretKeyRef);
    const from = isObj(item.valueFrom) ? `secret ${scalar(secret.name) ?? '?'}/${scalar(secret.key) ?? '?'}` : 'value';
    const entry: EnvEntry = { value: scalar(item.value), where: `${where} env ${name} (${from})` };
    out.envSettings.push({ name, where: entry.where });
    entries.push([name, entry]);
  }
  return entries;
}

function k8sProbes(container: Obj): HttpProbe[] {
  return ['startupProbe', 'livenessProbe', 'readinessProbe']
    .filter((kind) => container[kind] !== undefined)
    .map((kind) => {
      const get = objOf(objOf(container[kind]).httpGet);
      return { kind, path: scalar(get.path), port: scalar(get.port) };
    });
}

function loadK8s(dockerfile: Dockerfile, out: Builder): K8sDoc[] {
  const docs: K8sDoc[] = [];
  for (const file of yamlFilesUnder(path.join(REPO_ROOT, 'deploy'))) {
    for (const doc of parseYaml(file, out.yamlErrors)) {
      docs.push({ file: rel(file), kind: scalar(doc.kind) ?? '?', name: scalar(objOf(doc.metadata).name) ?? '?', doc });
    }
  }
  const configMaps = new Map(docs.filter((d) => d.kind === 'ConfigMap').map((d) => [d.name, objOf(d.doc.data)]));
  for (const d of docs.filter((x) => x.kind === 'ConfigMap')) {
    for (const name of Object.keys(objOf(d.doc.data))) out.envSettings.push({ name, where: `${d.file} ConfigMap/${d.name} data` });
  }
  for (const d of docs) {
    const pod = podSpecOf(d.doc);
    if (pod === undefined) continue;
    for (const group of ['initContainers', 'containers']) {
      for (const container of listOf(pod[group]).map(objOf)) {
        const where = `${d.file} ${d.kind}/${d.name} ${group}["${scalar(container.name) ?? '?'}"]`;
        const image = scalar(container.image) ?? '';
        out.images.push({ image, where: `${where}.image` });
        if (imageName(image) !== 'loom') continue;
        const command = [...listOf(container.command), ...listOf(container.args)].map(String);
        out.loom.push({
          where,
          platform: 'k8s',
          env: new Map([...dockerfileEnv(dockerfile), ...k8sEnv(container, where, configMaps, out)]),
          ports: listOf(container.ports).map(objOf).map((p) => ({ name: scalar(p.name), port: Number(p.containerPort) })),
          probes: k8sProbes(container),
          command: command.length > 0 ? command : undefined,
          spec: pod,
          container,
        });
      }
    }
  }
  return docs;
}

/** Reads the Dockerfile, docker-compose.yml and every YAML file under deploy/. */
export function loadManifests(): Manifests {
  const dockerfile = parseDockerfile(readFileSync(path.join(REPO_ROOT, 'Dockerfile'), 'utf8'));
  const out: Builder = { loom: [], envSettings: [], images: [], yamlErrors: [], unchecked: [] };
  for (const [name, value] of dockerfile.env) out.envSettings.push({ name, where: `Dockerfile ENV ${name}=${value}` });
  dockerfile.from.forEach((image, i) => out.images.push({ image, where: `Dockerfile FROM #${i + 1}` }));
  const services = loadCompose(dockerfile, out);
  const k8s = loadK8s(dockerfile, out);
  return { dockerfile, compose: { services: Object.fromEntries(Object.entries(services).map(([k, v]) => [k, objOf(v)])) }, k8s, ...out };
}
