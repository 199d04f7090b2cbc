import { DockerBackend } from "../../provider/backends/docker";
import { PartName, Parts, membersOf, partsOf } from "../../provider/backends/parts";
import { KINDS } from "../../provider/dispatch";
import { FakeBackend } from "../support/fakeBackend";

const PART_NAMES: PartName[] = [
    "connection",
    "images",
    "workspaceObjects",
    "disks",
    "runtimes",
    "networkRules",
    "agentHost",
    "inventory",
    "jobs",
    "inference",
] satisfies (keyof Parts)[];
const CAPABILITIES = ["liveResize", "liveTempDiskResize", "buildsImages"];

/** Every public member a backend class has, its prototype's methods and getters and its own fields. */
function membersOfBackend(backend: object): string[] {
    const proto = Object.getPrototypeOf(backend) as object;
    const own = Object.keys(backend).filter((k) => !k.startsWith("_"));
    return [...Object.getOwnPropertyNames(proto).filter((k) => k !== "constructor"), ...own];
}

describe("a backend's parts", () => {
    test("every member of the Docker backend is in one part (or is a capability): nothing a kind could not declare", () => {
        const backend = new DockerBackend("unix:///nonexistent/docker.sock");
        const declared = new Set([...CAPABILITIES, ...PART_NAMES.flatMap(membersOf), "host"]);
        // `host` is the address it was made with (the CLI's messages), private state is `ctx`.
        const undeclared = membersOfBackend(backend).filter((m) => !declared.has(m) && m !== "ctx");
        expect(undeclared).toEqual([]);
    });

    test("no member is in two parts", () => {
        const all = PART_NAMES.flatMap(membersOf);
        expect(all.filter((m, i) => all.indexOf(m) !== i)).toEqual([]);
    });

    test("a view has the declared parts and the capabilities, and nothing else", async () => {
        const fake = new FakeBackend();
        const view = partsOf(fake, ["disks"]) as unknown as Record<string, unknown>;
        expect(Object.keys(view).sort()).toEqual([...CAPABILITIES, ...membersOf("disks")].sort());
        expect(view.createRuntime).toBeUndefined();
        expect(view.agentStore).toBeUndefined();
        // Methods stay bound to the backend: the disk made through the view is the fake's.
        const ref = { workspace: "ml-team", owner: "proj/a", instance: "alice" };
        const name = (view.newDiskName as FakeBackend["newDiskName"])(ref, "os");
        await (view.createDisk as FakeBackend["createDisk"])(ref, "os", 10, name);
        expect(await fake.readDisk(name)).toBeDefined();
    });

    test("a view reads properties through (the image role is a getter) and is made once per set of parts", () => {
        const fake = new FakeBackend();
        const view = partsOf(fake, ["images", "connection"]);
        expect(view.images).toBe(fake.images);
        expect(view.description).toBe(fake.description);
        expect(partsOf(fake, ["connection", "images"])).toBe(view);
        expect(partsOf(fake, ["images"])).not.toBe(view);
    });

    test("each kind declares the parts it uses; those with no backend declare none", () => {
        const uses = Object.fromEntries(Object.entries(KINDS).map(([type, kind]) => [type, [...kind.uses].sort()]));
        expect(uses.AccessToken).toEqual([]);
        for (const [type, parts] of Object.entries(uses)) {
            if (type === "AccessToken") continue;
            expect([type, parts.length > 0]).toEqual([type, true]);
            for (const p of parts) expect(PART_NAMES).toContain(p);
        }
    });
});
