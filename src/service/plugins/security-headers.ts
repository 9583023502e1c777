/**
 * Security headers on every response with @fastify/helmet (Content-Security-Policy,
 * X-Content-Type-Options, X-Frame-Options, Referrer-Policy, Cross-Origin-*-Policy, ...).
 * The CSP is helmet's default, which the Swagger UI on /docs loads under (its scripts and styles
 * are files of its own origin, plus whatever inline hashes @fastify/swagger-ui declares),
 * without `upgrade-insecure-requests`: the service listens on plain HTTP, and that directive
 * would make a browser fetch /docs' scripts over HTTPS and fail.
 */
import type {} from '@fastify/swagger-ui';
import helmet from '@fastify/helmet';
import fp from 'fastify-plugin';

export default fp(
  async (app) => {
    const swagger = app.hasDecorator('swaggerCSP') ? app.swaggerCSP : { script: [], style: [] };
    await app.register(helmet, {
      global: true,
      contentSecurityPolicy: {
        useDefaults: true,
        directives: {
          'script-src': ["'self'", ...swagger.script],
          'style-src': ["'self'", 'https:', "'unsafe-inline'", ...swagger.style],
          'upgrade-insecure-requests': null,
        },
      },
    });
  },
  { name: 'security-headers', fastify: '5.x', dependencies: ['docs'] },
);
