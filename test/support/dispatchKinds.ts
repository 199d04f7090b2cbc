/**
 * Resource kinds driven through the provider's dispatch functions as the engine drives them:
 * inputs built as the components build them, checked, diffed, created, updated. Shared by the
 * test/unit/dispatch-*.test.ts files, whose backend is the in-memory fake.
 */
import * as dispatch from "../../provider/dispatch";
import { KIND_KEY } from "../../provider/kindKey";
import { silentProgress } from "../../provider/progress";
import type { FakeBackend } from "./fakeBackend";

export type Props = Record<string, unknown>;

/** The backend every dispatch test addresses (routed to a fake by `useFakeBackend`). */
export const dockerBackend = { docker: { host: "unix:///fake/docker.sock" } };

/** The wiring the components give every kind: backend, workspace and the stack that owns it. */
export const wiring = (owner = "proj/a", workspace = "ml-team") => ({ backend: dockerBackend, workspace, owner });

/** The program's inputs checked as the engine checks them (against the state's, when there is one). */
export async function checked(kind: string, news: Props, olds: Props = {}): Promise<Props> {
    const r = await dispatch.check(olds, { [KIND_KEY]: kind, ...news });
    expect(r.failures).toEqual([]);
    return r.inputs as Props;
}

/** Checked and created: the id and the outputs the state records. */
export async function created(kind: string, news: Props): Promise<{ id: string; outs: Props }> {
    const r = await dispatch.create(await checked(kind, news));
    return { id: r.id, outs: r.outs as Props };
}

/** An update as `pulumi up` makes one: check against the state, diff, and update when it is not a replacement. */
export async function updated(id: string, olds: Props, news: Props) {
    const inputs = await checked(String(olds[KIND_KEY]), news, olds);
    const d = await dispatch.diff(id, olds, inputs);
    const outs =
        d.changes && !d.replaces?.length ? ((await dispatch.update(id, olds, inputs)).outs as Props) : undefined;
    return { inputs, diff: d, outs };
}

/** The workspace network the fake workspaces use. */
export const WORKSPACE_NETWORK = "ci-ml-team";

/**
 * The workspace network and its agent on the fake, as a Workspace makes them (once; the agent is
 * made again if a test removed it): what policies and network rules are written to. The agent's id.
 */
export async function workspaceWithAgent(fake: FakeBackend, owner = "proj/a"): Promise<string> {
    const ref = { workspace: "ml-team", owner };
    if (!(await fake.workspaceNetworkExists(WORKSPACE_NETWORK)))
        await fake.createWorkspaceNetwork(ref, WORKSPACE_NETWORK);
    const agent = await fake.ensureAgent(
        { ...ref, image: "compute-instance-agent:test", network: WORKSPACE_NETWORK, checkIntervalSeconds: 30 },
        silentProgress,
    );
    return agent.id;
}

/** The records of the workspace agent's store on the fake, their stored text parsed. */
export function storedRecords(fake: FakeBackend, workspace = "ml-team"): Record<string, unknown> {
    const policies = fake.snapshot().stores[workspace]?.policies ?? {};
    return Object.fromEntries(Object.entries(policies).map(([k, v]) => [k, JSON.parse(v) as unknown]));
}

/** The names of what an instance's runtime is made on, as the other kinds made them. */
export interface RuntimeNames {
    osDisk: string;
    tempDisk: string;
    userFiles: string;
    network: string;
}

/** A Runtime's inputs as ComputeInstance builds them: the wiring, the instance's fields, the names. */
export function runtimeProps(wiringProps: Props, names: RuntimeNames, own: Props = {}): Props {
    return {
        ...wiringProps,
        instance: "alice",
        size: "Standard_DS2_v2",
        image: "compute-instance-workstation:0.1.0",
        applications: ["jupyterlab"],
        tempDiskGb: 28,
        token: "0123456789abcdef0123456789abcdef",
        sharing: "Personal",
        ...names,
        ...own,
    };
}
