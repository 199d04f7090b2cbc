// The public args types are written by hand, for their documentation; the schemas are what is
// enforced. The type checker holds them together: a field renamed, added or dropped on one side
// only fails to compile here (tsc, and ts-jest when this runs), naming it.
import type * as pulumi from "@pulumi/pulumi";
import type { z } from "zod";
import type {
    AgentArgs,
    ComputeInstanceArgs,
    QuotaArgs,
    SetupScriptsArgs,
    UserFilesArgs,
    WorkspaceArgs,
    WorkspaceNetworkArgs,
} from "../../index";
import { instanceSchema, workspaceSchema } from "../../provider/model/schema";
import { idleShutdownSchema, schedulesSchema } from "../../provider/model/schedule";
import { jobsSchema } from "../../provider/model/jobs";
import { type egressSchema, sharingPolicySchema } from "../../provider/model/access";
import type { quotaSchema } from "../../provider/model/quota";
import type { setupScriptsSchema } from "../../provider/model/setup";
import type { KINDS } from "../../provider/dispatch";

/** What a kind's resources take from a program, as its schema reads it. */
type KindInput<K extends keyof typeof KINDS> = NonNullable<(typeof KINDS)[K]["types"]>["args"];

/** The keys of T's object members (arrays aside). */
type KeysOf<T> = T extends readonly unknown[] ? never : T extends object ? keyof T : never;
type Prop<T, K> = T extends unknown ? (K extends keyof T ? T[K] : never) : never;
type ElementOf<T> = T extends readonly (infer U)[] ? U : never;

/**
 * Where the args and the schema's input differ in their fields, at any depth: `never` when they
 * agree. A schema field typed `unknown` (a size, checked by code) is not looked into; a record's
 * keys are anyone's, its values are compared.
 */
type Differences<A, S, Path extends string = ""> = [A] extends [never]
    ? never
    : unknown extends S
      ? never
      : string extends KeysOf<S>
        ? { [K in KeysOf<A> & string]: Differences<Prop<A, K>, Prop<S, string>, `${Path}${K}.`> }[KeysOf<A> & string]
        : | `${Path}${Exclude<KeysOf<A>, KeysOf<S>> & string} is only in the args`
          | `${Path}${Exclude<KeysOf<S>, KeysOf<A>> & string} is only in the schema`
          | {
                [K in KeysOf<A> & KeysOf<S> & string]: Differences<Prop<A, K>, Prop<S, K>, `${Path}${K}.`>;
            }[KeysOf<A> & KeysOf<S> & string]
          | Differences<ElementOf<A>, ElementOf<S>, Path extends `${infer P}.` ? `${P}[].` : "[].">;

/**
 * `true` when the args agree with the schema field for field and every value of the args is one
 * the schema takes (it may take more: a duration in seconds too); else what differs.
 */
type Agree<A, S> = [Differences<A, S>] extends [never]
    ? [A] extends [S]
        ? true
        : "a value of the args is one the schema refuses"
    : Differences<A, S>;

/** Compiles only for `true`: the error shows what Agree found instead. */
function agree<T extends true>(proof: T): T {
    return proof;
}

/** The component's own fields, which no schema carries. */
type InstanceOnly = "workspace";

/**
 * Everything a ComputeInstance's args are checked with: the instance's schema (its `name` is the
 * `instanceName`, which defaults to the resource name), and the fields its child resources check.
 */
type InstanceSchemaInput = Omit<z.input<typeof instanceSchema>, "name"> & {
    instanceName?: z.input<typeof instanceSchema>["name"];
    schedules?: z.input<typeof schedulesSchema>;
    idleShutdown?: z.input<typeof idleShutdownSchema>;
    jobs?: z.input<typeof jobsSchema>;
    applicationSharingPolicy?: z.input<typeof sharingPolicySchema>;
    tokenVersion?: KindInput<"AccessToken">["tokenVersion"];
    reimage?: KindInput<"OsDisk">["reimage"];
    // The scripts as written (text, inline or a file), read by the component; their schema's
    // timeoutSeconds is the provider's own.
    setupScripts?: { [K in keyof Omit<z.input<typeof setupScriptsSchema>, "timeoutSeconds">]?: unknown };
};

/** The workspace's schema (its `name` is the `workspaceName`) and its child resources' fields. */
type WorkspaceSchemaInput = Omit<z.input<ReturnType<typeof workspaceSchema>>, "name"> & {
    workspaceName?: z.input<ReturnType<typeof workspaceSchema>>["name"];
    agent?: { [K in "checkInterval" | "image"]?: KindInput<"WorkspaceAgent">[K] };
    sharedTokenVersion?: KindInput<"AccessToken">["tokenVersion"];
    network?: { egress?: z.input<typeof egressSchema> };
    quota?: z.input<typeof quotaSchema>;
};

type Plain<T> = pulumi.Unwrap<T>;

describe("the public args types agree with the schemas", () => {
    test("ComputeInstanceArgs", () => {
        expect(agree<Agree<Plain<Omit<ComputeInstanceArgs, InstanceOnly>>, InstanceSchemaInput>>(true)).toBe(true);
        expect(agree<Agree<Plain<SetupScriptsArgs>, NonNullable<InstanceSchemaInput["setupScripts"]>>>(true)).toBe(
            true,
        );
    });

    test("WorkspaceArgs", () => {
        expect(agree<Agree<Plain<WorkspaceArgs>, WorkspaceSchemaInput>>(true)).toBe(true);
        expect(agree<Agree<Plain<UserFilesArgs>, NonNullable<WorkspaceSchemaInput["userFiles"]>>>(true)).toBe(true);
        expect(agree<Agree<Plain<AgentArgs>, NonNullable<WorkspaceSchemaInput["agent"]>>>(true)).toBe(true);
        expect(agree<Agree<Plain<QuotaArgs>, z.input<typeof quotaSchema>>>(true)).toBe(true);
        expect(agree<Agree<Plain<WorkspaceNetworkArgs>, NonNullable<WorkspaceSchemaInput["network"]>>>(true)).toBe(
            true,
        );
    });

    test("a field on one side only is a compile error, naming it", () => {
        // @ts-expect-error a field the schema does not have
        agree<Agree<{ sizeGb?: number; sizeGB?: number }, { sizeGb?: number }>>(true);
        // @ts-expect-error a field the args do not have, one level down
        agree<Agree<{ osDisk?: { sizeGb?: number } }, { osDisk?: { sizeGb?: number; reimage?: string } }>>(true);
        // @ts-expect-error a value the schema refuses
        agree<Agree<{ port?: string }, { port?: number }>>(true);
        // A schema that takes more than the args say (a duration as seconds too) is fine.
        expect(agree<Agree<{ after?: string }, { after?: string | number }>>(true)).toBe(true);
    });

    test("args with every field set pass the schemas they are checked with", () => {
        const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl alice@laptop";
        const args: Required<Omit<ComputeInstanceArgs, InstanceOnly>> = {
            instanceName: "alice",
            size: { cpus: 2, memoryGb: 4, gpus: 0 },
            image: "my/image:1",
            applications: ["jupyterlab", "terminal"],
            customApplications: [{ name: "dash", port: 8050, command: "python3 -m http.server $PORT" }],
            osDisk: { sizeGb: 64 },
            tempDisk: { sizeGb: 8 },
            env: { MLFLOW_TRACKING_URI: "http://mlflow:5000" },
            readyTimeout: "5m",
            reimage: "2026-11-27",
            schedules: [{ name: "evening", action: "stop", cron: "0 18 * * 1-5", timeZone: "Europe/Madrid" }],
            idleShutdown: { after: "30m" },
            jobs: { enabled: true, perCore: 1 },
            ssh: { enabled: true, publicKey: key, port: 2200 },
            assignedUser: { name: "alice", id: "abc-123", kubernetesUser: "alice@example.com" },
            applicationSharingPolicy: "Personal",
            tokenVersion: 2,
            labels: { team: "vision" },
            network: { publicBind: true, inbound: [{ application: "jupyterlab", from: ["10.0.0.0/8"] }] },
            setupScripts: { startup: "echo hi", timeout: "2m" },
        };
        const {
            instanceName,
            schedules,
            idleShutdown,
            jobs,
            applicationSharingPolicy,
            tokenVersion: _t,
            reimage: _r,
            setupScripts: _s,
            ...instance
        } = args;
        expect(instanceSchema.safeParse({ name: instanceName, ...instance }).error).toBeUndefined();
        expect(schedulesSchema.safeParse(schedules).error).toBeUndefined();
        expect(idleShutdownSchema.safeParse(idleShutdown).error).toBeUndefined();
        expect(jobsSchema.safeParse(jobs).error).toBeUndefined();
        expect(sharingPolicySchema.safeParse(applicationSharingPolicy).error).toBeUndefined();
        const workspace: Required<Omit<WorkspaceArgs, "agent" | "sharedTokenVersion" | "network" | "quota">> = {
            backend: { docker: { host: "unix:///var/run/docker.sock" } },
            workspaceName: "ml-team",
            userFiles: { retainOnDelete: false, sizeGb: 200 },
            image: "my/image:1",
        };
        const { workspaceName, ...rest } = workspace;
        expect(
            workspaceSchema({ dockerHost: "unix:///var/run/docker.sock" }).safeParse({ name: workspaceName, ...rest })
                .error,
        ).toBeUndefined();
    });
});
