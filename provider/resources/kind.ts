/**
 * What each dynamic resource kind implements, and the shared pieces: input checking with field
 * paths, change classification, and the wiring fields every backend-bound resource carries.
 */
import { z } from "zod";
import { BackendError } from "../backends/backend";
import { BackendWith, PartName, partsOf } from "../backends/parts";
import { backendFor, ensureReachable } from "../backends/registry";
import { FieldRules, classify } from "../changes";
import { backendIdRule, backendRule } from "../backendIdentity";
import { plaintextTcpProblem } from "../backends/docker/connection";
import { FieldProblem } from "../model/errors";
import { BackendSpec, backendSchema } from "../model/backendSchema";
import { DEFAULT_DOCKER_HOST } from "../model/defaults";
import { nameSchema } from "../model/fields";
import { UNKNOWN, containsUnknown, knownProblems } from "../model/validate";
import { Progress, progressFor } from "../progress";

export type Props = Record<string, unknown>;

/**
 * A create that made its object but failed: the dynamic-provider host records the object in the
 * state with the error (Pulumi's "failed to initialize"), so that `destroy` deletes it and the
 * next `up` diffs against it, instead of leaving it behind unknown.
 */
export class CreatedButFailedError extends Error {
    /** What the plugin host reads: the id, the outputs to record, and why. */
    readonly reasons: string[];
    constructor(
        message: string,
        readonly id: string,
        readonly properties: Props,
    ) {
        super(message);
        this.name = "CreatedButFailedError";
        this.reasons = [message];
    }
}

export interface CheckOutcome {
    inputs: Props;
    problems: FieldProblem[];
}

/**
 * A kind as ../dispatch.ts routes to it: values as the engine sends them. Kinds are written
 * against typed values with `defineKind` (./defineKind.ts), which makes this of them.
 */
export interface ResourceKind {
    /** The `__kind` its resources carry. */
    readonly type: string;
    /** Names of the properties it adds or settles, which a program may read back (see ../dynamic.ts). */
    readonly outputs: readonly string[];
    /** Validates and normalises the program's inputs; problems name the user's fields. */
    check(news: Props, olds: Props): Promise<CheckOutcome>;
    /** How each input field changes: live, replace, or ignore. */
    rules(news: Props, olds: Props): FieldRules;
    /** Replace by deleting first (the old one holds a name, a port or a disk the new one needs). */
    readonly deleteBeforeReplace?: boolean;
    /** The parts of its backend it uses (none: it has no backend). */
    readonly uses: readonly PartName[];
    create(inputs: Props): Promise<{ id: string; outs: Props }>;
    /** The outputs as the backend has them now; undefined when the object is gone. */
    read(id: string, props: Props): Promise<Props | undefined>;
    update(id: string, olds: Props, news: Props): Promise<Props>;
    delete(id: string, props: Props): Promise<void>;
}

/** The default Docker host, as the Docker CLI picks it. */
export function defaultDockerHost(): string {
    return process.env.DOCKER_HOST || DEFAULT_DOCKER_HOST;
}

/** Fields every resource on a backend carries. */
export const wiringFields = {
    backend: backendSchema({ dockerHost: DEFAULT_DOCKER_HOST }),
    workspace: nameSchema,
    /** `project/stack` that manages the object. */
    owner: z.string().min(1),
    /** URN of the resource itself, so progress shows on its row. */
    progressUrn: z.string().optional(),
};

/**
 * Changes to wiring: another backend or workspace is another place, so a replacement; another
 * address of the same engine or cluster is nothing (see ../backendIdentity.ts).
 */
export const wiringRules = {
    backend: backendRule,
    backendId: backendIdRule,
    workspace: "replace",
    owner: "live",
    progressUrn: "ignore",
} as const satisfies FieldRules;

/**
 * A check's outcome with, when the inputs parsed and nothing is wrong, the schema's output as
 * its type says (values may still be a preview's unknowns where the schema lets a string be).
 */
export type Parsed<T> = (CheckOutcome & { parsed?: undefined }) | { inputs: T; problems: []; parsed: T };

/**
 * Runs a kind's input schema over the program's inputs. Unknown values (in a preview) pass;
 * the Docker host defaults from DOCKER_HOST, resolved here so a change of environment shows
 * as a change of backend rather than silently pointing at another engine.
 */
export async function checkWith<S extends z.ZodType<Props>>(
    schema: S,
    news: Props,
    userPaths: Readonly<Record<string, string | undefined>> = {},
): Promise<Parsed<z.output<S>>> {
    const withHost = resolveDockerHost(news);
    const { problems, data } = knownProblems(schema, withHost);
    const mapped = problems.map((p) => {
        const top = p.field.split(/[.[]/)[0];
        const user = Object.hasOwn(userPaths, top) ? userPaths[top] : undefined;
        return user !== undefined ? { ...p, field: user + p.field.slice(top.length) } : p;
    });
    if (mapped.length || !data) return { inputs: news, problems: mapped };
    // A field a schema defaults to "absent" comes out as undefined, which the plugin host cannot
    // send (protobuf Struct has no undefined): leave it out.
    const inputs = withoutUndefined(data);
    const backend = "backend" in inputs && isBackendSpec(inputs.backend) ? inputs.backend : undefined;
    if (backend?.kind === "docker" && !containsUnknown(withHost.backend)) {
        // Whether the host came from the program or from DOCKER_HOST, the field is the program's.
        const plaintext = plaintextTcpProblem(backend.host, backend.allowPlaintextTcp);
        if (plaintext) return { inputs, problems: [{ field: "backend.docker.host", message: plaintext }] };
    }
    if (backend && !containsUnknown(withHost.backend)) {
        try {
            await ensureReachable(backend);
        } catch (e) {
            return {
                inputs,
                problems: [
                    {
                        field: e instanceof BackendError && e.field ? e.field : "backend",
                        message: (e as Error).message,
                    },
                ],
            };
        }
    }
    return { inputs, problems: [], parsed: inputs };
}

function withoutUndefined<T extends Props>(data: T): T {
    const kept = { ...data };
    for (const key of Object.keys(kept) as (keyof T)[]) if (kept[key] === undefined) delete kept[key];
    return kept;
}

/** What the wiring's backend schema makes (a program's `{ docker: {...} }` has no `kind`). */
function isBackendSpec(v: unknown): v is BackendSpec {
    return typeof v === "object" && v !== null && "kind" in v;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;

function resolveDockerHost(news: Props): Props {
    const b = news.backend;
    if (isRecord(b) && "docker" in b) {
        const d = isRecord(b.docker) ? b.docker : {};
        if (d.host === undefined) return { ...news, backend: { docker: { ...d, host: defaultDockerHost() } } };
    }
    return news;
}

/** A resource's backend as a kind that uses some of its parts sees it; `parts` names them. */
export interface BackendUse<P extends PartName> {
    (props: { readonly backend: BackendSpec }): BackendWith<P>;
    readonly parts: readonly P[];
}

/**
 * Declares the parts of its backend a kind uses (`const backendOf = uses("disks")`), and gives
 * them, only them, to it: a kind that starts to use another part says so here.
 */
export function uses<P extends PartName>(...parts: P[]): BackendUse<P> {
    return Object.assign((props: { readonly backend: BackendSpec }) => partsOf(backendFor(props.backend), parts), {
        parts,
    });
}

export function progressOf(props: { readonly progressUrn?: unknown }, prefix: string): Progress {
    const urn = typeof props.progressUrn === "string" && props.progressUrn !== UNKNOWN ? props.progressUrn : undefined;
    return progressFor(urn, prefix);
}

export function diffWith(kind: ResourceKind, olds: Props, news: Props) {
    const c = classify(kind.rules(news, olds), olds, news);
    return {
        classification: c,
        changes: c.changed.length > 0,
        replaces: c.replaces,
        deleteBeforeReplace: c.replaces.length > 0 && kind.deleteBeforeReplace === true,
    };
}
