-- AlterTable
ALTER TABLE "datasets" ADD COLUMN     "test_sha256" TEXT,
ADD COLUMN     "train_sha256" TEXT;

-- AlterTable
ALTER TABLE "teachers" ADD COLUMN     "sha256" TEXT;
