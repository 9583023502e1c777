/** OpenAPI from the route schemas: the UI on /docs, the document on /docs/json. */
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import fp from 'fastify-plugin';

export default fp(
  async (app) => {
    await app.register(swagger, {
      openapi: {
        // 3.1: its schemas are JSON Schema 2020-12, which the TypeBox route schemas are written in
        // (numeric exclusiveMinimum, type 'null' in unions); 3.0 would need them rewritten
        openapi: '3.1.0',
        info: {
          title: 'distilxr',
          description: 'Train extreme multi-label retrievers by distilling an ONNX teacher into a fast student; query them top-k.',
          version: '0.1.0',
        },
        components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'one of API_KEYS (when set)' } } },
        security: [{ bearer: [] }],
        tags: [
          { name: 'datasets', description: 'training data: XC format or JSONL text' },
          { name: 'teachers', description: 'ONNX teachers, uploaded or fitted' },
          { name: 'jobs', description: 'training jobs' },
          { name: 'models', description: 'trained retrievers' },
          { name: 'health', description: 'liveness and readiness' },
        ],
      },
    });
    await app.register(swaggerUi, { routePrefix: '/docs' });
  },
  { name: 'docs', fastify: '5.x' },
);
