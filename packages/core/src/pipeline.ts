import type { IncomingMessage, ServerResponse } from 'node:http';
import { pathOf } from './labels.js';
import { requestContextOf, runInRequestContext, type RequestRecord } from './request.js';
import { whenResponseDone } from './response.js';

/**
 * The fixed places of the features' steps, so that the order never depends on the order the
 * features were registered in. Begin: request id ─► server span ─► in flight +1 ─► drain
 * tracking ─► access line. End: metrics ─► span ─► access line ─► drain tracking.
 */
export const STEP = Object.freeze({
  requestId: 10,
  span: 20,
  metrics: 30,
  drain: 40,
  accessLog: 50,
});
const END_ORDER: Record<number, number> = {
  [STEP.requestId]: 0,
  [STEP.metrics]: 1,
  [STEP.span]: 2,
  [STEP.accessLog]: 3,
  [STEP.drain]: 4,
};

/**
 * One feature's part of the request pipeline. `begin` runs when the request starts, with the raw
 * request and response, the record, and the framework's own request and reply (Fastify's; the
 * raw ones on Express); `end` runs once when the response is done, with the raw request and
 * response and the record (`record.statusCode`, `record.outcome`, `record.route` are set by then).
 */
export interface PipelineStep<Request = unknown, Reply = unknown> {
  /** A place from `STEP`. */
  readonly order: number;
  /** Whether the step reads `record.route` (made only when one does: Fastify's getter allocates). */
  readonly route?: boolean;
  begin?(
    req: IncomingMessage,
    res: ServerResponse,
    record: RequestRecord,
    request: Request,
    reply: Reply,
  ): void;
  end?(req: IncomingMessage, res: ServerResponse, record: RequestRecord): void;
}

/** How the pipeline reaches the raw request and response and the route of a framework. */
export interface PipelineAdapter<Request, Reply> {
  raw(request: Request): IncomingMessage;
  rawReply(reply: Reply): ServerResponse;
  /** The matched route template when the request starts (Fastify), if the framework knows it then. */
  routeAtBegin?(request: Request): string | undefined;
  /** The matched route template when the response is done (Express). */
  routeAtEnd?(req: IncomingMessage): string | undefined;
}

/**
 * Runs the rest of the request inside its context; tracing replaces it to enter the server
 * span's context as well.
 */
export type EnterRequest = (req: IncomingMessage, record: RequestRecord, next: () => void) => void;

const enterContext: EnterRequest = (req, _record, next) => runInRequestContext(req, next);

/**
 * The request pipeline of one app: the features register their steps, the framework adapter
 * calls `begin` once per request (one Fastify `onRequest` hook, one Express middleware) and the
 * end steps run from one listener set on the response. It also keeps the app's own endpoints
 * (the probes, `/metrics`, intakes): every feature asks `record.endpoint`, set here.
 */
export class RequestPipeline<Request, Reply> {
  private begins: PipelineStep<Request, Reply>[] = [];
  private ends: PipelineStep<Request, Reply>[] = [];
  private endpoints = new Set<string>();
  private enterRequest: EnterRequest = enterContext;
  private needsRoute = false;

  constructor(private readonly adapter: PipelineAdapter<Request, Reply>) {}

  /** Adds a feature's steps at its fixed place. */
  add(step: PipelineStep<Request, Reply>): void {
    if (step.route === true) this.needsRoute = true;
    if (step.begin !== undefined) {
      this.begins = [...this.begins, step as PipelineStep<Request, Reply>].sort(
        (a, b) => a.order - b.order,
      );
    }
    if (step.end !== undefined) {
      this.ends = [...this.ends, step as PipelineStep<Request, Reply>].sort(
        (a, b) => (END_ORDER[a.order] ?? a.order) - (END_ORDER[b.order] ?? b.order),
      );
    }
  }

  /** Registers `path` as one of this app's obskit endpoints, for every method. */
  addEndpoint(path: string): void {
    this.endpoints.add(path);
  }

  /** Shares `set` as this pipeline's endpoints (its own are added to it). */
  useEndpoints(set: Set<string>): void {
    for (const path of this.endpoints) set.add(path);
    this.endpoints = set;
  }

  /** Whether `path` (without the query) is one of this app's obskit endpoints. */
  isEndpoint(path: string): boolean {
    return this.endpoints.has(path);
  }

  /** How the rest of the request is entered (tracing sets it). */
  setEnter(enter: EnterRequest): void {
    this.enterRequest = enter;
  }

  /** Whether any step was added. */
  get empty(): boolean {
    return this.begins.length === 0 && this.ends.length === 0;
  }

  /** Starts the request: its record, the begin steps in order, the end steps when it is done. */
  begin(request: Request, reply: Reply): RequestRecord {
    const req = this.adapter.raw(request);
    const res = this.adapter.rawReply(reply);
    const record = requestContextOf(req);
    record.start = performance.now();
    if (this.endpoints.size > 0) {
      const path = pathOf(req.url);
      if (this.endpoints.has(path)) record.endpoint = path;
    }
    if (this.needsRoute && this.adapter.routeAtBegin !== undefined) {
      record.route = this.adapter.routeAtBegin(request);
    }
    const begins = this.begins;
    for (let i = 0; i < begins.length; i++) {
      (begins[i] as PipelineStep<Request, Reply>).begin!(req, res, record, request, reply);
    }
    if (this.ends.length > 0) whenResponseDone(req, res, record, this);
    return record;
  }

  /** Runs `next` inside the request's context (and its span's, with tracing). */
  enter(req: IncomingMessage, record: RequestRecord, next: () => void): void {
    this.enterRequest(req, record, next);
  }

  /** The end steps, once the response is done (called by the response's listener set). */
  end(req: IncomingMessage, res: ServerResponse, record: RequestRecord): void {
    if (this.needsRoute && this.adapter.routeAtEnd !== undefined && record.route === undefined) {
      record.route = this.adapter.routeAtEnd(req);
    }
    const ends = this.ends;
    let failed = false;
    let failure: unknown;
    for (let i = 0; i < ends.length; i++) {
      try {
        (ends[i] as PipelineStep<Request, Reply>).end!(req, res, record);
      } catch (e) {
        if (!failed) {
          failed = true;
          failure = e;
        }
      }
    }
    if (failed) throw failure;
  }
}

/**
 * The route a request is recorded under: the endpoint's path for one of obskit's own endpoints
 * (when they are recorded at all), else the matched template.
 */
export function recordedRoute(record: RequestRecord): string | undefined {
  return record.endpoint ?? record.route;
}
