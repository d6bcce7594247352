// How many nodes a lab may have: the option schema (options.ts) enforces it, the command's help
// states it; apart from options.ts so the help loads no schema.
export const MIN_NODES = 2;
export const MAX_NODES = 8;
