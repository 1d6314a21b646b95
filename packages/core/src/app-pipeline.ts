import type { IncomingMessage, ServerResponse } from 'node:http';
import { expressRouteTemplate } from './express-route.js';
import { RequestPipeline, type EnterRequest, type PipelineStep } from './pipeline.js';
import { noteRequestError } from './request-error.js';

// Structural types: core imports no framework.
interface FastifyRequestLike {
  raw: IncomingMessage;
  routeOptions: { url?: string };
}
interface FastifyReplyLike {
  raw: ServerResponse;
}
type Done = (err?: Error) => void;
interface FastifyLike {
  addHook(name: string, hook: (...args: never[]) => void): unknown;
}

export type FastifyPipeline<
  Request extends FastifyRequestLike = FastifyRequestLike,
  Reply extends FastifyReplyLike = FastifyReplyLike,
> = RequestPipeline<Request, Reply>;

const fastifyAdapter = {
  raw: (request: FastifyRequestLike) => request.raw,
  rawReply: (reply: FastifyReplyLike) => reply.raw,
  routeAtBegin: (request: FastifyRequestLike) => request.routeOptions.url,
};

const pipelines = new WeakMap<object, RequestPipeline<FastifyRequestLike, FastifyReplyLike>>();

/**
 * The request pipeline of a Fastify app, made on first use with the one `onRequest` hook (and the
 * one `onError` hook) that runs it for every obskit feature registered on the app.
 */
export function fastifyPipeline<
  Request extends FastifyRequestLike = FastifyRequestLike,
  Reply extends FastifyReplyLike = FastifyReplyLike,
>(instance: object): FastifyPipeline<Request, Reply> {
  const app = instance as FastifyLike;
  let pipeline = pipelines.get(app);
  if (pipeline === undefined) {
    const made = new RequestPipeline<FastifyRequestLike, FastifyReplyLike>(fastifyAdapter);
    pipeline = made;
    pipelines.set(app, made);
    app.addHook('onRequest', (request: FastifyRequestLike, reply: FastifyReplyLike, next: Done) => {
      made.enter(request.raw, made.begin(request, reply), next);
    });
    app.addHook(
      'onError',
      (request: FastifyRequestLike, _reply: unknown, error: Error, next: Done) => {
        noteRequestError(request.raw, error);
        next();
      },
    );
  }
  return pipeline as unknown as FastifyPipeline<Request, Reply>;
}

/**
 * For a request Fastify answers before any hook runs (its `frameworkErrors`: a malformed URL, an
 * overlong parameter): the begin steps of the app's pipeline, so that it still gets its id, is
 * counted and access-logged.
 */
export function beginRejectedRequest(
  app: object,
  request: FastifyRequestLike,
  reply: FastifyReplyLike,
): void {
  pipelines.get(app)?.begin(request, reply);
}

export type ExpressPipeline = RequestPipeline<IncomingMessage, ServerResponse>;
export type ExpressStep = PipelineStep<IncomingMessage, ServerResponse>;

const expressAdapter = {
  raw: (req: IncomingMessage) => req,
  rawReply: (res: ServerResponse) => res,
  routeAtEnd: expressRouteTemplate,
};

/** A request pipeline for Express (one per `obskit()` middleware). */
export function expressPipeline(): ExpressPipeline {
  return new RequestPipeline(expressAdapter);
}

/**
 * What an Express feature adds to a pipeline: its steps, the endpoints it serves and, for those,
 * the handler that answers them (`true` when it answered, else the request goes on).
 */
export interface ExpressFeature {
  steps: ExpressStep[];
  endpoints?: string[];
  /** How the rest of the request is entered (tracing: inside the server span). */
  enter?: EnterRequest;
  serve?(req: IncomingMessage, res: ServerResponse, next: (err?: unknown) => void): boolean;
}

// Express features used alone, each as its own middleware, share one set of endpoints per
// process: their middleware cannot know which app mounts them. The obskit umbrella and every
// Fastify app keep their own.
const standalone = new Set<string>();

/**
 * Registers `path` as an obskit endpoint of an Express app: in `owner`'s pipeline (the obskit
 * middleware, `o`) when given, else among the endpoints of the features used alone.
 */
export function addExpressEndpoint(path: string, owner?: { pipeline?: ExpressPipeline }): void {
  if (owner?.pipeline !== undefined) owner.pipeline.addEndpoint(path);
  else standalone.add(path);
}

type Middleware = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (err?: unknown) => void,
) => void;

/**
 * One middleware for `features`, run through one pipeline: the begin steps, then the request
 * inside its context; a request to one of their endpoints is answered by the feature that serves
 * it. `shared` (the default for a feature used alone) uses the process's set of endpoints of
 * features used alone.
 */
export function expressMiddleware(
  features: ExpressFeature[],
  pipeline: ExpressPipeline = expressPipeline(),
  shared = true,
): Middleware & { pipeline: ExpressPipeline } {
  for (const feature of features) {
    for (const step of feature.steps) pipeline.add(step);
    if (feature.enter !== undefined) pipeline.setEnter(feature.enter);
    for (const path of feature.endpoints ?? []) {
      pipeline.addEndpoint(path);
      if (shared) standalone.add(path);
    }
  }
  if (shared) pipeline.useEndpoints(standalone);
  const servers = features.filter((f) => f.serve !== undefined);
  const middleware = ((req, res, next) => {
    const record = pipeline.begin(req, res);
    if (record.endpoint !== undefined && servers.length > 0) {
      pipeline.enter(req, record, () => {
        for (const feature of servers) if (feature.serve!(req, res, next)) return;
        next();
      });
      return;
    }
    pipeline.enter(req, record, next);
  }) as Middleware & { pipeline: ExpressPipeline };
  middleware.pipeline = pipeline;
  return middleware;
}
