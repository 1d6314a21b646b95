// An OTLP/HTTP trace receiver in a process of its own, for the span export configurations: it
// accepts http/protobuf (obskit's default) and http/json, counts the spans of each request by
// walking the protobuf (ExportTraceServiceRequest → ResourceSpans → ScopeSpans → Span), and
// answers GET /stats with what it saw. Prints `RECEIVER <port>` when it listens.
import { createServer } from 'node:http';

function varint(buf, pos) {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = buf[pos++];
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return [value, pos];
    shift += 7;
  }
}

// The length-delimited fields numbered `field` of one protobuf message.
function* fields(buf, start, end, field) {
  let pos = start;
  while (pos < end) {
    let key;
    [key, pos] = varint(buf, pos);
    const type = key & 7;
    if (type === 0) [, pos] = varint(buf, pos);
    else if (type === 1) pos += 8;
    else if (type === 5) pos += 4;
    else if (type === 2) {
      let length;
      [length, pos] = varint(buf, pos);
      if (key >>> 3 === field) yield [pos, pos + length];
      pos += length;
    } else throw new Error(`unsupported protobuf wire type ${type}`);
  }
}

function countProtobuf(buf) {
  let spans = 0;
  for (const [rs, rsEnd] of fields(buf, 0, buf.length, 1))
    for (const [ss, ssEnd] of fields(buf, rs, rsEnd, 2))
      for (const _ of fields(buf, ss, ssEnd, 2)) spans++;
  return spans;
}

function countJson(buf) {
  const body = JSON.parse(buf.toString());
  let spans = 0;
  for (const rs of body.resourceSpans ?? [])
    for (const ss of rs.scopeSpans ?? []) spans += (ss.spans ?? []).length;
  return spans;
}

const stats = { requests: 0, spans: 0, bytes: 0, errors: 0 };
const server = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/stats') {
    res.setHeader('content-type', 'application/json').end(JSON.stringify(stats));
    return;
  }
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const buf = Buffer.concat(chunks);
    try {
      const json = (req.headers['content-type'] ?? '').includes('json');
      stats.spans += json ? countJson(buf) : countProtobuf(buf);
      stats.requests++;
      stats.bytes += buf.length;
      res.statusCode = 200;
      res.setHeader('content-type', json ? 'application/json' : 'application/x-protobuf');
      res.end(json ? '{}' : '');
    } catch {
      stats.errors++;
      res.statusCode = 400;
      res.end();
    }
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`RECEIVER ${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
process.on('disconnect', () => process.exit(0));
