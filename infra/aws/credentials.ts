// Deploy and destroy need AWS credentials; find out before cdktf starts, and say how to get them.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../core/errors.js';

const CREDENTIAL_VARIABLES = [
  'AWS_ACCESS_KEY_ID',
  'AWS_PROFILE',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
] as const;

/** Where credentials would come from (an env variable or a file), or undefined when nowhere. */
export function findAwsCredentials(env: Readonly<Record<string, string | undefined>> = process.env, home: string = homedir()): string | undefined {
  const variable = CREDENTIAL_VARIABLES.find((name) => (env[name] ?? '') !== '');
  if (variable) return `$${variable}`;
  const files = [env.AWS_SHARED_CREDENTIALS_FILE, join(home, '.aws', 'credentials'), env.AWS_CONFIG_FILE, join(home, '.aws', 'config')];
  return files.find((file): file is string => file !== undefined && existsSync(file));
}

export function requireAwsCredentials(env: Readonly<Record<string, string | undefined>> = process.env, home: string = homedir()): string {
  const source = findAwsCredentials(env, home);
  if (source === undefined) {
    throw new UsageError(
      `no AWS credentials found (looked at ${CREDENTIAL_VARIABLES.map((v) => `$${v}`).join(', ')}, ~/.aws/credentials and ~/.aws/config); ` +
        'fix: `aws configure` (access keys), or `aws configure sso` then `export AWS_PROFILE=<profile>`, ' +
        'or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
    );
  }
  return source;
}
