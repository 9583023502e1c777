import { defineConfig } from 'prisma/config';

// The service itself connects through a driver adapter (src/infra/db/db.ts) and applies migrations
// with src/infra/db/migrate.ts; this file only serves the Prisma CLI (`prisma generate`, and
// `prisma migrate deploy` where the native engine is available). `env()` would throw when
// DATABASE_URL is unset, which `prisma generate` does not need.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: {
    url: process.env.DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/distilxr',
  },
});
