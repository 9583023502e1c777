import multipart from '@fastify/multipart';
import fp from 'fastify-plugin';

/** Multipart uploads, streamed (never buffered whole); each file is capped at config.maxUploadBytes. */
export default fp(
  async (app) => {
    await app.register(multipart, {
      limits: {
        fileSize: app.serviceConfig.maxUploadBytes,
        files: 2,
        fields: 4,
        parts: 6,
        fieldSize: 4096,
        headerPairs: 100,
      },
    });
  },
  { name: 'multipart', fastify: '5.x', dependencies: ['deps'] },
);
