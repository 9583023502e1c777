# distilxr API or worker (same image; the command picks the role): compiled JavaScript on Node 22
# with production dependencies only; no tsx, TypeScript sources, tests or benches.
ARG NODE_IMAGE=node:22-bookworm-slim

# hnswlib-node builds a native addon at install time.
FROM ${NODE_IMAGE} AS toolchain
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
# postinstall rebuilds hnswlib-node for a CPU's vector instructions (scripts/native-hnswlib.mjs); an
# image runs on machines other than the one that built it, so it targets x86-64-v3 (AVX2, FMA: every
# x86 server CPU since 2015), not -march=native (a build machine without them keeps the portable build).
ENV DISTILXR_HNSW_MARCH=x86-64-v3
COPY package.json package-lock.json ./
COPY scripts/prisma-generate.mjs scripts/native-hnswlib.mjs scripts/

# All dependencies: postinstall generates the Prisma client into src/generated, then tsc compiles
# it with the rest of src/ to dist/.
FROM toolchain AS build
COPY prisma prisma
COPY prisma.config.ts tsconfig.json tsconfig.build.json ./
RUN npm ci --no-audit --no-fund
COPY src src
# npm run build copies the dashboard's static files next to the compiled plugin
COPY scripts/copy-dashboard.mjs scripts/copy-dashboard.mjs
RUN npm run build

# Production dependencies only. The prisma CLI and typescript are also optional peers of
# @prisma/client, which --omit=dev alone still installs: --omit=optional drops them (and only
# msgpackr-extract, msgpackr's native speed-up, among the production packages). Without the CLI,
# postinstall skips generate.
FROM toolchain AS deps
# onnxruntime-node ships its binaries for every OS (288 MB): the image keeps Linux's (69 MB).
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund && npm cache clean --force \
 && rm -rf node_modules/onnxruntime-node/bin/napi-v*/darwin node_modules/onnxruntime-node/bin/napi-v*/win32

FROM ${NODE_IMAGE}
WORKDIR /app
ENV NODE_ENV=production DATA_DIR=/data PORT=8080 HOST=0.0.0.0
COPY package.json package-lock.json ./
COPY --from=deps /app/node_modules node_modules
COPY --from=build /app/dist dist
# Read at run time by dist/infra/db/migrate.js (../../../prisma/migrations).
COPY prisma/migrations prisma/migrations
# `npx distilxr` runs dist/ here, since tsx is not installed.
COPY bin bin
VOLUME /data
EXPOSE 8080
ENTRYPOINT ["node", "dist/cli/distilxr.js"]
CMD ["serve"]
