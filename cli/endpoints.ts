/**
 * `compute-instance endpoint …`: a local inference endpoint on an instance, for testing and
 * debugging a scoring script before it goes to a real endpoint, modelled on Azure's local
 * endpoints (`az ml online-deployment create --local`). The server is Azure's own
 * (azureml-inference-server-http) running the user's score.py beside the instance; requests reach
 * it through the instance's Jupyter proxy under its token, so no port opens. Runtime state, like
 * jobs: no Pulumi resource, never a diff.
 */
import * as fs from "fs";
import * as path from "path";
import { Command } from "commander";
import type { Backend, InstanceView } from "../provider/backends/backend";
import {
    ENDPOINT_NAME,
    ENDPOINT_NAME_RULE,
    EndpointView,
    InferenceRunner,
    endpointPaths,
    endpointPort,
} from "../provider/backends/inference";
import type { JobFile } from "../provider/backends/jobRunner";
import { currentVariantTag } from "../provider/image/context";
import { BackendOptions, UsageError, backendFrom, backendOptions, outputOption, print, say } from "./common";
import type { OutputFormat } from "./format";
import { filesUnder } from "./jobSubmit";

type EndpointOptions = BackendOptions & { workspace: string; output: OutputFormat };

function runnerOf(backend: Backend): InferenceRunner {
    if (!backend.inference)
        throw new Error(`local endpoints do not run on the ${backend.description} yet: use a Docker engine`);
    return backend.inference;
}

async function instanceView(backend: Backend, workspace: string, instance: string): Promise<InstanceView> {
    const view = (await backend.listInstances(workspace)).find((v) => v.instance === instance);
    if (!view) throw new Error(`no instance "${instance}" in workspace "${workspace}" on the ${backend.description}`);
    return view;
}

async function oneEndpoint(runner: InferenceRunner, workspace: string, name: string): Promise<EndpointView> {
    const found = (await runner.listEndpoints(workspace)).find((e) => e.name === name);
    if (!found) throw new Error(`no endpoint "${name}" in workspace "${workspace}"`);
    return found;
}

/** A folder given on the command line: it must exist. */
function folder(option: string, value: string): string {
    const abs = path.resolve(value);
    if (!fs.statSync(abs, { throwIfNoEntry: false })?.isDirectory())
        throw new UsageError(`${option} ${value}: no such folder`);
    return abs;
}

/** The endpoint's files: `code/…` and `model/<the model folder's name>/…`, as Azure lays them out. */
export function endpointFiles(code: string, model: string): JobFile[] {
    const read = (prefix: string, dir: string) =>
        filesUnder(dir).map((f) => ({
            name: `${prefix}/${f.rel}`,
            body: fs.readFileSync(f.abs),
            mode: f.mode | 0o600,
        }));
    return [...read("code", code), ...read(`model/${path.basename(model)}`, model)];
}

async function create(
    o: EndpointOptions & {
        name: string;
        compute: string;
        model: string;
        code: string;
        scoringScript: string;
        image?: string;
        timeout: string;
    },
) {
    if (!ENDPOINT_NAME.test(o.name)) throw new UsageError(`--name ${o.name}: must be ${ENDPOINT_NAME_RULE}`);
    const code = folder("--code", o.code);
    const model = folder("--model", o.model);
    const script = path.posix.normalize(o.scoringScript.split(path.sep).join("/"));
    if (
        script.startsWith("../") ||
        path.isAbsolute(script) ||
        !fs.statSync(path.join(code, script), { throwIfNoEntry: false })?.isFile()
    )
        throw new UsageError(`--scoring-script ${o.scoringScript}: no such file in --code ${o.code}`);
    const timeoutSeconds = Number(o.timeout);
    if (!(timeoutSeconds > 0)) throw new UsageError(`--timeout ${o.timeout}: must be a number of seconds above 0`);
    const backend = backendFrom(o);
    const runner = runnerOf(backend);
    const view = await instanceView(backend, o.workspace, o.compute);
    const existing = await runner.listEndpoints(o.workspace);
    if (existing.some((e) => e.name === o.name))
        throw new Error(
            `an endpoint "${o.name}" exists in workspace "${o.workspace}": delete it first, or give another --name`,
        );
    const port = endpointPort(existing.filter((e) => e.instance === o.compute).map((e) => e.port));
    if (port === undefined) throw new Error(`instance "${o.compute}" has no port left for another endpoint`);
    const files = endpointFiles(code, model);
    say.info(`uploading ${files.length} file(s) to the user files' endpoints/${o.name}/`);
    await runner.stageEndpointFiles(o.workspace, o.name, files);
    const image = o.image ?? currentVariantTag("inference");
    say.info(`starting ${o.name} on ${o.compute} (${image})`);
    await runner.startEndpoint({
        workspace: o.workspace,
        owner: view.owner,
        instance: o.compute,
        name: o.name,
        image,
        scoringScript: script,
        port,
    });
    const ready = await waitReady(runner, view, o.workspace, o.name, port, timeoutSeconds).catch(async (e: Error) => {
        // Nothing half made: an endpoint that never answered goes, with its files.
        await runner.deleteEndpoint(o.workspace, o.name).catch(() => undefined);
        throw new Error(`${e.message}\n(endpoint "${o.name}" removed: fix it and create it again)`);
    });
    print(o.output, ready, endpointLine, endpointJson);
}

/** Until the server answers its liveness route through the proxy; its log when it exits first. */
async function waitReady(
    runner: InferenceRunner,
    view: InstanceView,
    workspace: string,
    name: string,
    port: number,
    timeoutSeconds: number,
): Promise<EndpointView> {
    const started = Date.now();
    for (;;) {
        const ep = await oneEndpoint(runner, workspace, name);
        if (ep.status === "Failed" || ep.restarts > 0)
            throw new Error(
                `endpoint "${name}" exited before it answered (its scoring script's init() failed?); its log:\n${await runner.endpointLogs(workspace, name, 120)}`,
            );
        const status = await request(view, endpointPaths(port).liveness, "GET").then(
            (r) => r.status,
            () => 0,
        );
        if (status === 200) {
            say.info(`${name} answers (${((Date.now() - started) / 1000).toFixed(1)}s)`);
            return ep;
        }
        const waited = Math.round((Date.now() - started) / 1000);
        if (waited > timeoutSeconds)
            throw new Error(
                `endpoint "${name}" did not answer within ${timeoutSeconds}s; its log:\n${await runner.endpointLogs(workspace, name, 120)}`,
            );
        say.status(`waiting for ${name} to answer (${waited}s)`);
        await new Promise((r) => setTimeout(r, 1000));
    }
}

function request(view: InstanceView, route: string, method: string, body?: Buffer): Promise<Response> {
    if (!view.jupyterUrl || !view.token)
        throw new Error(`instance "${view.instance}" is not running (its Jupyter address is unknown): start it`);
    return fetch(new URL(route.replace(/^\//, ""), view.jupyterUrl.replace(/\/?$/, "/")), {
        method,
        headers: { Authorization: `token ${view.token}`, ...(body ? { "Content-Type": "application/json" } : {}) },
        ...(body ? { body } : {}),
        signal: AbortSignal.timeout(60_000),
    });
}

async function invoke(name: string, o: EndpointOptions & { requestFile: string }) {
    const file = path.resolve(o.requestFile);
    if (!fs.statSync(file, { throwIfNoEntry: false })?.isFile())
        throw new UsageError(`--request-file ${o.requestFile}: no such file`);
    const backend = backendFrom(o);
    const ep = await oneEndpoint(runnerOf(backend), o.workspace, name);
    if (ep.status !== "Running")
        throw new Error(`endpoint "${name}" is ${ep.status}: start its instance "${ep.instance}"`);
    const view = await instanceView(backend, o.workspace, ep.instance);
    const r = await request(view, endpointPaths(ep.port).score, "POST", fs.readFileSync(file));
    const text = await r.text();
    if (!r.ok) throw new Error(`endpoint "${name}" answered ${r.status}: ${text}`);
    process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
}

async function logs(name: string, o: EndpointOptions & { lines: string }) {
    const lines = Number(o.lines);
    if (!Number.isInteger(lines) || lines < 1)
        throw new UsageError(`--lines ${o.lines}: must be a whole number above 0`);
    process.stdout.write(await runnerOf(backendFrom(o)).endpointLogs(o.workspace, name, lines));
}

async function list(o: EndpointOptions & { compute?: string }) {
    const all = await runnerOf(backendFrom(o)).listEndpoints(o.workspace);
    print(
        o.output,
        all.filter((e) => !o.compute || e.instance === o.compute),
        endpointLine,
        endpointJson,
    );
}

async function remove(name: string, o: EndpointOptions) {
    if (!(await runnerOf(backendFrom(o)).deleteEndpoint(o.workspace, name)))
        throw new Error(`no endpoint "${name}" in workspace "${o.workspace}"`);
    console.log(`${name}\tDeleted`);
}

const endpointLine = (e: EndpointView) =>
    [e.name, e.instance, e.status, endpointPaths(e.port).score, e.image].join("\t");

const endpointJson = (e: EndpointView) => ({ ...e, scoringPath: endpointPaths(e.port).score });

export function registerEndpointCommands(p: Command): void {
    const ep = p
        .command("endpoint")
        .description("serve a scoring script on an instance and call it (like Azure's local endpoints)");
    const withWorkspace = (c: Command) =>
        backendOptions(c.requiredOption("--workspace <name>", "the workspace's name on the backend")).addOption(
            outputOption(),
        );
    withWorkspace(
        ep
            .command("create")
            .description("upload a model and a scoring script and serve them; waits until the server answers")
            .requiredOption("--name <name>", `the endpoint's name (${ENDPOINT_NAME_RULE})`)
            .requiredOption("--compute <instance>", "the instance it runs beside (running)")
            .requiredOption("--model <dir>", "the model folder (under AZUREML_MODEL_DIR by its own name, as on Azure)")
            .requiredOption("--code <dir>", "the folder of the scoring script")
            .requiredOption("--scoring-script <file>", "the script with init() and run(raw_data), relative to --code")
            .option(
                "--image <image>",
                "an image with azureml-inference-server-http (default: the workstation's inference variant)",
            )
            .option("--timeout <seconds>", "how long to wait for the server to answer", "300"),
    ).action((o) => create(o));
    withWorkspace(
        ep
            .command("invoke")
            .description("send a request file to the endpoint's /score and print the answer")
            .argument("<name>")
            .requiredOption("--request-file <path>", "the request body (JSON)"),
    ).action((name: string, o) => invoke(name, o));
    withWorkspace(
        ep
            .command("logs")
            .description("the server's output")
            .argument("<name>")
            .option("--lines <n>", "how many of the last lines", "200"),
    ).action((name: string, o) => logs(name, o));
    withWorkspace(
        ep
            .command("list")
            .description("the workspace's endpoints")
            .option("--compute <instance>", "only this instance's"),
    ).action((o) => list(o));
    withWorkspace(ep.command("delete").description("remove an endpoint and its files").argument("<name>")).action(
        (name: string, o) => remove(name, o),
    );
}
