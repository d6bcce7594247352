// The three kinds of failure the infra commands report, each rendered differently by the CLI:
// usage (the operator's input or machine is not ready: exit 2), external (AWS, cdktf or a node
// failed: exit 1) and anything else (our bug: a stack trace).

/** The operator can fix this: a config key, a missing file, missing credentials. */
export class UsageError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** The world failed: a cdktf/terraform run, the AWS API, a node's bootstrap. */
export class ExternalError extends Error {
  readonly exitCode = 1;
  constructor(
    message: string,
    /** The tail of the failing command's output, when there is one. */
    readonly outputTail = '',
  ) {
    super(message);
    this.name = new.target.name;
  }
}
