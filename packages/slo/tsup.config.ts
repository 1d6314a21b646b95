import { defineConfig } from 'tsup';
import { packageConfig } from '../../tsup.shared';

// The library, and the `obskit-slo` command (dist/cli.js, with its shebang).
const config = packageConfig();
export default defineConfig({ ...config, entry: [...(config.entry as string[]), 'src/cli.ts'] });
