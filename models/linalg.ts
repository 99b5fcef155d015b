/** A small least-squares solver: enough for a regression with a few dozen columns. */
import { mean, standardDeviation } from 'simple-statistics';

/**
 * Ridge least squares via the normal equations (XᵀX + λI)β = Xᵀy. Columns other than the first
 * (the intercept) are standardised before solving so one λ suits all of them, and constant
 * columns (e.g. a festival flag that never fires in the window) get a zero coefficient.
 * λ is small (`ridge`·rows): it only keeps collinear calendar columns from blowing up.
 */
export function ridgeFit(X: readonly number[][], y: readonly number[], ridge = 1e-3): number[] {
  const n = X.length;
  const p = X[0]!.length;
  const centre = new Array<number>(p).fill(0);
  const scale = new Array<number>(p).fill(1);
  const active = new Array<boolean>(p).fill(true);
  for (let j = 1; j < p; j++) {
    const col = X.map((r) => r[j]!);
    centre[j] = mean(col);
    const sd = standardDeviation(col);
    if (sd < 1e-12) active[j] = false;
    else scale[j] = sd;
  }
  const cols = [0, ...Array.from({ length: p - 1 }, (_, k) => k + 1).filter((j) => active[j])];
  const q = cols.length;
  const A = Array.from({ length: q }, () => new Array<number>(q).fill(0));
  const b = new Array<number>(q).fill(0);
  const z = new Array<number>(q);
  for (let i = 0; i < n; i++) {
    const row = X[i]!;
    for (let a = 0; a < q; a++) {
      const j = cols[a]!;
      z[a] = j === 0 ? 1 : (row[j]! - centre[j]!) / scale[j]!;
    }
    for (let a = 0; a < q; a++) {
      b[a] += z[a]! * y[i]!;
      const ra = A[a]!;
      for (let c = a; c < q; c++) ra[c] += z[a]! * z[c]!;
    }
  }
  for (let a = 0; a < q; a++) {
    for (let c = 0; c < a; c++) A[a]![c] = A[c]![a]!;
    if (a > 0) A[a]![a] += ridge * n;
  }
  const gamma = solve(A, b);
  // Back to the original columns.
  const beta = new Array<number>(p).fill(0);
  let intercept = gamma[0]!;
  for (let a = 1; a < q; a++) {
    const j = cols[a]!;
    beta[j] = gamma[a]! / scale[j]!;
    intercept -= beta[j]! * centre[j]!;
  }
  beta[0] = intercept;
  return beta;
}

/** Gaussian elimination with partial pivoting; throws on a singular system. */
export function solve(Ain: readonly number[][], bin: readonly number[]): number[] {
  const n = bin.length;
  const A = Ain.map((r) => [...r]);
  const b = [...bin];
  for (let k = 0; k < n; k++) {
    let piv = k;
    for (let i = k + 1; i < n; i++) if (Math.abs(A[i]![k]!) > Math.abs(A[piv]![k]!)) piv = i;
    if (Math.abs(A[piv]![k]!) < 1e-12) throw new RangeError('singular matrix');
    [A[k], A[piv]] = [A[piv]!, A[k]!];
    [b[k], b[piv]] = [b[piv]!, b[k]!];
    const rk = A[k]!;
    for (let i = k + 1; i < n; i++) {
      const ri = A[i]!;
      const f = ri[k]! / rk[k]!;
      if (f === 0) continue;
      for (let j = k; j < n; j++) ri[j] -= f * rk[j]!;
      b[i] -= f * b[k]!;
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let i = n - 1; i >= 0; i--) {
    let s = b[i]!;
    const ri = A[i]!;
    for (let j = i + 1; j < n; j++) s -= ri[j]! * x[j]!;
    x[i] = s / ri[i]!;
  }
  return x;
}

export function dot(a: readonly number[], b: readonly number[]): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}
