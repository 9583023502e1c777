import multipart from '@fastify/multipart';
import fp from 'fastify-plugin';

/**
 * Multipart uploads, streamed (never buffered whole); each file is capped at config.maxUploadBytes.
 * Uploads are staged in the artifact store until complete: at start, the staging files of
 * processes killed mid-upload are removed.
 */
export default fp(
  async (app) => {
    const removed = await app.store.removeAbandoned();
    if (removed > 0) app.log.warn(`removed the staging files of ${removed} upload area(s) left by processes that no longer run`);
    await app.register(multipart, {
      limits: {
        fileSize: app.serviceConfig.maxUploadBytes,
        files: 3,
        fields: 4,
        parts: 7,
        fieldSize: 4096,
        headerPairs: 100,
      },
    });
  },
  { name: 'multipart', fastify: '5.x', dependencies: ['deps'] },
);
