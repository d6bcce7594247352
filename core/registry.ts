// A registry keyed by name, one per seam (strategies, transfers, workloads): adding an
// implementation is one file and one `register` line, and a duplicate name is refused.

export class Registry<T extends { readonly name: string }> {
  private readonly entries = new Map<string, T>();

  constructor(private readonly kind: string) {}

  register(entry: T): this {
    if (this.entries.has(entry.name)) throw new Error(`${this.kind} ${entry.name} is registered twice`);
    this.entries.set(entry.name, entry);
    return this;
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  all(): T[] {
    return [...this.entries.values()];
  }

  get(name: string): T {
    const entry = this.entries.get(name);
    if (!entry) throw new Error(`no ${this.kind} named ${name}; known: ${this.names().join(', ')}`);
    return entry;
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }
}
