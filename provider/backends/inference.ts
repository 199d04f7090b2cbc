/**
 * How a local inference endpoint runs, whatever the backend: Azure's own scoring server
 * (`azmlinfsrv`, from the `azureml-inference-server-http` package) serving the user's scoring
 * script beside an instance, in its network, on a port that only the instance's Jupyter proxy
 * reaches (under its token: no new open port). Pure.
 *
 * Its files live under `endpoints/<name>/` of the user files: `code/` (the scoring script's
 * folder) and `model/<folder>/` (the model folder, under its own name, as Azure lays it out below
 * AZUREML_MODEL_DIR, so a score.py written for Azure finds its model unchanged).
 */
import type { Ownership } from "./backend";
import type { JobFile } from "./jobRunner";
import { USER_FILES_DIR } from "./layout";

/** Azure's rule for endpoint names, which also keeps them apart from application names in container names. */
export const ENDPOINT_NAME = /^[a-z][a-z0-9-]{1,30}[a-z0-9]$/;
export const ENDPOINT_NAME_RULE = "3 to 32 lowercase letters, digits and '-', starting with a letter";

/** The ports endpoints listen on inside their instance's network: the first free one is taken. */
export const ENDPOINT_PORTS = { first: 5001, last: 5099 } as const;

/** The endpoint's folder in the user files, relative to them. */
export function endpointFolder(name: string): string {
    return `endpoints/${name}`;
}

/** The endpoint's folder as its runtime sees it. */
export function endpointDir(name: string): string {
    return `${USER_FILES_DIR}/${endpointFolder(name)}`;
}

/** What a backend needs to start an endpoint. */
export interface EndpointRun extends Ownership {
    instance: string;
    name: string;
    image: string;
    /** The scoring script, relative to the code folder. */
    scoringScript: string;
    port: number;
}

/** An endpoint as the backend has it. */
export interface EndpointView {
    name: string;
    instance: string;
    image: string;
    port: number;
    scoringScript: string;
    /** Running, Stopped (its instance stopped), or Failed (its server exited on its own). */
    status: "Running" | "Stopped" | "Failed";
    startedAt?: string;
    exitCode?: number;
    restarts: number;
}

/** The local inference endpoints of a backend: runtime objects, created and deleted by the CLI. */
export interface InferenceRunner {
    /** Puts the endpoint's files in its folder of the user files, emptied first. */
    stageEndpointFiles(workspace: string, name: string, files: JobFile[]): Promise<void>;
    /** Starts the endpoint; refused when one of that name exists. */
    startEndpoint(run: EndpointRun): Promise<EndpointView>;
    listEndpoints(workspace: string): Promise<EndpointView[]>;
    /** The server's output, the last `tail` lines. */
    endpointLogs(workspace: string, name: string, tail?: number): Promise<string>;
    /** Removes the endpoint and its folder; false when there was none. */
    deleteEndpoint(workspace: string, name: string): Promise<boolean>;
}

/** The first port of ENDPOINT_PORTS not in `taken`. */
export function endpointPort(taken: Iterable<number>): number | undefined {
    const used = new Set(taken);
    for (let p = ENDPOINT_PORTS.first; p <= ENDPOINT_PORTS.last; p++) if (!used.has(p)) return p;
    return undefined;
}

/** The environment of the endpoint's server: what azmlinfsrv and Azure-style scoring scripts read. */
export function endpointEnv(run: Pick<EndpointRun, "name" | "scoringScript" | "port">): Record<string, string> {
    const dir = endpointDir(run.name);
    return {
        PORT: String(run.port),
        HEALTH_PORT: String(run.port + HEALTH_PORT_OFFSET),
        AZUREML_MODEL_DIR: `${dir}/model`,
        AZUREML_ENTRY_SCRIPT: `${dir}/code/${run.scoringScript}`,
        ENDPOINT_CODE_DIR: `${dir}/code`,
        // One worker: the instance is a test bench, not a production server.
        WORKER_COUNT: "1",
        PYTHONUNBUFFERED: "1",
    };
}

/** The server's command: from the code folder, so the script imports its neighbours. */
export const ENDPOINT_COMMAND =
    'cd "$ENDPOINT_CODE_DIR" && exec azmlinfsrv --entry_script "$AZUREML_ENTRY_SCRIPT" --port "$PORT" --health_port "$HEALTH_PORT"';

/** The server also opens a health port (5000 by default): each endpoint its own, 1000 above its port. */
export const HEALTH_PORT_OFFSET = 1000;

/** Where `invoke` sends requests and readiness is probed, below the instance's Jupyter address. */
export function endpointPaths(port: number): { liveness: string; score: string } {
    return { liveness: `/proxy/${port}/`, score: `/proxy/${port}/score` };
}
