# syntax=docker/dockerfile:1
# Siirto's container image: the worker and the bridge, installed from the package `npm pack` makes
# and nothing else of the repository. From the repository's root:
#   docker build -t ghcr.io/siirto/siirto:0.1.0 .
# scripts/run-container-recipe.sh runs these stages as plain commands, without a container engine,
# and test/package/container-recipe.test.ts runs that script, so the recipe is exercised on every
# test run. It follows WORKDIR, COPY, RUN, ENV and USER as written here; see its header before using
# other instructions.
ARG NODE_IMAGE=node:24-bookworm-slim

# Every dependency, the TypeScript compiled to dist/ with the workflow bundle, then packed: npm pack
# runs `npm run build` first (the prepack script).
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY . .
RUN npm pack

# Node and the tarball's production dependencies only: no TypeScript, no tsx, no sources.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /src/siirto-*.tgz ./
RUN --mount=type=cache,target=/root/.npm npm install --omit=dev --no-audit --no-fund ./siirto-*.tgz && rm siirto-*.tgz
ENV PATH=/app/node_modules/.bin:$PATH
# glibc's malloc with fixed thresholds: by default it raises them as large buffers are freed, and then
# keeps what a burst of rollouts freed (after 300 had finished, 104–114 MiB a worker against 41–46 MiB
# with these; docs/operating.md#scaling-out).
ENV MALLOC_MMAP_THRESHOLD_=131072
ENV MALLOC_TRIM_THRESHOLD_=131072
# The user deploy/ runs the pods as; nothing under /app is writable by it.
USER 65532:65532
# The worker by default; `siirto-bridge` as the command runs the bridge (deploy/base/bridge.yaml).
ENTRYPOINT []
CMD ["siirto-worker"]
