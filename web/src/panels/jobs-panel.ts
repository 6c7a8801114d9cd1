/**
 * AI in the document: a "generate" form that starts a document.generate job
 * writing into this document, the running job's steps and progress followed
 * over /ws (streamed tokens counted as they arrive), cancel, and the
 * document's job history with usage, cost and "revert this AI's edits".
 */
import { ApiError, describeError, type Api } from '../api.ts';
import type { AppSocket } from '../app-socket.ts';
import { fill, h, notify } from '../dom.ts';
import { CONTENT_ROOT } from '../editor/collab-session.ts';

interface JobStep {
  readonly id: string;
  readonly status: string;
  readonly attempt: number;
  readonly error: { message: string } | null;
}

interface JobView {
  readonly id: string;
  readonly kind: string;
  readonly status: string;
  readonly targetDocId: string | null;
  readonly createdAt: string;
  readonly steps: readonly JobStep[];
  readonly error: { message: string } | null;
  readonly usage: { calls: number; promptTokens: number; completionTokens: number; costUsd: number; durationMs: number };
  readonly model: string;
  /** `waiting-for-worker` while a running step's model or service has no live worker. */
  readonly statusDetail?: string | null;
  readonly waitingForWorker?: ReadonlyArray<{ step: string; activity: string; queue: string }>;
  /** No new event for a long while (the stuck-job watchdog). */
  readonly stuck?: boolean;
  readonly stuckSince?: string | null;
}

/** Why a job does not move, in words, or null. */
function explainWaiting(job: JobView): string | null {
  if (job.statusDetail === 'waiting-for-worker') {
    const queues = [...new Set((job.waitingForWorker ?? []).map((w) => (w.activity === 'inference' ? `model ${w.queue}` : `service ${w.queue}`)))];
    return `Waiting for a worker: nothing serves ${queues.length > 0 ? queues.join(', ') : `model ${job.model}`} right now. The job goes on when one starts.`;
  }
  if (job.stuck === true) return `No progress since ${job.stuckSince === null || job.stuckSince === undefined ? 'a while' : new Date(job.stuckSince).toLocaleTimeString()}.`;
  return null;
}

const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'rejected']);
const REFRESH_MS = 400;
/** A running job is also refetched this often without events: "waiting for a worker" is computed, not an event. */
const IDLE_REFRESH_MS = 3_000;

export function jobsPanel(opts: { api: Api; socket: AppSocket; docId: string; canEdit: boolean; onRevert: (origin: string) => void; beforeJob: () => void }): HTMLElement {
  const { api, socket, docId } = opts;
  const known = new Map<string, JobView>();
  const topic = h('textarea', { name: 'topic', rows: '3', required: true, maxlength: '2000', placeholder: 'What should the AI write about?' });
  const sections = h('input', { name: 'sections', type: 'number', min: '1', max: '10', value: '3' });
  const live = h('div', { class: 'job-live' });
  const history = h('ul', { class: 'job-history' });

  const renderHistory = () => {
    const jobs = [...known.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    fill(history, ...(jobs.length === 0 ? [h('li', { class: 'muted' }, 'No AI jobs on this document yet.')] : jobs.map(historyRow)));
  };
  const historyRow = (job: JobView) =>
    h(
      'li',
      { 'data-job-id': job.id },
      h('span', { class: `status status-${job.status}` }, job.status),
      ' ',
      h('span', {}, new Date(job.createdAt).toLocaleTimeString()),
      h('div', { class: 'muted' }, `${job.usage.calls} model calls · ${job.usage.promptTokens + job.usage.completionTokens} tokens · $${job.usage.costUsd.toFixed(4)}`),
      opts.canEdit && h('button', { class: 'small', onclick: () => opts.onRevert(`job:${job.id}`) }, "Revert this AI's edits"),
    );

  const renderLive = (job: JobView, tokens: number) => {
    const done = job.steps.filter((s) => s.status === 'succeeded').length;
    const total = Math.max(job.steps.length, 1);
    const running = !TERMINAL.has(job.status);
    const waiting = running ? explainWaiting(job) : null;
    fill(
      live,
      h('div', { class: 'row' }, h('strong', {}, running ? 'Generating' : 'Last job'), h('span', { class: `status status-${job.status}`, 'data-job-status': job.status }, job.status)),
      waiting !== null && h('p', { class: 'waiting', 'data-status-detail': job.statusDetail ?? 'stuck' }, waiting),
      h('progress', { max: String(total), value: String(done) }),
      h('p', { class: 'muted' }, `${done} of ${job.steps.length} steps · ${tokens} tokens streamed`),
      h('ol', { class: 'steps' }, ...job.steps.map((s) => h('li', { class: `status-${s.status}` }, `${s.id}: ${s.status}${s.attempt > 1 ? ` (attempt ${s.attempt})` : ''}${s.error ? ` — ${s.error.message}` : ''}`))),
      job.error !== null && h('p', { class: 'form-error' }, job.error.message),
      running && h('button', { class: 'danger', 'data-action': 'cancel-job', onclick: () => void cancel(job.id) }, 'Stop'),
    );
  };

  const cancel = async (jobId: string) => {
    try {
      await api.request('POST', `/v1/jobs/${encodeURIComponent(jobId)}/cancel`, { reason: 'stopped from the web app' });
    } catch (err) {
      notify(describeError(err));
    }
  };

  /** Follows a job: every event refetches its view (at most every REFRESH_MS), tokens are counted. */
  const follow = (jobId: string) => {
    let tokens = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const refresh = async () => {
      timer = undefined;
      try {
        const job = await api.request<JobView>('GET', `/v1/jobs/${encodeURIComponent(jobId)}`);
        known.set(job.id, job);
        renderLive(job, tokens);
        renderHistory();
        if (!TERMINAL.has(job.status)) timer ??= setTimeout(() => void refresh(), IDLE_REFRESH_MS);
      } catch (err) {
        notify(describeError(err));
      }
    };
    const schedule = () => (timer ??= setTimeout(() => void refresh(), REFRESH_MS));
    socket.subscribe(`job:${jobId}`, (frame) => {
      if (frame.type === 'token') tokens++;
      if (frame.type === 'event' || frame.type === 'end') schedule();
      if (frame.type === 'error') notify(`Cannot follow the job: ${frame.message}`);
    });
    void refresh();
  };

  const start = async () => {
    try {
      // Jobs append at the document's end: give their text its own paragraph.
      opts.beforeJob();
      const { job } = await api.request<{ job: JobView }>('POST', '/v1/jobs', {
        kind: 'document.generate',
        input: { topic: topic.value.trim(), sections: Number(sections.value) || 3, targetRoot: CONTENT_ROOT, targetRootType: 'xml' },
        targetDocId: docId,
        idempotencyKey: crypto.randomUUID(),
      });
      known.set(job.id, job);
      renderHistory();
      follow(job.id);
    } catch (err) {
      notify(err instanceof ApiError && err.code === 'unknown-model' ? 'No model is served for AI jobs on this server.' : describeError(err));
    }
  };

  const loadHistory = async () => {
    try {
      const page = await api.request<{ jobs: JobView[] }>('GET', '/v1/jobs?limit=100');
      for (const job of page.jobs) if (job.targetDocId === docId) known.set(job.id, job);
    } catch (err) {
      // Servers without a job listing: the history shows this page's jobs only.
      if (!(err instanceof ApiError) || err.status >= 500) notify(describeError(err));
    }
    renderHistory();
  };
  void loadHistory();

  return h(
    'section',
    { class: 'panel', 'data-panel': 'jobs' },
    h('h2', {}, 'Write with AI'),
    opts.canEdit
      ? h(
          'form',
          { onsubmit: (ev) => (ev.preventDefault(), void start()) },
          topic,
          h('label', { class: 'inline' }, 'Sections ', sections),
          h('button', { type: 'submit', class: 'primary' }, 'Generate'),
        )
      : h('p', { class: 'muted' }, 'Viewers cannot start AI jobs.'),
    live,
    h('h3', {}, 'Your AI jobs on this document'),
    history,
  );
}
