#!/usr/bin/env node
// obskit-slo: Prometheus recording rules and burn-rate alerts from an SLO file.
//   obskit-slo <slo.yml> [-o rules.yml]   writes the rules (to stdout without -o)
//   obskit-slo <slo.yml> --check rules.yml exits 1 when rules.yml is not what <slo.yml> makes
import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { parseSloFile, SloFileError } from './spec.js';
import { recordedSeriesCount, sloRulesYaml } from './rules.js';

const usage = `Usage: obskit-slo <slo-file.yml> [--out rules.yml | --check rules.yml]
  Writes Prometheus recording rules (error ratios over 5m…3d and the SLO period, the error
  budget left) and multiwindow burn-rate alerts for each SLO of the file.
  --out, -o FILE   write the rules to FILE (default: standard output)
  --check FILE     exit 1 if FILE is not what the SLO file generates (for CI)`;

function main(): number {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        out: { type: 'string', short: 'o' },
        check: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    process.stderr.write(`obskit-slo: ${(error as Error).message}\n${usage}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${usage}\n`);
    return 0;
  }
  if (positionals.length !== 1 || (values.out !== undefined && values.check !== undefined)) {
    process.stderr.write(`${usage}\n`);
    return 2;
  }
  const source = positionals[0]!;
  let yaml: string;
  try {
    const text = readFileSync(source, 'utf8');
    const file = parseSloFile(text, source);
    yaml = sloRulesYaml(file, basename(source));
    if (values.check !== undefined) {
      let current = '';
      try {
        current = readFileSync(values.check, 'utf8');
      } catch {
        // missing: out of date
      }
      if (current !== yaml) {
        process.stderr.write(
          `obskit-slo: ${values.check} is out of date with ${source}; run: obskit-slo ${source} -o ${values.check}\n`,
        );
        return 1;
      }
      process.stdout.write(`${values.check} is up to date with ${source}\n`);
      return 0;
    }
    if (values.out !== undefined) {
      writeFileSync(values.out, yaml);
      process.stderr.write(
        `obskit-slo: wrote ${values.out}: ${file.slos.length} SLO(s), ${recordedSeriesCount(file)} recorded series\n`,
      );
    } else {
      process.stdout.write(yaml);
    }
    return 0;
  } catch (error) {
    const message =
      error instanceof SloFileError ? error.message : `${source}: ${(error as Error).message}`;
    process.stderr.write(`obskit-slo: ${message}\n`);
    return 1;
  }
}

process.exitCode = main();
