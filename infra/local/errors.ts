// The one error type of the local lab. Each says what went wrong and, in `hint`, how to fix
// it; `kind` separates the user's input (exit 2) from the world getting in the way (exit 1).

export type LabErrorKind = 'usage' | 'external';

/** One invalid option, named by its field in `LabOptionsInput`. */
export interface OptionProblem {
  readonly field: string;
  readonly problem: string;
}

export class LabError extends Error {
  readonly kind: LabErrorKind;
  readonly hint: string;
  /** For usage errors: every invalid option at once, so the user fixes them in one go. */
  readonly problems: readonly OptionProblem[];

  constructor(
    message: string,
    details: { readonly hint: string; readonly kind?: LabErrorKind; readonly problems?: readonly OptionProblem[] },
  ) {
    super(message);
    this.name = 'LabError';
    this.kind = details.kind ?? 'external';
    this.hint = details.hint;
    this.problems = details.problems ?? [];
  }

  get exitCode(): number {
    return this.kind === 'usage' ? 2 : 1;
  }
}
