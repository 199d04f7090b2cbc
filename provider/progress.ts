/**
 * Progress of long operations (image builds, waiting for an instance to answer).
 *
 * Inside `pulumi up` the provider runs as a plugin whose first argument is the engine's address;
 * messages are sent to the engine's Log service with the resource's URN, so they appear on that
 * resource's row of the progress display (ephemeral ones as its status, the rest also under
 * Diagnostics). Anywhere else (scripts, contract tests) they go to a sink, stderr by default.
 */

export interface Progress {
    /** A passing status ("waiting for JupyterLab (12s)"): shown while current, not kept. */
    status(message: string): void;
    /** A line worth keeping ("ready in 6.1s"). */
    info(message: string): void;
    /** Something the user should act on, though nothing failed (shown as a warning). */
    warn(message: string): void;
}

export type ProgressSink = (message: string, ephemeral: boolean, warning?: boolean) => void;

export function progressTo(sink: ProgressSink): Progress {
    return { status: (m) => sink(m, true), info: (m) => sink(m, false), warn: (m) => sink(m, false, true) };
}

export const stderrProgress: Progress = progressTo((m, ephemeral, warning) => {
    if (!ephemeral || process.stderr.isTTY) process.stderr.write(`${warning ? "warning: " : ""}${m}\n`);
});

export const silentProgress: Progress = progressTo(() => undefined);

interface EngineLogger {
    log(urn: string, message: string, ephemeral: boolean, warning?: boolean): void;
}

let engineLogger: EngineLogger | null | undefined;

function engineAddress(): string | undefined {
    const entry = process.argv[1] ?? "";
    // Only the dynamic-provider plugin gets the engine address as its first argument.
    if (!/dynamic-provider/.test(entry)) return undefined;
    const addr = process.argv[2];
    return addr && /^[\w.\-[\]:]+:\d+$/.test(addr) ? addr : undefined;
}

function getEngineLogger(): EngineLogger | null {
    if (engineLogger !== undefined) return engineLogger;
    const addr = engineAddress();
    if (!addr) return (engineLogger = null);
    try {
        // Loaded from the @pulumi/pulumi the plugin itself runs, so versions always agree.
        const sdkDir = require("path").dirname(require.resolve("@pulumi/pulumi/package.json"));
        const grpc = require(require.resolve("@grpc/grpc-js", { paths: [sdkDir] }));
        const engrpc = require("@pulumi/pulumi/proto/engine_grpc_pb");
        const engproto = require("@pulumi/pulumi/proto/engine_pb");
        const client = new engrpc.EngineClient(addr, grpc.credentials.createInsecure());
        let last: Promise<void> = Promise.resolve();
        engineLogger = {
            log(urn, message, ephemeral, warning) {
                const req = new engproto.LogRequest();
                req.setSeverity(warning ? engproto.LogSeverity.WARNING : engproto.LogSeverity.INFO);
                req.setMessage(message);
                req.setUrn(urn);
                req.setEphemeral(ephemeral);
                // Keep messages in order; a lost progress line is never worth failing for.
                last = last.then(() => new Promise<void>((resolve) => client.log(req, () => resolve())));
            },
        };
    } catch {
        engineLogger = null;
    }
    return engineLogger;
}

/** Progress attached to a resource, by URN, when running inside the engine; stderr otherwise. */
export function progressFor(urn: string | undefined, prefix = ""): Progress {
    const engine = getEngineLogger();
    const text = (m: string) => (prefix ? `${prefix}: ${m}` : m);
    if (engine && urn) return progressTo((m, ephemeral, warning) => engine.log(urn, m, ephemeral, warning));
    return progressTo((m, ephemeral, warning) =>
        warning
            ? stderrProgress.warn(text(m))
            : ephemeral
              ? stderrProgress.status(text(m))
              : stderrProgress.info(text(m)),
    );
}
