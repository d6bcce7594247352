// Boot scripts for the bastion and the nodes, rendered at synth time. Nodes run
// scripts/setup-host.sh embedded verbatim (one script for lab hosts and cloud nodes), then
// mount EFS and their EBS volume. Both print their SSH host keys and the outcome to the serial
// console, where `infra deploy` reads them through the EC2 API to pin the keys.
import { assetPath } from '../../core/package-root.js';
import { readFileSync } from 'node:fs';
import { Token } from 'cdktf';

/** Every line the boot scripts write to the console starts with this. */
export const BOOT_MARKER = 'criu-lab-boot:';
export const BOOTSTRAP_LOG = '/var/log/criu-lab-bootstrap.log';
export const EFS_MOUNT_OPTIONS = 'nfsvers=4.1,rsize=1048576,wsize=1048576,hard,timeo=600,retrans=2,noresvport';
/** EC2 refuses user data above 16 KiB. */
export const USER_DATA_LIMIT_BYTES = 16 * 1024;
export const SETUP_HOST_PATH = assetPath('scripts/setup-host.sh');

const HEREDOC_END = 'CRIU_LAB_SETUP_HOST_EOF';

export interface NodeBootstrapProps {
  /** The text of scripts/setup-host.sh. */
  readonly setupHostScript: string;
  /** The image's login user (admin on Debian): cloud-init put the operator's public key there. */
  readonly loginUser: string;
  /** Debian packages only cloud nodes need (nfs-common for EFS, awscli for S3 and EBS). */
  readonly cloudPackages: readonly string[];
  /** The zone-local mount target address (may be a Terraform token) and the mount path. */
  readonly efs?: { readonly address: string; readonly mountPath: string };
  /** The volume id (may be a Terraform token) and the mount path. */
  readonly ebs?: { readonly volumeId: string; readonly mountPath: string };
}

export function readSetupHostScript(path: string = SETUP_HOST_PATH): string {
  return readFileSync(path, 'utf8');
}

/**
 * Terraform reads every string in the synthesized JSON as a template: literal `${` and `%{`
 * (bash parameter expansions) must be doubled, or Terraform would try to interpolate them.
 */
export function escapeTerraformTemplate(text: string): string {
  return text.replace(/\$\{/g, () => '$${').replace(/%\{/g, () => '%%{');
}

function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

const PREAMBLE = `set -euo pipefail
exec >>${BOOTSTRAP_LOG} 2>&1
step=start
console() { printf '${BOOT_MARKER} %s\\n' "$*" >/dev/console; }
# Runs on every exit: the deploy reads these lines to pin host keys and to know the outcome.
report() {
  local status=$? key
  for key in /etc/ssh/ssh_host_*_key.pub; do
    if [ -f "$key" ]; then console "host-key $(cut -d' ' -f1,2 "$key")"; fi
  done
  if [ "$status" = 0 ]; then
    console ready
  else
    # The log's tail goes first, so the deploy that reads the failed line has it too.
    tail -n 15 ${BOOTSTRAP_LOG} | while IFS= read -r line; do console "log $line"; done
    console "failed step=$step exit=$status log=${BOOTSTRAP_LOG}"
  fi
}
trap report EXIT
`;

const WAIT_FOR_APT = `step=wait-for-apt
# Debian's apt timers fire on first boot; let a running one finish instead of racing it.
systemctl stop apt-daily.timer apt-daily-upgrade.timer || true
for _ in $(seq 120); do
  systemctl is-active --quiet apt-daily.service apt-daily-upgrade.service || break
  sleep 5
done
printf 'DPkg::Lock::Timeout "600";\\n' >/etc/apt/apt.conf.d/90criu-lab-lock-timeout
`;

// CRIU, mount and the image directories need root, and the controller runs them over SSH
// without sudo (as on the lab): root accepts the same operator key as the login user, and only
// that key (prohibit-password is Debian's default, set here explicitly).
const ROOT_LOGIN = `step=root-login
install -d -m 0700 /root/.ssh
install -m 0600 "/home/$LOGIN_USER/.ssh/authorized_keys" /root/.ssh/authorized_keys
printf 'PermitRootLogin prohibit-password\\n' >/etc/ssh/sshd_config.d/50-criu-lab-root.conf
systemctl reload ssh
`;

const cloudPackagesStep = (packages: readonly string[]) => `step=cloud-packages
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ${packages.join(' ')}
`;

// A node booted from a baked image finds the baking stack's mount target address in fstab: drop
// every line for the mount path (awk compares the path as text, where sed would read it as a
// regex) and append this stack's; the new file replaces the old in one rename.
const MOUNT_EFS = `step=mount-efs
mkdir -p "$EFS_MOUNT"
mount_path="$EFS_MOUNT" awk '$1 ~ /^#/ || $2 != ENVIRON["mount_path"]' /etc/fstab >/etc/fstab.criu-lab
echo "$EFS_ADDRESS:/ $EFS_MOUNT nfs4 ${EFS_MOUNT_OPTIONS},_netdev,nofail 0 0" >>/etc/fstab.criu-lab
mv /etc/fstab.criu-lab /etc/fstab
# The mount target may still be coming up when the node boots.
for _ in $(seq 30); do
  mountpoint -q "$EFS_MOUNT" && break
  mount "$EFS_MOUNT" || sleep 10
done
mountpoint -q "$EFS_MOUNT"
`;

const MOUNT_EBS = `step=mount-ebs
# Nitro instances show the volume as an NVMe disk whose serial is the volume id.
device=/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_\${EBS_VOLUME_ID/-/}
for _ in $(seq 60); do
  [ -e "$device" ] && break
  if [ -e /dev/xvdf ]; then device=/dev/xvdf; break; fi
  sleep 5
done
[ -e "$device" ]
blkid "$device" >/dev/null || mkfs.ext4 -q -L criu-lab-images "$device"
mkdir -p "$EBS_MOUNT"
grep -q " $EBS_MOUNT ext4 " /etc/fstab \\
  || echo "LABEL=criu-lab-images $EBS_MOUNT ext4 defaults,nofail 0 2" >>/etc/fstab
mountpoint -q "$EBS_MOUNT" || mount "$EBS_MOUNT"
`;

function setupHostStep(script: string): string {
  if (script.split('\n').includes(HEREDOC_END)) {
    throw new Error(`internal: scripts/setup-host.sh contains the line ${HEREDOC_END}; pick another heredoc end`);
  }
  return `step=setup-host
install -d -m 0755 /opt/criu-lab
cat >/opt/criu-lab/setup-host.sh <<'${HEREDOC_END}'
${script.endsWith('\n') ? script : `${script}\n`}${HEREDOC_END}
bash /opt/criu-lab/setup-host.sh
# Its last line says whether it built CRIU or found a baked image ready: the deploy logs it.
console "setup $(tail -n 1 ${BOOTSTRAP_LOG})"
`;
}

/**
 * A value for the script: a Terraform token (a mount target's address) stays a reference; text
 * (from infra.yaml) is escaped, so `${file(...)}` in it reaches bash as those characters
 * instead of being evaluated by Terraform on the operator's machine.
 */
function scriptValue(value: string): string {
  return shellQuote(Token.isUnresolved(value) ? value : escapeTerraformTemplate(value));
}

/**
 * A bash script for cloud-init: values (which may be Terraform tokens) are assigned at the
 * top, everything else is literal text escaped for Terraform.
 */
function bootScript(role: string, values: readonly (readonly [string, string])[], steps: readonly string[]): string {
  const header = `#!/bin/bash\n# criu-lab ${role} bootstrap, generated by infra/aws/user-data.ts; progress in ${BOOTSTRAP_LOG}\n`;
  const assignments = values.map(([name, value]) => `${name}=${scriptValue(value)}\n`).join('');
  const script = escapeTerraformTemplate(header + PREAMBLE) + assignments + escapeTerraformTemplate(steps.join(''));
  // Tokens are shorter than the ids they become; leave them 1 KiB of room.
  if (Buffer.byteLength(script) > USER_DATA_LIMIT_BYTES - 1024) {
    throw new Error(`internal: the ${role} user data is ${Buffer.byteLength(script)} bytes, near EC2's ${USER_DATA_LIMIT_BYTES}-byte limit`);
  }
  return script;
}

/** The bastion installs nothing: it only reports its host keys. */
export function bastionUserData(): string {
  return bootScript('bastion', [], []);
}

export function nodeUserData(props: NodeBootstrapProps): string {
  const values: [string, string][] = [['LOGIN_USER', props.loginUser]];
  const steps = [ROOT_LOGIN, WAIT_FOR_APT];
  if (props.cloudPackages.length > 0) steps.push(cloudPackagesStep(props.cloudPackages));
  if (props.efs) {
    values.push(['EFS_ADDRESS', props.efs.address], ['EFS_MOUNT', props.efs.mountPath]);
    steps.push(MOUNT_EFS);
  }
  if (props.ebs) {
    values.push(['EBS_VOLUME_ID', props.ebs.volumeId], ['EBS_MOUNT', props.ebs.mountPath]);
    steps.push(MOUNT_EBS);
  }
  steps.push(setupHostStep(props.setupHostScript));
  return bootScript('node', values, steps);
}
