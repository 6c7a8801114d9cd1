/**
 * A small reader for the repository's Dockerfile, for deploy.test.ts: enough
 * of the syntax (line continuations, ENV pairs, exec-form JSON) to check what
 * the image sets, exposes and runs. Not a general Dockerfile parser.
 */

export interface Dockerfile {
  /** Every FROM image, in order. */
  readonly from: readonly string[];
  /** ENV variables, last assignment wins. */
  readonly env: ReadonlyMap<string, string>;
  readonly expose: readonly number[];
  readonly user: string | undefined;
  /** CMD as argv; shell form becomes `/bin/sh -c <text>`. */
  readonly cmd: readonly string[] | undefined;
  /** The HEALTHCHECK instruction's text after the keyword. */
  readonly healthcheck: string | undefined;
  /** Every RUN instruction's text after the keyword, in order. */
  readonly run: readonly string[];
}

/** Joins continuation lines and drops comments and blanks. */
function instructions(text: string): string[] {
  const out: string[] = [];
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue; // a comment inside a continued instruction
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    out.push(pending + line);
    pending = '';
  }
  if (pending !== '') out.push(pending);
  return out;
}

function parseEnv(args: string, into: Map<string, string>): void {
  if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(args)) {
    // Legacy form: `ENV NAME value with spaces`.
    const [name = '', ...rest] = args.split(/\s+/);
    into.set(name, rest.join(' '));
    return;
  }
  for (const m of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("([^"]*)"|'([^']*)'|\S*)/g)) {
    into.set(m[1] ?? '', m[3] ?? m[4] ?? m[2] ?? '');
  }
}

function parseCommand(args: string): string[] {
  if (args.startsWith('[')) {
    const parsed: unknown = JSON.parse(args);
    if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) {
      throw new Error(`exec form must be a JSON array of strings: ${args}`);
    }
    return parsed;
  }
  return ['/bin/sh', '-c', args];
}

/** Parses Dockerfile text. @throws Error when a CMD's exec form is not a JSON string array. */
export function parseDockerfile(text: string): Dockerfile {
  const from: string[] = [];
  const env = new Map<string, string>();
  const expose: number[] = [];
  let user: string | undefined;
  let cmd: string[] | undefined;
  let healthcheck: string | undefined;
  const run: string[] = [];
  for (const line of instructions(text)) {
    const match = /^(\S+)\s*(.*)$/.exec(line);
    const keyword = (match?.[1] ?? '').toUpperCase();
    const args = match?.[2] ?? '';
    switch (keyword) {
      case 'FROM':
        from.push(args.split(/\s+/).find((a) => !a.startsWith('--')) ?? '');
        break;
      case 'ENV':
        parseEnv(args, env);
        break;
      case 'EXPOSE':
        for (const port of args.split(/\s+/)) expose.push(Number.parseInt(port, 10));
        break;
      case 'USER':
        user = args;
        break;
      case 'CMD':
        cmd = parseCommand(args);
        break;
      case 'HEALTHCHECK':
        healthcheck = args;
        break;
      case 'RUN':
        run.push(args);
        break;
      default:
        break; // other instructions do not affect what deploy.test.ts checks
    }
  }
  return { from, env, expose, user, cmd, healthcheck, run };
}
