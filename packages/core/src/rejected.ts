// Requests a framework answers itself, before any hook runs (Fastify's `frameworkErrors`: a
// malformed URL, an overlong parameter). Each obskit feature registers, per app, the step it runs
// when a request starts; the framework adapter runs the same steps for such a request before it
// answers, so it still gets its request id, is counted and access-logged.

type Step = (request: never, reply: never) => void;

const steps = new WeakMap<object, Step[]>();

/** Registers `step` (what the feature's request-start hook does) for `app`'s rejected requests. */
export function addRejectedRequestStep<Request, Reply>(
  app: object,
  step: (request: Request, reply: Reply) => void,
): void {
  let list = steps.get(app);
  if (list === undefined) steps.set(app, (list = []));
  list.push(step as Step);
}

/** The steps registered for `app`, in registration order. */
export function rejectedRequestSteps<Request, Reply>(
  app: object,
): readonly ((request: Request, reply: Reply) => void)[] {
  return (steps.get(app) ?? []) as unknown as ((request: Request, reply: Reply) => void)[];
}
