/**
 * OpenAPI 3 from the routes' JSON schemas (@fastify/swagger), served with its UI at /docs and as JSON at
 * /docs/json. Registered before the routes so every one of them is collected.
 */
import type { FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';

export async function registerDocs(app: FastifyInstance, prefix: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'coalflow API',
        description:
          '鄂尔多斯煤炭产业场景公共数据授权运营接口：指标、预测、实时推送与运营管理。认证：Authorization: Bearer <key> 或 X-API-Key。错误为 application/problem+json，含稳定 code。 / ' +
          'Ordos coal-industry public-data API: indicators, forecasts, live stream and operations. Authenticate with Authorization: Bearer <key> or X-API-Key. Errors are application/problem+json with a stable code.',
        version: '1.0.0',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer' },
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
        },
      },
      security: [{ bearer: [] }, { apiKey: [] }],
    },
  });
  await app.register(swaggerUi, { routePrefix: prefix });
}
