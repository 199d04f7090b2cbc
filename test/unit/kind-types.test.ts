// What the type checker holds a kind to, and the components to a kind: a field or output renamed
// on one side only fails to compile (tsc, and ts-jest when this runs). The definitions below are
// never deployed; the lines marked @ts-expect-error are the mistakes that must not compile.
import type * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { defineKind, fields } from "../../provider/resources/defineKind";
import { KindResource } from "../../provider/dynamic";
import type { InstanceStatus } from "../../provider/backends/backend";
import type { Endpoints } from "../../provider/model/endpoints";

/** A kind of the test's own: a name and a size in, a volume's name out. */
const example = {
    type: "Example",
    inputs: z.object({ name: z.string(), sizeGb: z.number().default(1) }),
    outputs: fields<{ volumeName: string }>({ volumeName: true }),
    rules: () => ({ name: "replace", sizeGb: "live" }) as const,
    create: async (i: { name: string; sizeGb: number }) => ({ id: i.name, outs: { ...i, volumeName: i.name } }),
    read: async <S>(_id: string, state: S) => state,
    update: async <O, N>(_id: string, olds: O, news: N) => ({ ...olds, ...news }),
    delete: async () => undefined,
};

describe("a kind's definition", () => {
    test("has a rule for every input, and a create that gives every output", async () => {
        const kind = defineKind(example);
        expect(kind.outputs).toEqual(["volumeName"]);
        expect(kind.rules({}, {})).toEqual({ name: "replace", sizeGb: "live" });
        expect(await kind.create({ name: "a", sizeGb: 2, __kind: "Example", __provider: "p" })).toEqual({
            id: "a",
            outs: { name: "a", sizeGb: 2, volumeName: "a" },
        });
    });

    test("fails to compile with an input left unclassified (a renamed field among them)", () => {
        // @ts-expect-error sizeGb has no rule: classify would replace on it
        defineKind({ ...example, rules: () => ({ name: "replace" }) });
        expect(true).toBe(true);
    });

    test("fails to compile with a create that leaves an output out, or reads an input it does not have", () => {
        // @ts-expect-error volumeName is an output
        defineKind({ ...example, create: async (i) => ({ id: i.name, outs: i }) });
        // @ts-expect-error sizeGB is no input of the kind
        defineKind({ ...example, create: async (i) => ({ id: i.name, outs: { ...i, volumeName: String(i.sizeGB) } }) });
        expect(true).toBe(true);
    });
});

/** Never run: a program's resources of the kinds, as the type checker sees them. */
function programTypes(parent: pulumi.Resource) {
    const runtime = new KindResource("Runtime", "r", {} as never, { parent, additionalSecretOutputs: ["token"] });
    const status: pulumi.Output<InstanceStatus> = runtime.status;
    const endpoints: pulumi.Output<Endpoints> = runtime.endpoints;
    // @ts-expect-error the runtime has no such output
    void runtime.endpoint;
    // @ts-expect-error a number is no status
    const wrong: pulumi.Output<number> = runtime.status;
    new KindResource("OsDisk", "d", {
        backend: { docker: {} },
        workspace: "w",
        owner: "p/s",
        instance: "i",
        // @ts-expect-error the disk's field is sizeGb
        sizeGB: 10,
    });
    // @ts-expect-error the owner is missing
    new KindResource("WorkspaceNetwork", "n", { backend: { docker: {} }, workspace: "w" });
    // @ts-expect-error no such output to keep secret
    new KindResource("AccessToken", "t", {}, { additionalSecretOutputs: ["secret"] });
    return [status, endpoints, wrong];
}

test("a program's resources take the kinds' inputs and give their outputs, typed", () => {
    expect(typeof programTypes).toBe("function");
});
