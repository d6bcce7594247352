// Where the AWS lab's settings live: the user's config/infra.yaml (relative to the working
// directory) and the example shipped with the package. Apart from props.ts so that the
// command's help names them without loading the settings' schema.
export const DEFAULT_CONFIG_PATH = 'config/infra.yaml';
export const EXAMPLE_CONFIG_PATH = 'config/infra.example.yaml';
/** Where `infra deploy --rehearsal` keeps its files: beside config/servers.yaml, never over it. */
export const DEFAULT_REHEARSAL_DIR = 'config/rehearsal';
/**
 * Set by a sweep's lane (experiments/sweep/lane-stack.ts) for cdktf: the file of its stack's
 * Terraform state. Unset, the state is cdktf's default, terraform.<prefix>.tfstate in the package.
 */
export const STATE_PATH_ENV = 'CRIU_LAB_TERRAFORM_STATE';
