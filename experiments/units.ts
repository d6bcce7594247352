// Unit conversions shared across the orchestrator. A leaf module (it imports nothing), so the
// transfers can use it without importing run-context, which imports their registry.

/** Milliseconds for a timeout given in seconds in the plan. */
export const ms = (seconds: number): number => Math.round(seconds * 1000);
