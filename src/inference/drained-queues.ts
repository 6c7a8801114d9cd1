/**
 * Which work queues are worth a pull. A queue that answered a no-wait pull
 * with fewer messages than asked had no more ready at that moment: asking it
 * again before anything new is stored there would find nothing. Its
 * doorbell (the stream's ring, or a publish on its subject where the stream
 * has no ring rule) makes it worth asking again; so does `forget()`, which
 * the worker calls for its idle poll and for the quick second look after a
 * ring that found nothing, since redeliveries ring no bell.
 */
export class DrainedQueues<Q> {
  readonly #rings = new Map<Q, number>();
  /** The queue's ring count when it last answered short. */
  readonly #drainedAt = new Map<Q, number>();

  /** A request was published on the queue's subject. */
  rang(queue: Q): void {
    this.#rings.set(queue, this.ringsOf(queue) + 1);
  }

  ringsOf(queue: Q): number {
    return this.#rings.get(queue) ?? 0;
  }

  /** Whether a pull may find something: not known drained since its last ring. */
  worthAsking(queue: Q): boolean {
    return this.#drainedAt.get(queue) !== this.ringsOf(queue);
  }

  /** A pull asked `asked` and got `got`; `ringsBefore` is ringsOf(queue) when it was sent. */
  answered(queue: Q, asked: number, got: number, ringsBefore: number): void {
    if (got < asked) this.#drainedAt.set(queue, ringsBefore);
    else this.#drainedAt.delete(queue);
  }

  /** Every queue is worth asking again. */
  forget(): void {
    this.#drainedAt.clear();
  }
}
