// Transfer methods by name. Adding one is a file in this folder and one line here.
import { Registry } from '../../core/registry.js';
import type { Transfer } from './transfer.js';
import { rsyncTransfer } from './rsync.js';
import { s3Transfer } from './s3.js';
import { efsTransfer } from './efs.js';
import { ebsTransfer } from './ebs.js';

export const transfers = new Registry<Transfer>('transfer method').register(rsyncTransfer).register(s3Transfer).register(efsTransfer).register(ebsTransfer);
