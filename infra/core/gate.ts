/**
 * The gate port: whether a data product may go out of the domain right now. Only published products are served
 * (product lifecycle), and an emergency stop closes outside access of one subscriber, one product or everyone.
 * The access layer (`api/access/governance.ts`) implements it; the composition root hands the same instance to
 * code on lower floors that delivers data outside a request (alert webhooks, scheduled reports).
 */
export interface Refusal {
  /** Nothing of the product goes out (not published, stopped as a product, or every outside access stopped). */
  all: boolean;
  /** Subscribers whose outside access is stopped. */
  subscribers: string[];
}

export interface AccessGate {
  /** The product's lifecycle state allows serving it (`published`). */
  published(product: string): boolean;
  /** Whether `subscriberId` may receive `product` now: published and no emergency stop on it. */
  serves(product: string, subscriberId: string): boolean;
  /** What is refused for `product`, in a form SQL can filter on. */
  refused(product: string): Refusal;
}

/** A gate that refuses nothing (tests and tools that run without the access layer). */
export const OPEN_GATE: AccessGate = {
  published: () => true,
  serves: () => true,
  refused: () => ({ all: false, subscribers: [] }),
};
