// User files are the one thing no mistake may cost. Two stacks share a workspace on the real
// engine: the second adopts the store the first made; the maker's destroy keeps it while the
// adopter uses it, even with retainOnDelete: false; the adopter's destroy never deletes it; and
// the maker, declared again, deletes it once no one uses it.
import { TestStack, collect, docker, programStack, purgeWorkspace, uniqueWorkspace } from "../support/stacks";

const ws = uniqueWorkspace("uf");
const store = `ci-${ws}-userfiles`;
let maker: TestStack;
let adopter: TestStack;
const config = { workspaceName: ws, instances: {}, retainUserFiles: false };

/** The file a data scientist saved, read from the store itself. */
async function savedFile(): Promise<string> {
    const c = await docker.createContainer({
        Image: "debian:bookworm-slim",
        Cmd: ["cat", "/files/results.csv"],
        HostConfig: { Binds: [`${store}:/files:ro`], NetworkMode: "none" },
    });
    try {
        await c.start();
        await c.wait();
        const out = (await c.logs({ stdout: true, stderr: true })) as unknown as Buffer;
        return out.subarray(8).toString("utf8");
    } finally {
        await c.remove({ force: true });
    }
}

const storeExists = async () =>
    await docker
        .getVolume(store)
        .inspect()
        .then(
            () => true,
            () => false,
        );
const said = (t: TestStack) => t.log.join("");

beforeAll(async () => {
    maker = await programStack("instance", config);
    adopter = await programStack("instance", config);
});

afterAll(async () => {
    for (const t of [adopter, maker]) {
        if (!t) continue;
        await t.stack.destroy().catch(() => undefined);
        await t.dispose();
    }
    await purgeWorkspace(ws);
});

describe("user files shared by two stacks", () => {
    test("the second stack adopts the store the first made, and says so", async () => {
        await maker.stack.up(collect(maker));
        const c = await docker.createContainer({
            Image: "debian:bookworm-slim",
            Cmd: ["sh", "-c", "echo epoch,loss > /files/results.csv"],
            HostConfig: { Binds: [`${store}:/files`], NetworkMode: "none" },
        });
        await c.start();
        await c.wait();
        await c.remove();
        await adopter.stack.up(collect(adopter));
        expect(said(adopter)).toContain(
            `user files ${store}: adopted from e2e-instance/${maker.stack.name}; this stack never deletes them`,
        );
    });

    test("the maker's destroy keeps a store another stack adopted, even with retainOnDelete false, and says why", async () => {
        maker.log.length = 0;
        await maker.stack.destroy(collect(maker));
        expect(said(maker)).toContain(
            `user files ${store} kept although retainOnDelete is false: used by stack e2e-instance/${adopter.stack.name}`,
        );
        expect(await savedFile()).toBe("epoch,loss\n");
        // The workspace's agent is the workspace's: it stays for the stack that still uses it.
        expect((await docker.getContainer(`ci-${ws}-agent`).inspect()).State.Running).toBe(true);
    });

    test("the adopter's destroy never deletes a store it did not make", async () => {
        adopter.log.length = 0;
        await adopter.stack.destroy(collect(adopter));
        expect(said(adopter)).toContain(`user files ${store} kept: adopted from e2e-instance/${maker.stack.name}`);
        expect(await savedFile()).toBe("epoch,loss\n");
        // The last stack of the workspace takes its agent with it.
        expect(
            await docker
                .getContainer(`ci-${ws}-agent`)
                .inspect()
                .then(
                    () => true,
                    () => false,
                ),
        ).toBe(false);
        // Its record as a user went with it.
        expect(
            (await docker.listVolumes({ filters: { label: [`compute-instance.pulumi.io/user-files=${store}`] } }))
                .Volumes ?? [],
        ).toEqual([]);
    });

    test("the maker, declared again, gets its files back, and deletes them once no one else uses them", async () => {
        await maker.stack.up(collect(maker));
        expect(await savedFile()).toBe("epoch,loss\n");
        await maker.stack.destroy(collect(maker));
        expect(await storeExists()).toBe(false);
    });
});
