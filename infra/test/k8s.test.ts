// infra/k8s against the Kubernetes object schemas (kubernetes-models: types and required fields
// by its validators, unknown fields by TypeScript's excess-property check on the typed objects),
// and against obskit's health and metrics defaults: the probe paths, timeouts, drain and grace
// period must fit what the apps do.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments, parse } from 'yaml';
import { DEFAULT_PATHS, DEFAULTS } from '../../packages/health/src/health.js';
import { DEFAULT_METRICS_PATH } from '../../packages/metrics/src/endpoint.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = join(root, 'infra', 'k8s');

interface Doc {
  file: string;
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

const docs: Doc[] = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((file) =>
    parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map((d) => {
      expect(d.errors, file).toEqual([]);
      return { file, ...(d.toJS() as Record<string, unknown>) } as Doc;
    }),
  );

const MODELS: Record<string, { model: new (o: never) => { validate(): void }; type: string }> = {
  'apps/v1/Deployment': {
    model: Deployment as never,
    type: "import('kubernetes-models/apps/v1/Deployment').IDeployment",
  },
  'v1/Service': {
    model: Service as never,
    type: "import('kubernetes-models/v1/Service').IService",
  },
  'v1/ConfigMap': {
    model: ConfigMap as never,
    type: "import('kubernetes-models/v1/ConfigMap').IConfigMap",
  },
  'v1/Secret': { model: Secret as never, type: "import('kubernetes-models/v1/Secret').ISecret" },
  'monitoring.coreos.com/v1/ServiceMonitor': {
    model: ServiceMonitor as never,
    type: "import('@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor').IServiceMonitor",
  },
};

const byKind = (kind: string) => docs.filter((d) => d.kind === kind);
const named = (kind: string, name: string) => {
  const found = docs.find((d) => d.kind === kind && d.metadata.name === name);
  expect(found, `${kind} ${name}`).toBeDefined();
  return found as Doc;
};

interface Probe {
  httpGet: { path: string; port: string };
  periodSeconds: number;
  failureThreshold: number;
  timeoutSeconds: number;
}
interface Container {
  name: string;
  ports: { name: string; containerPort: number }[];
  env?: { name: string; value?: string }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  startupProbe: Probe;
  livenessProbe: Probe;
  readinessProbe: Probe;
  lifecycle: { preStop: { sleep: { seconds: number } } };
  resources: { requests: Record<string, string>; limits: Record<string, string> };
}
interface PodTemplate {
  metadata: { labels: Record<string, string>; annotations: Record<string, string> };
  spec: { terminationGracePeriodSeconds: number; containers: Container[] };
}
const templateOf = (d: Doc) =>
  (d.spec as { template: PodTemplate; selector: { matchLabels: Record<string, string> } }).template;

describe('infra/k8s against the Kubernetes schemas', () => {
  it('has the API and worker Deployments and Services, config, and a ServiceMonitor', () => {
    expect(docs.map((d) => `${d.kind}/${d.metadata.name}`).sort()).toEqual([
      'ConfigMap/obskit-demo',
      'Deployment/obskit-demo-api',
      'Deployment/obskit-demo-worker',
      'Secret/obskit-demo',
      'Service/obskit-demo-api',
      'Service/obskit-demo-worker',
      'ServiceMonitor/obskit-demo',
    ]);
  });

  it.each(docs.map((d) => [`${d.file}: ${d.kind} ${d.metadata.name}`, d] as const))(
    'validates %s',
    (_name, doc) => {
      const entry = MODELS[`${doc.apiVersion}/${doc.kind}`];
      expect(entry, `no schema for ${doc.apiVersion} ${doc.kind}`).toBeDefined();
      const { file: _file, ...object } = doc;
      expect(() => new entry!.model(object as never).validate()).not.toThrow();
    },
  );

  it('has no field the schemas do not know (TypeScript excess-property check)', () => {
    const work = mkdtempSync(join(root, 'infra', 'test', '.k8s-types-'));
    try {
      const lines = docs.map((doc, i) => {
        const { file: _file, ...object } = doc;
        const type = MODELS[`${doc.apiVersion}/${doc.kind}`]!.type;
        return `export const doc${i}: ${type} = ${JSON.stringify(object)};`;
      });
      writeFileSync(join(work, 'manifests.ts'), `${lines.join('\n')}\n`);
      const tsc = spawnSync(
        process.execPath,
        [
          join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
          '--noEmit',
          '--strict',
          '--skipLibCheck',
          '--module',
          'nodenext',
          '--moduleResolution',
          'nodenext',
          '--target',
          'es2022',
          join(work, 'manifests.ts'),
        ],
        { cwd: root, encoding: 'utf8' },
      );
      expect(tsc.stdout + tsc.stderr).toBe('');
      expect(tsc.status).toBe(0);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 60_000);

  it('fails the schema check for a wrong type and the type check for an unknown field', () => {
    const api = structuredClone(named('Deployment', 'obskit-demo-api'));
    const { file: _file, ...object } = api;
    (object.spec as { replicas: unknown }).replicas = 'two';
    expect(() => new Deployment(object as never).validate()).toThrow(/replicas must be integer/);
  });
});

describe('infra/k8s against obskit', () => {
  const config = named('ConfigMap', 'obskit-demo').data as Record<string, string>;

  it.each(['obskit-demo-api', 'obskit-demo-worker'])(
    '%s: probes fit the health semantics',
    (name) => {
      const template = templateOf(named('Deployment', name));
      const [container] = template.spec.containers;
      const c = container!;
      // The paths obskit serves.
      expect(c.startupProbe.httpGet.path).toBe(DEFAULT_PATHS.startup);
      expect(c.livenessProbe.httpGet.path).toBe(DEFAULT_PATHS.live);
      expect(c.readinessProbe.httpGet.path).toBe(DEFAULT_PATHS.ready);
      // Readiness: the checks run concurrently, each under its timeout: the probe's timeout leaves
      // room for them, and a failing dependency takes the pod out within 15 s.
      expect(c.readinessProbe.timeoutSeconds * 1000).toBeGreaterThanOrEqual(DEFAULTS.timeoutMs * 3);
      expect(
        c.readinessProbe.periodSeconds * c.readinessProbe.failureThreshold,
      ).toBeLessThanOrEqual(15);
      // Liveness never checks dependencies; it tolerates a long pause before a restart.
      expect(
        c.livenessProbe.periodSeconds * c.livenessProbe.failureThreshold,
      ).toBeGreaterThanOrEqual(20);
      // Startup: time to start before liveness applies.
      expect(c.startupProbe.periodSeconds * c.startupProbe.failureThreshold).toBeGreaterThanOrEqual(
        30,
      );
      // Probes and annotations name the container's own port.
      const ports = new Map(c.ports.map((p) => [p.name, p.containerPort]));
      for (const probe of [c.startupProbe, c.livenessProbe, c.readinessProbe])
        expect(ports.has(probe.httpGet.port)).toBe(true);
      const annotations = template.metadata.annotations;
      expect(annotations['prometheus.io/scrape']).toBe('true');
      expect(annotations['prometheus.io/path']).toBe(DEFAULT_METRICS_PATH);
      expect([...ports.values()]).toContain(Number(annotations['prometheus.io/port']));
      expect(c.resources.requests).toHaveProperty('cpu');
      expect(c.resources.requests).toHaveProperty('memory');
      expect(c.resources.limits).toHaveProperty('memory');
    },
  );

  it.each(['obskit-demo-api', 'obskit-demo-worker'])(
    '%s: the preStop delay and the drain add up to obskit’s drain, inside the grace period',
    (name) => {
      const template = templateOf(named('Deployment', name));
      const c = template.spec.containers[0]!;
      const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
      const preStopMs = c.lifecycle.preStop.sleep.seconds * 1000;
      const drainMs = Number(config.OBSKIT_DRAIN_DELAY_MS);
      // The time traffic gets to move away is obskit's default drain, whichever part waits.
      expect(preStopMs + drainMs).toBe(DEFAULTS.drainDelayMs);
      // The app's shutdown limit, and the kubelet's: preStop counts against the grace period.
      const shutdownMs = Number(env.OBSKIT_SHUTDOWN_TIMEOUT_MS ?? DEFAULTS.shutdownTimeoutMs);
      expect(shutdownMs).toBe(DEFAULTS.shutdownTimeoutMs);
      expect(template.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(
        preStopMs + shutdownMs,
      );
      // Both apps read their settings from the ConfigMap and the Secret.
      expect(c.envFrom?.map((e) => e.configMapRef?.name ?? e.secretRef?.name)).toEqual([
        'obskit-demo',
        'obskit-demo',
      ]);
    },
  );

  it('Services select their Deployments, and the ServiceMonitor scrapes their named ports', () => {
    for (const name of ['obskit-demo-api', 'obskit-demo-worker']) {
      const deployment = named('Deployment', name);
      const spec = deployment.spec as { selector: { matchLabels: Record<string, string> } };
      expect(templateOf(deployment).metadata.labels).toMatchObject(spec.selector.matchLabels);
      const service = named('Service', name).spec as {
        selector: Record<string, string>;
        ports: { name: string; targetPort: string }[];
      };
      expect(templateOf(deployment).metadata.labels).toMatchObject(service.selector);
      const containerPorts = templateOf(deployment).spec.containers[0]!.ports.map((p) => p.name);
      for (const port of service.ports) expect(containerPorts).toContain(port.targetPort);
    }
    const monitor = byKind('ServiceMonitor')[0]!.spec as {
      selector: { matchLabels: Record<string, string> };
      endpoints: { port: string; path: string }[];
    };
    const servicePorts = byKind('Service').flatMap((s) =>
      (s.spec as { ports: { name: string }[] }).ports.map((p) => p.name),
    );
    for (const endpoint of monitor.endpoints) {
      expect(servicePorts).toContain(endpoint.port);
      expect(endpoint.path).toBe(DEFAULT_METRICS_PATH);
    }
    for (const service of byKind('Service'))
      expect(service.metadata.labels).toMatchObject(monitor.selector.matchLabels);
  });

  it('prometheus-scrape.yml keeps the annotated pods and names them as the alerts expect', () => {
    // Debian's promtool is built without Kubernetes discovery, so this file is checked here.
    const config = parse(readFileSync(join(dir, 'prometheus-scrape.yml'), 'utf8')) as {
      scrape_configs: {
        kubernetes_sd_configs: { role: string }[];
        relabel_configs: { source_labels?: string[]; regex?: string; target_label?: string }[];
      }[];
    };
    const [job] = config.scrape_configs;
    expect(job!.kubernetes_sd_configs).toEqual([{ role: 'pod' }]);
    for (const rule of job!.relabel_configs)
      if (rule.regex) expect(() => new RegExp(rule.regex!)).not.toThrow();
    const targets = job!.relabel_configs.map((r) => r.target_label);
    expect(targets).toEqual(
      expect.arrayContaining(['service', 'job', '__metrics_path__', '__address__']),
    );
    const annotation = (key: string) => `__meta_kubernetes_pod_annotation_prometheus_io_${key}`;
    const sources = job!.relabel_configs.flatMap((r) => r.source_labels ?? []);
    for (const key of ['scrape', 'path', 'port']) expect(sources).toContain(annotation(key));
    // The `job` relabelling gives the dashboard's job names from the apps' names.
    const jobRule = job!.relabel_configs.find((r) => r.target_label === 'job')!;
    expect('obskit-demo-worker'.replace(new RegExp(`^${jobRule.regex}$`), '$1')).toBe('worker');
  });
});
