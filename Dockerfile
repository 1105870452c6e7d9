# syntax=docker/dockerfile:1
# itinera: one image for the API (default CMD) and the Temporal worker (`npm run worker`).
#   docker build -t itinera:local .
#   docker run --rm -p 3000:3000 -e HOST=0.0.0.0 -e SIGNING_SECRET=... itinera:local
# Runs TypeScript directly with tsx (a runtime dependency), so there is no compile step.

ARG NODE_IMAGE=node:24-bookworm-slim

# ---- deps: production node_modules only -------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV NODE_ENV=production \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
COPY package.json package-lock.json ./
# `prepare` (the console build) runs here too and, without the dev dependencies, only notes that it skipped: the
# console stage below builds it.
COPY scripts/console-build.mjs ./scripts/
RUN npm ci --omit=dev && npm cache clean --force

# ---- console: the web console's static bundle (its build tools are dev dependencies) ----------------------------------
FROM ${NODE_IMAGE} AS console
WORKDIR /app
ENV npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY console ./console
RUN npx vite build console

# ---- runtime ------------------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000 \
    npm_config_update_notifier=false \
    npm_config_fund=false
WORKDIR /app
# The official image ships an unprivileged `node` user (uid 1000); the app owns nothing it does not need to write.
COPY --from=deps /app/node_modules ./node_modules
COPY . .
COPY --from=console /app/console/dist ./console/dist
# .data (PGlite when DATABASE_URL is unset) and dist (cached workflow bundle) must be writable by the app user.
RUN mkdir -p .data dist && chown -R node:node .data dist
USER node
# Prebuild the workflow bundle so a worker start reads dist/ instead of running webpack.
RUN npm run build:workflows
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:3000/healthz',{signal:AbortSignal.timeout(4000)}).then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["npm", "run", "api"]
