-- AlterTable
ALTER TABLE "datasets" ADD COLUMN     "deleted_at" TIMESTAMPTZ(3);

-- AlterTable
ALTER TABLE "jobs" ADD COLUMN     "retry_of" TEXT;

-- AlterTable
ALTER TABLE "teachers" ADD COLUMN     "deleted_at" TIMESTAMPTZ(3);

-- CreateIndex
CREATE UNIQUE INDEX "jobs_retry_of_key" ON "jobs"("retry_of");

-- AddForeignKey
ALTER TABLE "jobs" ADD CONSTRAINT "jobs_retry_of_fkey" FOREIGN KEY ("retry_of") REFERENCES "jobs"("id") ON DELETE SET NULL ON UPDATE CASCADE;
