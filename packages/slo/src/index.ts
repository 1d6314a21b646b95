export {
  DEFAULT_HTTP_BUCKETS,
  DEFAULT_RUNBOOK,
  parseSloFile,
  SloFileError,
  validateSloFile,
} from './spec.js';
export type { Slo, SloFile, SliKind } from './spec.js';
export {
  ALERT_NAME,
  BURN_ALERTS,
  budgetOf,
  burnRate,
  errorRatioExpr,
  hoursOf,
  RECORD,
  recordedSeriesCount,
  sloRuleGroups,
  sloRulesYaml,
  WINDOWS,
} from './rules.js';
