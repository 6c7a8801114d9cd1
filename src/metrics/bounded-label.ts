/**
 * Caps the distinct values of a label whose values come from configuration
 * or definitions (model names, job kinds): the first `max` values seen keep
 * their name, later ones are counted as `other`, so no input can grow the
 * number of series without bound.
 */
export class BoundedLabel {
  private readonly seen = new Set<string>();

  constructor(private readonly max: number) {}

  of(value: string): string {
    if (this.seen.has(value)) return value;
    if (this.seen.size >= this.max) return 'other';
    this.seen.add(value);
    return value;
  }
}
