-- AlterTable
ALTER TABLE "jobs" ADD COLUMN     "heartbeat_at" TIMESTAMPTZ(3);

-- CreateTable
CREATE TABLE "install" (
    "id" TEXT NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "install_pkey" PRIMARY KEY ("id")
);

-- This database's identity: made once, here, so every process that opens the database agrees on it
INSERT INTO "install" ("id") VALUES (gen_random_uuid()::text);
