/**
 * `bastion doctor`: checks a configuration (config-checks.ts), the database it names
 * (database.ts, read-only) and, given a URL, the running instance (instance.ts). Returns
 * the findings; printing them is the CLI's part.
 */
import type { Config } from '../config/load.ts';
import { systemClock, type Clock } from '../lib/clock.ts';
import { configFindings } from './config-checks.ts';
import { databaseChecks } from './database.ts';
import type { Finding } from './findings.ts';
import { instanceFindings, probeInstance } from './instance.ts';

export interface DoctorOptions {
  /** a running instance to probe (`--url`) */
  readonly url?: string | null;
  /** this machine's clock, against which the database's and the instance's are read */
  readonly clock?: Clock;
}

export async function runDoctor(config: Config, options: DoctorOptions = {}): Promise<Finding[]> {
  const clock = options.clock ?? systemClock;
  const fromConfig = configFindings(config);
  const database = await databaseChecks(config, clock);
  if (!options.url) return [...fromConfig, ...database.findings];
  const probe = await probeInstance(options.url, clock);
  const fromInstance = instanceFindings(config, options.url, probe, database.clock);
  // the instance shows whether /metrics is public: its answer replaces the guess from the settings
  const seen = fromInstance.some((f) => f.check === 'metrics-public') || (probe.reachable && !probe.metricsPublic);
  return [...fromConfig.filter((f) => !(seen && f.check === 'metrics-public')), ...database.findings, ...fromInstance];
}
