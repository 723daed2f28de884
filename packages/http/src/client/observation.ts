import type { CallObservation } from '@meshkit/client';
import type { HttpRequest } from '../types.ts';

/** How the HTTP client describes its calls to observers: the method and the request's route template. */
export const httpObservation: CallObservation<HttpRequest> = {
  protocol: 'http',
  describe: (req) => ({ method: req.method, route: req.route }),
};
