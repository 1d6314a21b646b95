// Route templates matched against request paths, for decisions an Express adapter makes before
// Express has routed the request (Fastify knows the template when a request starts).

type Segment = { kind: 'literal'; text: string } | { kind: 'param' } | { kind: 'rest' };

function parse(template: string): Segment[] {
  return template
    .split('/')
    .filter((part) => part !== '')
    .map((part): Segment => {
      if (part === '*' || part.startsWith('*') || /^\{\*[^}]*\}$/.test(part))
        return { kind: 'rest' };
      if (part.startsWith(':')) return { kind: 'param' };
      return { kind: 'literal', text: part };
    });
}

function matches(segments: Segment[], parts: string[]): boolean {
  for (let i = 0; i < segments.length; i++) {
    const segment = segments[i] as Segment;
    if (segment.kind === 'rest') return true;
    const part = parts[i];
    if (part === undefined) return false;
    if (segment.kind === 'literal' && segment.text !== part) return false;
  }
  return parts.length === segments.length;
}

/**
 * A matcher for route templates: literal segments, `:name` for one segment, and a trailing
 * `*`, `*name` or `{*name}` for the rest of the path. `/users/:id` matches `/users/42`, not
 * `/users/42/orders`.
 */
export function routeTemplateMatcher(templates: readonly string[]): (path: string) => boolean {
  if (templates.length === 0) return () => false;
  const exact = new Set<string>();
  const patterns: Segment[][] = [];
  for (const template of templates) {
    const segments = parse(template);
    if (segments.every((s) => s.kind === 'literal')) {
      exact.add(`/${segments.map((s) => (s as { text: string }).text).join('/')}`);
    } else patterns.push(segments);
  }
  return (path) => {
    const normalized = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
    if (exact.has(normalized)) return true;
    if (patterns.length === 0) return false;
    const parts = normalized.split('/').filter((part) => part !== '');
    return patterns.some((segments) => matches(segments, parts));
  };
}
