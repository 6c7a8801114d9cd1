/**
 * The test model server's answers for the example flows (examples/pipelines/):
 * each prompt's system line names its task ("Task: site.generate/patch"), and
 * the answer fits that step's output schema. The site's first patch is
 * broken on purpose (BROKEN_MARKER) so the build loop runs twice; a patch
 * asked to fix a failing build is clean.
 */
import { BROKEN_MARKER } from './behaviours.ts';

export interface PromptPair {
  readonly system: string;
  readonly user: string;
}

/** The task tag of a prompt's system line, or 'unknown'. */
export function platformTaskOf(system: string): string {
  return /Task: ([a-z.-]+\/[a-z-]+)/.exec(system)?.[1] ?? 'unknown';
}

const exactly = (user: string, fallback: number) => Number(/Exactly (\d+) (?:slides|pages)/.exec(user)?.[1] ?? fallback);

/** A valid answer for any example-flow prompt; `unknown` tasks get a plain echo. */
export function platformAnswer({ system, user }: PromptPair): string {
  switch (platformTaskOf(system)) {
    case 'sales.discovery/prd':
      return JSON.stringify({
        title: `PRD: ${/Client: (.*)/.exec(user)?.[1] ?? 'client'}`,
        sections: ['Problem', 'Users', 'Requirements', 'Out of scope', 'Open questions'].map((heading) => ({ heading, markdown: `What the session said about ${heading.toLowerCase()}.` })),
      });
    case 'sales.discovery/roadmap':
      return JSON.stringify({ phases: [{ name: 'Discovery', weeks: 2, tasks: ['Interviews'] }, { name: 'Build', weeks: 6, tasks: ['MVP', 'Beta'] }, { name: 'Launch', weeks: 1, tasks: ['Go live'] }] });
    case 'sales.discovery/presentation': {
      const n = exactly(user, 5);
      return JSON.stringify({ slides: Array.from({ length: n }, (_, i) => ({ title: `Slide ${i + 1}`, content: ['point'], layout: i === 0 ? 'title' : i === n - 1 ? 'closing' : 'title-bullets' })) });
    }
    case 'site.generate/validate':
      return JSON.stringify({ complete: true, missing: [] });
    case 'site.generate/spec':
      return JSON.stringify({ name: 'Bean There', audience: 'commuters', tone: 'warm', colors: ['#3b2f2f', '#f5e6cc'] });
    case 'site.generate/brief':
      return '# Brief\n\nA warm site for a coffee cart.';
    case 'site.generate/sitemap': {
      const n = exactly(user, 3);
      return JSON.stringify({ pages: Array.from({ length: n }, (_, i) => ({ path: i === 0 ? '/' : `/page-${i + 1}`, title: `Page ${i + 1}`, purpose: 'inform' })) });
    }
    case 'site.generate/content':
      return JSON.stringify({ headline: `Headline for ${/Page (\d+)/.exec(user)?.[1] ?? '?'}`, body: 'Copy.' });
    case 'site.generate/layout':
      return JSON.stringify({ components: [{ page: '/', name: 'Hero' }] });
    case 'site.generate/patch': {
      const fixing = user.includes('The last build failed');
      const revising = /The reviewer asked for changes \(round \d+\): (.*)/.exec(user)?.[1];
      const diff = fixing ? '+<h1>Bean There</h1>' : `+<h1>Bean There</h1>${revising === undefined ? BROKEN_MARKER : ''}`;
      return JSON.stringify({ files: [{ path: 'index.html', diff: revising === undefined ? diff : `${diff}\n+<!-- ${revising} -->` }] });
    }
    case 'video.analyse/scores':
      return JSON.stringify({ scores: { hook: 7, clarity: 8, brand: 5, callToAction: 6 }, issues: [{ atMs: 0, issue: 'Logo appears late' }] });
    case 'video.analyse/recommendations':
      return JSON.stringify({ recommendations: ['Show the logo in the first two seconds.'] });
    case 'script.generate/premise':
      return 'A commuter finds calm in a cup. The cart is always there. Mornings change.';
    case 'script.generate/block':
      return `Block text for ${/Block \d+ of \d+: (.*)/.exec(user)?.[1] ?? '?'}.`;
    case 'script.generate/variant': {
      const m = /Variation (\d+), language (\S+)/.exec(user);
      return `[${m?.[2] ?? '?'}] variation ${m?.[1] ?? '?'} of the script.`;
    }
    default:
      return `echo: ${user}`;
  }
}
