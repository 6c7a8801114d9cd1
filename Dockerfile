# Loom runtime image: one image for every role; LOOM_ROLES picks what runs.
# Loom's TypeScript is bundled by esbuild into dist/ when the image is built
# (scripts/build.ts; npm packages stay in node_modules), and the image runs
# that JavaScript: no compilation at start, ~90 MB less memory than tsx.
# A deployment must set NATS_URL and DATABASE_URL: the image has no nats-server
# for the embedded setup. deploy/deploy.test.ts checks this file.
# Node 24 LTS (Node 20 reached end of life in April 2026; Loom still runs on
# it, and CI runs the core suite on both).
FROM node:24-bookworm-slim

WORKDIR /app

# Dependencies first, so a change to the sources reuses this layer.
# recheck (the ReDoS analysis of users' JSON Schema patterns) runs its
# JavaScript engine (checkSync); its Java and native engines, optional
# dependencies of 52 MB, are never loaded and are left out.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force \
    && rm -rf node_modules/recheck-jar node_modules/recheck-linux-*

# Sources and the bundle stay owned by root: the service user can read them, not change them.
COPY . .
RUN node --import tsx scripts/build.ts

# Writable state (embedded defaults) lives outside the read-only sources.
RUN mkdir -p /var/lib/loom && chown node:node /var/lib/loom
ENV LOOM_HOST=0.0.0.0 \
    LOOM_DATA_DIR=/var/lib/loom
# Memory tuning shared with `npm start` (scripts/build.ts BUNDLE_ENV and
# BUNDLE_NODE_ARGS, checked by deploy/deploy.test.ts): glibc hands freed
# memory back, and V8's young generation stays at most 2 x 8 MB.
ENV MALLOC_TRIM_THRESHOLD_=131072 \
    MALLOC_MMAP_THRESHOLD_=131072

# The node image's unprivileged user (uid 1000).
USER node
EXPOSE 1234

# Every role serves /healthz and /readyz on PORT; a one-shot command such as
# the migration serves no HTTP and disables this check in docker-compose.yml.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 1234) + '/healthz', { signal: AbortSignal.timeout(2000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# src/main.ts drains on SIGTERM (force-exits after 30 s); it also works as PID 1.
CMD ["node", "--max-semi-space-size=8", "dist/main.js"]
