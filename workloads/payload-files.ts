// The names of the files a payload and the controller share in the work dir: the seed's
// checkpoint_flag / checkpoint_ready signals, the status and final files, the log and the output.

export const FLAG_FILE = 'checkpoint_flag';
export const READY_FILE = 'checkpoint_ready';
export const STATUS_FILE = 'workload_status.json';
export const FINAL_FILE = 'workload_final.json';
export const LOG_FILE = 'workload.log';
/** The payload's stdout and stderr (tracebacks); it lives in the work dir, so it moves with the process. */
export const OUTPUT_FILE = 'payload.out';
