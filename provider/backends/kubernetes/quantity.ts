/** Kubernetes resource quantities → numbers (CPUs, GiB). */

const BINARY: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60 };
const DECIMAL: Record<string, number> = {
    n: 1e-9,
    u: 1e-6,
    m: 1e-3,
    "": 1,
    k: 1e3,
    K: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    P: 1e15,
    E: 1e18,
};

export function parseQuantity(q: string): number {
    const m = /^([+-]?[0-9.]+(?:[eE][+-]?\d+)?)([a-zA-Z]*)$/.exec(q.trim());
    if (!m) throw new Error(`not a quantity: "${q}"`);
    const [, num, suffix] = m;
    const factor = BINARY[suffix] ?? DECIMAL[suffix];
    if (factor === undefined) throw new Error(`unknown quantity suffix in "${q}"`);
    return Number(num) * factor;
}

export function parseCpu(q: string): number {
    return Math.round(parseQuantity(q) * 1000) / 1000;
}

export function parseMemoryGb(q: string): number {
    return parseQuantity(q) / 2 ** 30;
}
