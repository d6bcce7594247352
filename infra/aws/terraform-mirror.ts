// Where terraform takes the AWS provider from when it must not reach the registry: the filesystem
// mirror the project image and CI carry, named by a CLI config of its own (TF_CLI_CONFIG_FILE).
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export const PROVIDER_MIRROR = '/opt/tf-plugins';
export const AWS_PROVIDER = 'registry.terraform.io/hashicorp/aws';

/** A Terraform CLI config that takes the AWS provider from the local mirror and nothing else. */
export const MIRROR_CLI_CONFIG = `provider_installation {
  filesystem_mirror {
    path    = "${PROVIDER_MIRROR}"
    include = ["${AWS_PROVIDER}"]
  }
  direct {
    exclude = ["${AWS_PROVIDER}"]
  }
}
`;

/** True when the mirror holds the AWS provider, so MIRROR_CLI_CONFIG can install it offline. */
export function hasProviderMirror(): boolean {
  return existsSync(join(PROVIDER_MIRROR, AWS_PROVIDER));
}
