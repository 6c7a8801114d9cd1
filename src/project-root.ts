/**
 * The repository root (the folder holding Loom's package.json), found by
 * walking up from this module. It is the same whether Loom runs from its
 * sources through tsx (src/) or from the bundle `npm start` builds (dist/),
 * so files shipped beside the code (migrations/, web/) resolve either way.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}: Loom must run from its repository or image`);
  }
}

export const PROJECT_ROOT = findRoot(path.dirname(fileURLToPath(import.meta.url)));

/** A path under the repository root. */
export function projectPath(...segments: string[]): string {
  return path.join(PROJECT_ROOT, ...segments);
}
