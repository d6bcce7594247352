// An S3 error as S3 reports it: the HTTP status and the XML Code that clients (botocore) branch
// on. Anything else thrown while serving a request is our bug and becomes a 500 InternalError.

export class S3Error extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'S3Error';
  }
}

/** For what the lab's clients never need; a clear refusal instead of a half-done imitation. */
export const notImplemented = (what: string) => new S3Error(501, 'NotImplemented', `${what} is not implemented by the lab's S3 stand-in`);
