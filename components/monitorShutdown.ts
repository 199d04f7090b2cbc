/**
 * When a provider's check refuses a resource (a quota exceeded, a size too large for the engine),
 * the Pulumi engine ends the deployment and shuts down its resource monitor while the program
 * still has requests in flight, typically a component's `registerOutputs`. The Node SDK rejects
 * that request with the gRPC status UNAVAILABLE ("resource monitor shut down while waiting on
 * output step's done channel") and, finding the rejection unhandled, prints it as "Running
 * program ... failed with an unhandled exception" with a 25-line stack, after the one line that
 * says what was wrong.
 *
 * Nothing is left to do once the monitor is gone: the engine has reported the cause. So this
 * exits the program the way the SDK itself does after an error it already reported (exit code
 * 32, which the language host takes as "said already, say nothing more"), before the SDK's own
 * handler prints the rejection. Only that rejection is touched; every other error takes the
 * SDK's usual path.
 */

const INSTALLED = Symbol.for("pulumi-compute-instance.monitorShutdownHandler");
/** The language host's code for "the program already reported its error". */
const ALREADY_REPORTED = 32;
const GRPC_UNAVAILABLE = 14;
const GRPC_CANCELLED = 1;

/** Whether a rejection is the SDK's request failing because the engine shut the monitor down. */
export function isMonitorShutdown(e: unknown): boolean {
    if (typeof e !== "object" || e === null) return false;
    const { code, details, message } = e as { code?: unknown; details?: unknown; message?: unknown };
    if (code !== GRPC_UNAVAILABLE && code !== GRPC_CANCELLED) return false;
    return /resource monitor (shut down|is terminating)/i.test(`${String(details ?? "")} ${String(message ?? "")}`);
}

/** Installs the handler once per process (several copies of this package may be loaded). */
export function quietOnMonitorShutdown(): void {
    const registry = process as unknown as Record<symbol, boolean>;
    if (registry[INSTALLED]) return;
    registry[INSTALLED] = true;
    process.prependListener("unhandledRejection", (reason) => {
        if (isMonitorShutdown(reason)) process.exit(ALREADY_REPORTED);
    });
}
